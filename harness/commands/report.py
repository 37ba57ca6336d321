"""`inpaint-conformance report REPORT.json --html PATH`: render a saved JSON report as one HTML file.

The JSON report (written by `verify --json-report` or `check-client --json-report`)
already holds every picture, so rendering needs no server and no network.
Exit codes: 0 written, 2 the report could not be read or the page not written.
"""

from __future__ import annotations

import argparse
import sys

from ..html_report import write_html
from ..reports import load_json
from ..results import EXIT_CANNOT_RUN, EXIT_OK, ReportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", help="a JSON report from verify --json-report or check-client --json-report")
    parser.add_argument("--html", metavar="PATH", required=True, help="where to write the HTML page")


def run(args: argparse.Namespace) -> int:
    try:
        report = load_json(args.report)
    except ReportError as exc:
        print(f"inpaint-conformance report: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        written = write_html(report, args.html)
    except ReportError as exc:
        print(f"inpaint-conformance report: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except OSError as exc:
        print(
            f"inpaint-conformance report: error: cannot write the HTML report to {args.html}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN
    size = written.stat().st_size
    counts = report.summary()
    print(
        f"wrote {written} ({size / 1024:.0f} KiB): {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['unverified']} unverified, {counts['not_exercised']} not exercised; "
        "open it in a browser (it works offline)"
    )
    return EXIT_OK

"""`inpaint-conformance report REPORT.json... --html PATH`: render saved JSON reports as one HTML file.

One report: its page, as `verify --html-report` writes it. Several: a matrix, one row per
clause and one column per run, each cell linking to that run's evidence.
The JSON reports (written by `verify --json-report` or `check-client --json-report`) already
hold every picture and verdict, so rendering needs no server and no network.
Exit codes: 0 written, 2 a report could not be read or the page not written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..html_report import write_html
from ..matrix import default_labels, write_matrix
from ..reports import load_json
from ..results import EXIT_CANNOT_RUN, EXIT_OK, ReportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "report",
        nargs="+",
        help="a JSON report from verify --json-report or check-client --json-report; several make a matrix",
    )
    parser.add_argument("--html", metavar="PATH", required=True, help="where to write the HTML page")
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME",
        help="a matrix column's name, one per report in order (default: each run's target)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        reports = [load_json(path) for path in args.report]
        if len(reports) == 1 and not args.label:
            written = write_html(reports[0], args.html)
        else:
            labels = args.label or default_labels(reports, [Path(p).name for p in args.report])
            written = write_matrix(reports, labels, args.html)
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
    if len(reports) > 1 or args.label:
        print(
            f"wrote {written} ({size / 1024:.0f} KiB): a matrix of {len(reports)} runs; open it in a browser (offline)"
        )
        return EXIT_OK
    counts = reports[0].summary()
    print(
        f"wrote {written} ({size / 1024:.0f} KiB): {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['unverified']} unverified, {counts['not_exercised']} not exercised; "
        "open it in a browser (it works offline)"
    )
    return EXIT_OK

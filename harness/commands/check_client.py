"""`inpaint-conformance check-client FILE`: judge a client from the fake's journal or a HAR file."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import PATHS

from .. import reports
from ..client_check import ClientInputError, judge, load_client_input
from ..results import EXIT_CANNOT_RUN, RunReport, tool_version


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the fake's journal (GET /__fake__/journal.jsonl) or a HAR file")
    parser.add_argument("--json-report", metavar="PATH", help="write every verdict and its evidence as JSON")
    parser.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report (one test case per clause)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any clause fails, not only a MUST one")


def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False, soft_wrap=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        found = load_client_input(args.file)
        results = judge(found.requests)
    except ClientInputError as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_CANNOT_RUN
    except Exception as exc:  # a file shaped in a way no reader expected: the input's problem, said in one line
        errors.print(
            f"[red]error:[/] cannot judge {escape(args.file)}: {escape(type(exc).__name__)}: {escape(str(exc))}; "
            "expected the fake's journal (GET /__fake__/journal.jsonl) or a HAR file as a browser or proxy saves it"
        )
        return EXIT_CANNOT_RUN
    ignored = (
        f"; {found.ignored} entr{'y' if found.ignored == 1 else 'ies'} for other URLs (or CORS preflights) ignored"
        if found.ignored
        else ""
    )
    console.print(f"{len(found.requests)} inpaint request(s) in {found.kind} {escape(found.source)}{ignored}")
    for note in found.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if not found.requests:
        errors.print(
            f"[red]error:[/] nothing to judge: {escape(found.source)} holds no request to "
            f"{' or '.join(PATHS.values())}; export the journal after your client ran, or record a HAR of its traffic"
        )
        return EXIT_CANNOT_RUN
    report = RunReport(
        apis=[api.value for api in Api],
        target=f"client traffic in {found.source}",
        results=results,
        started=started,
        tool_version=tool_version(),
    )
    reports.print_console(report, console)
    for path, write, what in (
        (args.json_report, reports.write_json, "JSON"),
        (args.junit_xml, reports.write_junit, "JUnit XML"),
    ):
        if path:
            write(report, path)
            console.print(f"wrote the {what} report: {escape(str(Path(path).resolve()))}")
    return report.exit_code(args.strict)

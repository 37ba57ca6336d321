"""`inpaint-conformance verify`: exercise every clause of a server, report each one's verdict.

Without --base-url the embedded fake is verified in-process (no network, no keys); with --app
MODULE:ATTR, an ASGI or WSGI application of yours, in-process too (no port).
Exit codes: 0 no MUST clause failed, 1 one did (--strict: any clause failed, or a MUST
clause could not be verified), 2 the run could not happen (bad flags; a --base-url, --app, key
or credits URL the preflight found unusable; a report that cannot be written), with a
one-line reason and the fix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS

from ..api import DEFAULT_EXAMPLES, LOW_KEY_ENV, Plan, VerifyOptions, execute
from ..ci_options import CI_ERRORS, add_ci_arguments, record_baseline
from ..html_report import write_html
from ..reports import print_console, write_json, write_junit
from ..results import EXIT_CANNOT_RUN, ReportError
from ..target import TargetError

API_CHOICES = [api.value for api in Api]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=API_CHOICES, help="verify only this API (default: both)")
    parser.add_argument(
        "--base-url",
        help="origin of the server to verify, e.g. https://staging.example.com (default: the embedded fake, "
        "in-process)",
    )
    parser.add_argument(
        "--app",
        metavar="MODULE:ATTR",
        help="verify an ASGI (FastAPI, Starlette...) or WSGI (Flask...) application in-process, without a port, "
        "e.g. myservice.main:app; keys and --credits-url (a path, e.g. /credits) as with --base-url",
    )
    parser.add_argument(
        "--app-dir",
        default=".",
        metavar="DIR",
        help="--app: the directory the application is imported from (default: the current directory)",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="--base-url / --app: key to test with; a second one enables the isolation clause "
        "(default: $AIT_API_KEY / $VYRO_TOKEN, and *_2 for the second)",
    )
    parser.add_argument(
        "--credits-url",
        metavar="URL",
        help='--base-url: GET answering {"credits": N} for the key in `authorization` (--app: its path on the app, e.g. '
        "/credits); enables the credit clauses",
    )
    parser.add_argument(
        "--low-credit-key",
        metavar="KEY",
        help=f"--base-url / --app: a key with fewer than {CREDITS_PER_SUCCESS} credits, enables ait.credits.insufficient (default: ${LOW_KEY_ENV})",
    )
    parser.add_argument(
        "--examples", type=int, default=None, help=f"hypothesis examples per property (default: {DEFAULT_EXAMPLES})"
    )
    parser.add_argument(
        "--hypothesis-seed", type=int, default=0, help="seed of the property probes: same seed, same requests"
    )
    parser.add_argument(
        "--max-credits", type=int, metavar="N", help="refuse to start when the run could spend more than N credits"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one answer")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any clause fails, not only a MUST one")
    parser.add_argument("--json-report", metavar="PATH", help="write every verdict and its evidence as JSON")
    parser.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report (one test case per clause)")
    parser.add_argument("--html-report", metavar="PATH", help="write one self-contained HTML page with the pictures")
    parser.add_argument(
        "--deviation",
        action="append",
        default=[],
        metavar="NAME",
        help="embedded fake only: turn on a named deviation (repeatable)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask before spending credits")
    add_ci_arguments(parser)  # --only/--skip, --baseline/--write-baseline/--strict-baseline
    parser.add_argument(
        "--debug", action="store_true", help="keep the full traceback of a probe that crashes (for a bug report)"
    )


def run(args: argparse.Namespace) -> int:
    progress_console = Console(stderr=True)
    try:
        # Logs and CI consoles are not terminals; give the table room there instead of 80 columns.
        return _verify(args, progress_console, Console(width=None if sys.stdout.isatty() else 140))
    except (TargetError, *CI_ERRORS) as exc:
        print(f"inpaint-conformance verify: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN


def options_from(args: argparse.Namespace, err: Console) -> VerifyOptions:
    """The run the command line asks for (harness/api.py runs it)."""
    return VerifyOptions(
        api=args.api,
        base_url=args.base_url,
        app=args.app,
        app_dir=args.app_dir,
        api_keys=args.api_key,
        credits_url=args.credits_url,
        low_credit_key=args.low_credit_key,
        examples=args.examples,
        hypothesis_seed=args.hypothesis_seed,
        max_credits=args.max_credits,
        timeout=args.timeout,
        deviations=args.deviation,
        pictures=bool(args.json_report or args.html_report),  # the JSON report carries them for `report`
        debug=args.debug,
        files_dir=Path(f"{args.json_report}.probes") if args.json_report else None,
        announce=lambda line: err.print(line, soft_wrap=True, highlight=False, markup=False),
        confirm=lambda plan: _confirm(args, plan),
        only=args.only,
        skip=args.skip,
        baseline=args.baseline,
        write_baseline=args.write_baseline,
        strict=args.strict,
        strict_baseline=args.strict_baseline,
    )


def _verify(args: argparse.Namespace, err: Console, out: Console) -> int:
    report, errors = execute(options_from(args, err), progress=err)
    print_console(report, out, strict=args.strict)
    for flag, path, write, what in (
        ("--json-report", args.json_report, write_json, "JSON report"),
        ("--junit-xml", args.junit_xml, write_junit, "JUnit XML report"),
        ("--html-report", args.html_report, write_html, "HTML report (open it in a browser, it works offline)"),
    ):
        try:
            if path:
                write(report, path)
                # On stderr, with the progress: stdout's last line stays the verdict.
                err.print(f"wrote the {what}: {Path(path).resolve()}", highlight=False, markup=False, soft_wrap=True)
        except OSError as exc:
            raise TargetError(f"cannot write {flag} {path}: {exc.strerror or exc}") from None
        except ReportError as exc:
            raise TargetError(f"{flag} {path}: {exc}") from None
    record_baseline(report, args.write_baseline, args.strict, err)
    if errors:
        for line in errors:
            err.print(f"[red]harness error[/]: {escape(line)}", highlight=False)
        raise TargetError(
            f"{len(errors)} probe(s) crashed, so the verdicts above are incomplete (a harness bug: please report it)"
        )
    return report.exit_code(args.strict)


def _confirm(args: argparse.Namespace, plan: Plan) -> None:
    if args.yes or not sys.stdin.isatty() or plan.credits == 0:
        return
    most = args.max_credits if args.max_credits is not None else plan.credits  # what is left over may drain a key
    try:
        answer = input(f"spend up to {most} credits? [y/N] ").strip().lower()
    except EOFError:
        answer = ""
    if answer not in ("y", "yes"):
        raise TargetError("not confirmed; nothing was sent (pass --yes to skip the question)")


__all__ = ["DEFAULT_EXAMPLES", "add_arguments", "options_from", "run"]

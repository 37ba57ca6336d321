"""`inpaint-conformance verify`: exercise every clause of a server, report each one's verdict.

Without --base-url the embedded fake is verified in-process (no network, no keys).
Exit codes: 0 no MUST clause failed, 1 one did (--strict: any clause failed, or a MUST
clause could not be verified), 2 the run could not happen (bad flags; a --base-url, key
or credits URL the preflight found unusable; a report that cannot be written), with a
one-line reason and the fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS

from ..ci_options import CI_ERRORS, CiOptions, add_ci_arguments, ci_options
from ..html_report import write_html
from ..preflight import preflight
from ..reports import print_console, write_json, write_junit
from ..reproduce import Reproducer
from ..results import EXIT_CANNOT_RUN, ReportError, RunReport, tool_version
from ..runner import Runner
from ..target import WRONG_KEY, EmbeddedTarget, RemoteTarget, Target, TargetError

DEFAULT_EXAMPLES = 10  # per property: keeps a run against the embedded fake well under 10 s
PREFLIGHT_SUCCESSES = 1  # per API: see harness/preflight.py
# Where a remote run reads keys that were not given as flags; reproducers use the same names.
KEY_ENV = {Api.AITHRIVING: ("AIT_API_KEY", "AIT_API_KEY_2"), Api.VYRO: ("VYRO_TOKEN", "VYRO_TOKEN_2")}
LOW_KEY_ENV = "AIT_LOW_CREDIT_KEY"


@dataclass
class Plan:
    apis: list[Api]
    successes: dict[Api, int]

    @property
    def credits(self) -> int:
        return self.successes.get(Api.AITHRIVING, 0) * CREDITS_PER_SUCCESS

    def describe(self, max_credits: int | None = None) -> str:
        spare = max(0, max_credits - self.credits) if max_credits is not None else 0
        parts = []
        if Api.AITHRIVING in self.successes:
            n = self.successes[Api.AITHRIVING]
            parts.append(
                f"aithriving: up to {n} charged requests x {CREDITS_PER_SUCCESS} credits = {self.credits} credits"
                + (
                    f" (and what --max-credits leaves over it, to drain the second key: {spare} credits)"
                    if spare
                    else ""
                )
            )
        if Api.VYRO in self.successes:
            parts.append(f"vyro: up to {self.successes[Api.VYRO]} successful requests (Vyro's price is not documented)")
        return "; ".join(parts)


API_CHOICES = [api.value for api in Api]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=API_CHOICES, help="verify only this API (default: both)")
    parser.add_argument(
        "--base-url",
        help="origin of the server to verify, e.g. https://staging.example.com (default: the embedded fake, "
        "in-process)",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="--base-url: key to test with; a second one enables the isolation clause "
        "(default: $AIT_API_KEY / $VYRO_TOKEN, and *_2 for the second)",
    )
    parser.add_argument(
        "--credits-url",
        metavar="URL",
        help='--base-url: GET answering {"credits": N} for the key in `authorization`; enables the credit clauses',
    )
    parser.add_argument(
        "--low-credit-key",
        metavar="KEY",
        help=f"--base-url: a key with fewer than 6 credits, enables ait.credits.insufficient (default: ${LOW_KEY_ENV})",
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


def run(args: argparse.Namespace) -> int:
    _keep_hypothesis_out_of_the_working_directory()
    progress_console = Console(stderr=True)
    try:
        # Logs and CI consoles are not terminals; give the table room there instead of 80 columns.
        return _verify(args, progress_console, Console(width=None if sys.stdout.isatty() else 140))
    except (TargetError, *CI_ERRORS) as exc:
        print(f"inpaint-conformance verify: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN


def _keep_hypothesis_out_of_the_working_directory() -> None:
    """Hypothesis caches into ./.hypothesis; a CLI run should not leave that in the user's project.

    Inside a pytest session (the pytest plugin, tests) hypothesis' storage belongs to the session.
    """
    if "pytest" in sys.modules or "HYPOTHESIS_STORAGE_DIRECTORY" in os.environ:
        return
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(cache / "inpaint-conformance" / "hypothesis")


def _verify(args: argparse.Namespace, err: Console, out: Console) -> int:
    apis = [Api.parse(args.api)] if args.api else list(Api)
    examples = DEFAULT_EXAMPLES if args.examples is None else args.examples
    if examples < 0:
        raise TargetError(f"--examples must be 0 or more, got {examples}")
    ci = ci_options(args, apis)
    apis = ci.apis(apis)
    target = _target(args, apis)
    # A remote run's preflight sends one valid request per API before any probe (charged like any success).
    extra = 0 if target.embedded else PREFLIGHT_SUCCESSES
    plan = Plan(apis, {api: ci.planned_successes(api, examples) + extra for api in apis})
    try:
        if not target.embedded:
            err.print(
                f"verify {target.description}: {plan.describe(args.max_credits)}",
                soft_wrap=True,
                highlight=False,
                markup=False,
            )
        if args.max_credits is not None and plan.credits > args.max_credits:
            raise TargetError(
                f"this run would spend up to {plan.credits} credits, over --max-credits {args.max_credits}: "
                "lower --examples, pick one --api, or raise --max-credits"
            )
        if not target.embedded:
            _confirm(args, plan)
        report, errors = _run(target, apis, args, examples, err, ci, plan)
    finally:
        target.close()
    ci.finish(report)
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
    ci.record(report, err)
    if errors:
        for line in errors:
            err.print(f"[red]harness error[/]: {escape(line)}", highlight=False)
        raise TargetError(
            f"{len(errors)} probe(s) crashed, so the verdicts above are incomplete (a harness bug: please report it)"
        )
    return report.exit_code(args.strict)


def _target(args: argparse.Namespace, apis: list[Api]) -> Target:
    if args.base_url is None:
        for flag, value in (("--credits-url", args.credits_url), ("--low-credit-key", args.low_credit_key)):
            if value:
                raise TargetError(f"{flag} needs --base-url: the embedded fake's credits are read directly")
        if args.api_key:
            print(
                "verify: --api-key is not used without --base-url (the embedded fake makes its own keys)",
                file=sys.stderr,
            )
        return EmbeddedTarget(args.deviation, timeout=args.timeout)
    if args.deviation:
        raise TargetError(
            "--deviation turns on a deviation of the embedded fake; it cannot change a server at --base-url"
        )
    keys = {}
    for api in apis:
        main_env, second_env = KEY_ENV[api]
        main = args.api_key[0] if args.api_key else os.environ.get(main_env)
        if not main:
            raise TargetError(f"no key for {api.value}: pass --api-key KEY or set {main_env}")
        if main == WRONG_KEY:
            raise TargetError(f"{WRONG_KEY!r} is the key verify uses as a wrong one: pick another")
        second = args.api_key[1] if len(args.api_key) > 1 else os.environ.get(second_env)
        low = args.low_credit_key or os.environ.get(LOW_KEY_ENV) if api is Api.AITHRIVING else None
        keys[api] = {"main": main, "second": second, "low": low}
    return RemoteTarget(args.base_url, keys, credits_url=args.credits_url, timeout=args.timeout)


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


def _run(
    target: Target,
    apis: list[Api],
    args: argparse.Namespace,
    examples: int,
    err: Console,
    ci: CiOptions,
    plan: Plan,
) -> tuple[RunReport, list[str]]:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    files_dir = Path(f"{args.json_report}.probes") if args.json_report else None
    note = (
        "embedded fake: `inpaint-conformance serve --api-key $AIT_API_KEY` serves it at 127.0.0.1:8000"
        if target.embedded
        else None
    )
    reproducer = Reproducer(target.reproduce_origin, files_dir, wrong_key=WRONG_KEY, note=note)
    runners = [
        Runner(
            target,
            api,
            examples=examples,
            hypothesis_seed=args.hypothesis_seed,
            reproducer=reproducer,
            pictures=bool(args.json_report or args.html_report),  # the JSON report carries them for `report`
            # What --max-credits leaves over the plan: a probe may drain a key with it (probes_credits.py).
            spare_credits=max(0, args.max_credits - plan.credits) if args.max_credits is not None else 0,
        )
        for api in apis
    ]
    if isinstance(target, RemoteTarget):
        preflight(target, runners)  # its exchanges are judged like any probe's
    results, errors = [], []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[probe]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        for runner in runners:
            probes = ci.probes(runner.api)
            task = progress.add_task(runner.api.value, total=len(probes), probe="")

            def advance(name: str, task: TaskID = task) -> None:
                progress.update(task, advance=1, probe=name)

            results += runner.run(advance, probes=probes)
            errors += runner.harness_errors
    credits = {runner.api.value: runner.credit_log.to_dict() for runner in runners if runner.credit_log.events}
    report = RunReport([a.value for a in apis], target.description, results, started, tool_version(), credits)
    return report, errors

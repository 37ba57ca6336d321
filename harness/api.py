"""Verify a server from Python: what `inpaint-conformance verify` does, for a test suite.

    from inpaint_conformance import harness

    report = harness.verify(api="aithriving", base_url="https://staging.example.com",
                            api_key=[key, second_key], credits_url="https://staging.example.com/credits")
    report = harness.verify(app="myservice.main:app", api_key="k", credits_url="/credits")  # in-process
    assert report.failed() == []
    assert report.clause("ait.seed.range").status == "passed"
    report.write_junit("conformance.xml"); report.write_html("conformance.html")

`verify` returns the RunReport the CLI prints and writes (harness/results.py). What the
CLI answers with exit 2 raises here: `ConfigurationError` (the setup: a flag, a key, an
unreachable URL, an app that does not import), with the same one-line message and fix;
`IncompleteRunError` when a probe crashed (a harness bug), carrying the partial report.
No question is asked before credits are spent: pass `max_credits` to bound them.

`execute` is the one implementation both the CLI (harness/commands/verify.py) and
`verify` call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS, KEY_ENV_VARS

from .ci_options import CiOptions, ci_options
from .html_report import write_html
from .preflight import preflight
from .reports import write_json, write_junit
from .reproduce import Reproducer
from .results import RunReport, tool_version
from .runner import Runner
from .target import WRONG_KEY, ConfigurationError, EmbeddedTarget, RemoteTarget, Target, TargetError

DEFAULT_EXAMPLES = 10  # per property: keeps a run against the embedded fake well under 10 s
PREFLIGHT_SUCCESSES = 1  # per API: see harness/preflight.py
# Where a remote run reads keys that were not given as flags; reproducers use the same names.
KEY_ENV = {api: (KEY_ENV_VARS[(api, "main")], KEY_ENV_VARS[(api, "second")]) for api in Api}
LOW_KEY_ENV = KEY_ENV_VARS[(Api.AITHRIVING, "low")]


@dataclass
class VerifiedReport(RunReport):
    """The report `verify` returns: a RunReport that writes itself in the CLI's formats.

    (RunReport itself does not: the writers read it, so it cannot import them.)"""

    @classmethod
    def of(cls, report: RunReport) -> VerifiedReport:
        return cls(**{f.name: getattr(report, f.name) for f in fields(report)})

    def write_json(self, path: str | Path) -> Path:
        return write_json(self, path)

    def write_junit(self, path: str | Path) -> Path:
        return write_junit(self, path)

    def write_html(self, path: str | Path) -> Path:
        return write_html(self, path)


class IncompleteRunError(Exception):
    """Probes crashed (a harness bug): ``report`` holds the verdicts that were reached, ``errors`` what crashed."""

    def __init__(self, report: RunReport, errors: list[str]) -> None:
        super().__init__(
            f"{len(errors)} probe(s) crashed, so the verdicts are incomplete (a harness bug: please report it): "
            + "; ".join(errors)
        )
        self.report, self.errors = report, errors


@dataclass
class VerifyOptions:
    """What to verify and how; each field is the `verify` flag of the same name."""

    api: str | None = None  # None: both
    base_url: str | None = None
    app: Any = None  # "module:attr" or the application object
    app_dir: str | Path = "."
    api_keys: Sequence[str] = ()
    credits_url: str | None = None
    low_credit_key: str | None = None
    examples: int | None = None
    hypothesis_seed: int = 0
    max_credits: int | None = None
    timeout: float = 60.0
    deviations: Sequence[str] = ()
    pictures: bool = True  # the pictures a JSON or HTML report shows (about a quarter of a default run's time)
    debug: bool = False  # a crashed probe's error keeps its whole traceback
    files_dir: Path | None = None  # where reproducers' upload files go (beside a JSON report)
    # Clause selection and baselines (harness/ci_options.py): --only/--skip globs, known failures.
    only: Sequence[str] = ()
    skip: Sequence[str] = ()
    baseline: str | Path | None = None
    write_baseline: str | Path | None = None
    strict: bool = False  # what a baseline records and a new failure is: any failure, and unverified MUSTs
    strict_baseline: bool = False
    announce: Callable[[str], None] | None = field(default=None, repr=False)  # the plan, before a remote run
    confirm: Callable[[Plan], None] | None = field(default=None, repr=False)  # raises to refuse spending


@dataclass
class Plan:
    apis: list[Api]
    successes: dict[Api, int]

    @property
    def credits(self) -> int:
        return self.successes.get(Api.AITHRIVING, 0) * CREDITS_PER_SUCCESS

    def spare(self, max_credits: int | None) -> int:
        """What --max-credits leaves over the plan: a credit probe may drain a key with it (probes_credits.py)."""
        return max(0, max_credits - self.credits) if max_credits is not None else 0

    def describe(self, max_credits: int | None = None) -> str:
        spare = self.spare(max_credits)
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


def verify(
    *,
    api: str | None = None,
    base_url: str | None = None,
    app: Any = None,
    app_dir: str | Path = ".",
    api_key: str | Sequence[str] = (),
    credits_url: str | None = None,
    low_credit_key: str | None = None,
    examples: int | None = None,
    hypothesis_seed: int = 0,
    max_credits: int | None = None,
    timeout: float = 60.0,
    deviations: Sequence[str] = (),
    pictures: bool = True,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    baseline: str | Path | None = None,
    strict: bool = False,
    strict_baseline: bool = False,
) -> VerifiedReport:
    """Verify the embedded fake (neither ``base_url`` nor ``app``), a server at ``base_url``, or an
    ASGI/WSGI ``app`` in this process; return its report. ``api_key``: one key, or two (the second
    enables the isolation clause); default $AIT_API_KEY / $VYRO_TOKEN. ``credits_url``: a URL, or with
    ``app`` a path on it. ``only``/``skip``: clause ids or globs; ``baseline``: a file of known
    failures (`verify --write-baseline`), marking each result known, new or fixed
    (``report.exit_code(strict)`` is then 1 only on a new failure). Raises ConfigurationError for a
    setup that cannot be verified, IncompleteRunError when a probe crashed."""
    options = VerifyOptions(
        api=api,
        base_url=base_url,
        app=app,
        app_dir=app_dir,
        api_keys=[api_key] if isinstance(api_key, str) else list(api_key),
        credits_url=credits_url,
        low_credit_key=low_credit_key,
        examples=examples,
        hypothesis_seed=hypothesis_seed,
        max_credits=max_credits,
        timeout=timeout,
        deviations=list(deviations),
        pictures=pictures,
        only=list(only),
        skip=list(skip),
        baseline=baseline,
        strict=strict,
        strict_baseline=strict_baseline,
    )
    report, errors = execute(options)
    if errors:
        raise IncompleteRunError(report, errors)
    return VerifiedReport.of(report)


def execute(options: VerifyOptions, progress: Console | None = None) -> tuple[RunReport, list[str]]:
    """Run the probes of the chosen APIs (and clauses); the report, marked against the baseline
    if any, and the harness errors (crashed probes) if any. A --write-baseline file is the caller's
    to write (`ci_options(...).record`), after the report.

    ``progress``: a console to show a progress bar on (when it is a terminal).
    Raises TargetError (ConfigurationError) when the run cannot happen as asked.
    """
    keep_hypothesis_out_of_the_working_directory()
    try:
        apis = [Api.parse(options.api)] if options.api else list(Api)
    except ValueError as exc:
        raise TargetError(f"api: {exc}") from None
    examples = DEFAULT_EXAMPLES if options.examples is None else options.examples
    if examples < 0:
        raise TargetError(f"--examples must be 0 or more, got {examples}")
    ci = ci_options(
        apis,
        only=options.only,
        skip=options.skip,
        baseline=options.baseline,
        write_baseline=options.write_baseline,
        strict=options.strict,
        strict_baseline=options.strict_baseline,
    )
    apis = ci.apis(apis)
    target = make_target(options, apis)
    try:
        # A remote run's preflight sends one valid request per API before any probe (charged like any success).
        extra = 0 if target.embedded else PREFLIGHT_SUCCESSES
        plan = Plan(apis, {api: ci.planned_successes(api, examples) + extra for api in apis})
        if not target.embedded and options.announce is not None:
            options.announce(f"verify {target.description}: {plan.describe(options.max_credits)}")
        if options.max_credits is not None and plan.credits > options.max_credits:
            raise TargetError(
                f"this run would spend up to {plan.credits} credits, over --max-credits {options.max_credits}: "
                "lower --examples, pick one --api, or raise --max-credits"
            )
        if not target.in_process and options.confirm is not None:
            options.confirm(plan)
        report, errors = _run(target, apis, options, examples, progress, ci, plan.spare(options.max_credits))
    finally:
        target.close()
    ci.finish(report)
    return report, errors


def make_target(options: VerifyOptions, apis: list[Api]) -> Target:
    """The target the options name; TargetError for flags that do not go together."""
    remote = options.base_url is not None or options.app is not None
    if options.base_url is not None and options.app is not None:
        raise TargetError(
            "--app and --base-url name two targets: pass --app to verify an application in-process, "
            "or --base-url for a server on the network"
        )
    if not remote:
        for flag, value in (("--credits-url", options.credits_url), ("--low-credit-key", options.low_credit_key)):
            if value:
                raise TargetError(f"{flag} needs --base-url or --app: the embedded fake's credits are read directly")
        if options.api_keys:
            print(
                "verify: --api-key is not used without --base-url or --app (the embedded fake makes its own keys)",
                file=sys.stderr,
            )
        return EmbeddedTarget(list(options.deviations), timeout=options.timeout)
    if options.deviations:
        raise TargetError(
            "--deviation turns on a deviation of the embedded fake; it cannot change a server at --base-url or --app"
        )
    keys = _keys(options, apis)
    if options.app is not None:
        from .inprocess import AppTarget  # imports anyio's thread portal only when an app is verified

        return AppTarget(
            options.app, keys, credits_url=options.credits_url, timeout=options.timeout, app_dir=options.app_dir
        )
    assert options.base_url is not None
    return RemoteTarget(options.base_url, keys, credits_url=options.credits_url, timeout=options.timeout)


def _keys(options: VerifyOptions, apis: list[Api]) -> dict[Api, dict[str, str | None]]:
    keys: dict[Api, dict[str, str | None]] = {}
    given = list(options.api_keys)
    for api in apis:
        main_env, second_env = KEY_ENV[api]
        main = given[0] if given else os.environ.get(main_env)
        if not main:
            raise TargetError(f"no key for {api.value}: pass --api-key KEY or set {main_env}")
        if main == WRONG_KEY:
            raise TargetError(f"{WRONG_KEY!r} is the key verify uses as a wrong one: pick another")
        second = given[1] if len(given) > 1 else os.environ.get(second_env)
        low = options.low_credit_key or os.environ.get(LOW_KEY_ENV) if api is Api.AITHRIVING else None
        keys[api] = {"main": main, "second": second, "low": low}
    return keys


def keep_hypothesis_out_of_the_working_directory() -> None:
    """Hypothesis caches into ./.hypothesis; a run should not leave that in the user's project.

    Inside a pytest session (the pytest plugin, tests) hypothesis' storage belongs to the session.
    """
    if "pytest" in sys.modules or "HYPOTHESIS_STORAGE_DIRECTORY" in os.environ:
        return
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(cache / "inpaint-conformance" / "hypothesis")


def _run(
    target: Target,
    apis: list[Api],
    options: VerifyOptions,
    examples: int,
    progress_console: Console | None,
    ci: CiOptions,
    spare_credits: int,
) -> tuple[RunReport, list[str]]:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if target.embedded:
        note: str | None = (
            f"embedded fake: `inpaint-conformance serve --api-key ${KEY_ENV[Api.AITHRIVING][0]}` serves it at 127.0.0.1:8000"
        )
    else:
        note = getattr(target, "replay_note", None)
    reproducer = Reproducer(target.reproduce_origin, options.files_dir, wrong_key=WRONG_KEY, note=note)
    runners = [
        Runner(
            target,
            api,
            examples=examples,
            hypothesis_seed=options.hypothesis_seed,
            reproducer=reproducer,
            pictures=options.pictures,
            debug=options.debug,
            spare_credits=spare_credits,
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
    shown = progress_console is not None and progress_console.is_terminal
    with Progress(*columns, console=progress_console, transient=True, disable=not shown) as progress:
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


__all__ = [
    "DEFAULT_EXAMPLES",
    "VerifiedReport",
    "ConfigurationError",
    "IncompleteRunError",
    "Plan",
    "VerifyOptions",
    "execute",
    "make_target",
    "verify",
]

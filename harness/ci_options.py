"""verify's options for adopting it in CI: baselines of known failures and clause selection.

`verify` declares them with `add_ci_arguments`, turns them into a `CiOptions` before anything
is sent (a bad pattern or baseline is exit 2 with nothing spent), asks it which probes to run,
and hands it the finished report to mark and, with --write-baseline, to record.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from inpaint_conformance.contracts import Api

from .baseline import Baseline, BaselineError, apply_baseline, load_baseline, write_baseline
from .probes import ProbeDef, probes_for
from .results import RunReport
from .selection import Selection, SelectionError, select

CI_ERRORS = (BaselineError, SelectionError)


def add_ci_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="verify only the clauses matching this id or glob (e.g. ait.seed.*), with their probes only; repeatable",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave out the clauses matching this id or glob; repeatable",
    )
    parser.add_argument(
        "--baseline",
        metavar="PATH",
        help="known failures (from --write-baseline): exit 1 only on a new failure, report the ones now fixed",
    )
    parser.add_argument(
        "--write-baseline",
        metavar="PATH",
        help="record the clauses that fail this run (under its flags) as the known failures of a baseline",
    )
    parser.add_argument(
        "--strict-baseline",
        action="store_true",
        help="with --baseline: a clause of the baseline that now passes fails the run too, so the file stays true",
    )


@dataclass
class CiOptions:
    selection: Selection | None
    baseline: Baseline | None
    write_to: str | None
    strict: bool
    strict_baseline: bool

    def apis(self, apis: list[Api]) -> list[Api]:
        """The APIs the run verifies: those with a selected clause."""
        return self.selection.apis if self.selection else apis

    def probes(self, api: Api) -> list[ProbeDef]:
        return self.selection.probes(api) if self.selection else probes_for(api)

    def planned_successes(self, api: Api, examples: int) -> int:
        return sum(p.planned_successes(examples) for p in self.probes(api))

    def finish(self, report: RunReport) -> None:
        """Mark the clauses not selected, then each result against the baseline."""
        if self.selection:
            self.selection.mark(report)
        if self.baseline:
            apply_baseline(report, self.baseline, strict=self.strict, strict_baseline=self.strict_baseline)

    def record(self, report: RunReport, err: Console) -> None:
        if not self.write_to:
            return
        try:
            path, count = write_baseline(report, self.write_to, strict=self.strict)
        except OSError as exc:
            raise BaselineError(f"cannot write --write-baseline {self.write_to}: {exc.strerror or exc}") from None
        err.print(
            f"wrote the baseline ({count} known failure{'s' if count != 1 else ''}): {Path(path).resolve()}; "
            f"later runs: verify ... --baseline {self.write_to}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def ci_options(args: argparse.Namespace, apis: list[Api]) -> CiOptions:
    """Check the flags and read the baseline before anything is sent; CI_ERRORS say what is wrong."""
    if args.strict_baseline and not args.baseline:
        raise BaselineError("--strict-baseline needs --baseline PATH (the baseline it keeps true)")
    if args.write_baseline and (args.only or args.skip):
        raise BaselineError(
            "--write-baseline records a whole run, and --only/--skip leave clauses out: drop them to write the baseline"
        )
    baseline = load_baseline(args.baseline) if args.baseline else None
    selection = select(args.only, args.skip, apis)
    return CiOptions(selection, baseline, args.write_baseline, args.strict, args.strict_baseline)

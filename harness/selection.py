"""Clause selection: `verify --only PATTERN` / `--skip PATTERN`, for a quick rerun of a few clauses.

Patterns are clause ids or fnmatch globs (`ait.seed.*`), repeatable; --only keeps the clauses
matching any of its patterns (default: all), --skip then drops those matching any of its own.
Only the probes that judge a selected clause run, so the cost estimate shrinks with them;
every other clause of the run's APIs is reported "not_selected", never "passed".

Probes do not declare the clauses they judge: the contracts decide that per answer (a refusal
is judged on the failure envelope, a success on the image...). So which probe judges which
clause is learnt the way it happens: by running every probe once against the embedded fake,
in-process (a few seconds, no credits, cached per process) and recording the clauses each one
touched. A conforming server is judged on the same clauses by the same probes; a probe that
would touch a clause only where a server misbehaves elsewhere (a success refused, so judged
on the failure envelope too) is not chosen for it, so a rerun of one clause can miss a
failure of it that only another clause's probe provoked: the whole run still finds it.
"""

from __future__ import annotations

import difflib
import functools
from collections import defaultdict
from dataclasses import dataclass
from fnmatch import fnmatchcase

from inpaint_conformance.contracts import Api, clauses

from .probes import ProbeDef, probes_for
from .reproduce import Reproducer
from .results import ClauseResult, RunReport
from .tally import Tally

DISCOVERY_EXAMPLES = 10  # hypothesis examples per property while learning which clauses a probe judges
DISCOVERY_SEED = 0


class SelectionError(ValueError):
    """An --only/--skip pattern that selects nothing; the message names close matches."""


@dataclass(frozen=True)
class Selection:
    only: tuple[str, ...]
    skip: tuple[str, ...]
    clauses: dict[Api, frozenset[str]]  # the selected clause ids of each API that has any

    @property
    def apis(self) -> list[Api]:
        return [api for api in Api if self.clauses.get(api)]

    def probes(self, api: Api) -> list[ProbeDef]:
        """The probes that judge at least one selected clause of ``api`` (all of them when none is known to)."""
        judges = judged_by(api)
        chosen = [p for p in probes_for(api) if judges.get(p.name, frozenset()) & self.clauses.get(api, frozenset())]
        unjudged = self.clauses.get(api, frozenset()) - frozenset().union(*judges.values())
        return probes_for(api) if unjudged else chosen

    def describe(self, report_apis: list[Api]) -> dict:
        return {
            "only": list(self.only),
            "skip": list(self.skip),
            "selected": sum(len(ids) for ids in self.clauses.values()),
            "probes": {api.value: [p.name for p in self.probes(api)] for api in report_apis},
        }

    def mark(self, report: RunReport) -> None:
        """Every clause not selected becomes "not_selected", whatever a chosen probe happened to see of it."""
        flags = " ".join([*(f"--only {p}" for p in self.only), *(f"--skip {p}" for p in self.skip)])
        for index, result in enumerate(report.results):
            if result.clause not in self.clauses.get(Api.parse(result.api), frozenset()):
                report.results[index] = ClauseResult(
                    result.api, result.clause, result.level, "not_selected", f"not selected ({flags})"
                )
        report.selection = self.describe([Api.parse(a) for a in report.apis])


def select(only: list[str], skip: list[str], apis: list[Api]) -> Selection | None:
    """The clauses --only/--skip keep among ``apis``; None when neither was given (a whole run)."""
    if not only and not skip:
        return None
    in_scope = [c for c in clauses() if c.api in apis]
    kept = set().union(*(_matching("--only", p, in_scope, apis) for p in only)) if only else {c.id for c in in_scope}
    dropped = set().union(*(_matching("--skip", p, in_scope, apis) for p in skip)) if skip else set()
    chosen = kept - dropped
    if not chosen:
        raise SelectionError("--only/--skip leave no clause to verify: loosen a pattern")
    by_api = {api: frozenset(c.id for c in in_scope if c.api is api and c.id in chosen) for api in apis}
    return Selection(tuple(only), tuple(skip), {api: ids for api, ids in by_api.items() if ids})


def _matching(flag: str, pattern: str, in_scope: list, apis: list[Api]) -> set[str]:
    found = {c.id for c in in_scope if fnmatchcase(c.id, pattern)}
    if found:
        return found
    every = [c.id for c in clauses()]
    elsewhere = [i for i in every if fnmatchcase(i, pattern)]
    if elsewhere:
        raise SelectionError(
            f"{flag} {pattern} matches only clauses of an API this run does not verify "
            f"(--api {', '.join(a.value for a in apis)}): drop --api or the pattern"
        )
    close = difflib.get_close_matches(pattern, every, n=3, cutoff=0.6)
    group = pattern.rstrip("*").rstrip(".")
    if group and any(i.startswith(group + ".") for i in every):
        close.insert(0, f"{group}.*")
    hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
    raise SelectionError(
        f"{flag} {pattern!r} matches no clause{hint} (`inpaint-conformance clauses` lists every id; "
        "globs such as ait.seed.* work)"
    )


class _RecordingTally(Tally):
    """A tally that also notes which probe touched which clause."""

    def __init__(self, api: Api) -> None:
        super().__init__(api)
        self.current = "?"
        self.touched: dict[str, set[str]] = defaultdict(set)

    def _entry(self, clause_id: str):
        self.touched[self.current].add(clause_id)
        return super()._entry(clause_id)


@functools.cache
def judged_by(api: Api) -> dict[str, frozenset[str]]:
    """Probe name -> the clauses it judged against the embedded fake (see the module doc)."""
    from .runner import Runner  # the runner imports the probes, which import this package's basics
    from .target import EmbeddedTarget

    target = EmbeddedTarget([], timeout=60.0)
    try:
        runner = Runner(
            target,
            api,
            examples=DISCOVERY_EXAMPLES,
            hypothesis_seed=DISCOVERY_SEED,
            reproducer=Reproducer(target.reproduce_origin, None, wrong_key="-"),
            pictures=False,
        )
        tally = runner.tally = _RecordingTally(api)
        for definition in probes_for(api):
            tally.current = runner.current_probe = definition.name
            try:
                definition.run(runner)
            except Exception:  # a crash shows in the real run; here only what it touched counts
                pass
    finally:
        target.close()
    return {name: frozenset(ids) for name, ids in tally.touched.items()}

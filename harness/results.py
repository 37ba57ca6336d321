"""Verdicts per clause and the report of one run: what `verify` and `check-client` produce.

Every command that judges something (a server, a client, a recording) ends with a
RunReport: one ClauseResult per clause it could say something about. Reports are
written, read back and rendered by `inpaint_conformance.harness.reports`; exit codes come from here so
every command agrees on them.

A clause is "passed" only where a check of it ran and held. One that could not be
judged is "unverified", with the reason and, where one exists, the flag that would
verify it (`fix`); one whose behaviour never happened (no 429 came; the client never
sent a seed) is "not_exercised": nothing to judge, and nothing missing from the setup.
A clause left out by `verify --only/--skip` is "not_selected": nothing was said about it.

With `verify --baseline`, each result also carries its standing against the baseline
(`baseline`: "known" failure, "new" failure, or "fixed"), and the exit code counts only
what the baseline does not excuse (see harness/baseline.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

from inpaint_conformance.contracts import Level

Status = Literal["passed", "failed", "unverified", "not_exercised", "not_selected"]
STATUSES: tuple[str, ...] = ("passed", "failed", "unverified", "not_exercised", "not_selected")
# Standing against a baseline (verify --baseline): in it and still not passing, not in it and
# failing, in it and now passing.
BASELINE_MARKS: tuple[str, ...] = ("known", "new", "fixed")
# Reports written before "unverified" existed called it "skipped".
_OLD_STATUSES = {"skipped": "unverified"}
LEVELS: tuple[str, ...] = tuple(level.value for level in Level)

EXIT_OK, EXIT_FAILED, EXIT_CANNOT_RUN = 0, 1, 2


class ReportError(ValueError):
    """A report (or a result in it) is not what this tool writes; the message says what is wrong."""


@dataclass
class ClauseResult:
    api: str
    clause: str
    level: str
    status: Status
    detail: str
    reproduce: str | None = None  # a shell command that replays the failing request, secrets as $VARS
    evidence: dict = field(default_factory=dict)  # JSON-safe observations; never a secret
    fix: str | None = None  # unverified: what would verify it ("pass --credits-url URL")
    baseline: str | None = None  # verify --baseline only: one of BASELINE_MARKS, or None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ReportError(f"clause {self.clause}: status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if self.level not in LEVELS:
            raise ReportError(f"clause {self.clause}: level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.baseline is not None and self.baseline not in BASELINE_MARKS:
            raise ReportError(
                f"clause {self.clause}: baseline must be one of {', '.join(BASELINE_MARKS)} or null, got {self.baseline!r}"
            )

    def to_dict(self) -> dict:
        # "baseline" only in reports of runs with --baseline: a report without one keeps its shape.
        return {
            "api": self.api,
            "clause": self.clause,
            "level": self.level,
            "status": self.status,
            "detail": self.detail,
            "reproduce": self.reproduce,
            "evidence": self.evidence,
            "fix": self.fix,
        } | ({"baseline": self.baseline} if self.baseline else {})

    @classmethod
    def from_dict(cls, data: dict) -> ClauseResult:
        if not isinstance(data, dict):
            raise ReportError(f"expected a result object, got {type(data).__name__}")
        missing = [k for k in ("api", "clause", "level", "status", "detail") if k not in data]
        if missing:
            raise ReportError(f"a result lacks {', '.join(missing)}: {data!r:.200}")
        evidence = data.get("evidence") or {}
        if not isinstance(evidence, dict):
            raise ReportError(f"clause {data['clause']}: evidence must be an object, got {type(evidence).__name__}")
        for name in ("reproduce", "fix"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ReportError(f"clause {data['clause']}: {name} must be a string or null, got {data[name]!r:.80}")
        status: Any = data["status"]
        status = _OLD_STATUSES.get(status, status) if isinstance(status, str) else status
        return cls(
            api=str(data["api"]),
            clause=str(data["clause"]),
            level=str(data["level"]),
            status=status,  # checked by __post_init__
            detail=str(data["detail"]),
            reproduce=data.get("reproduce"),
            evidence=dict(evidence),
            fix=data.get("fix"),
            baseline=data.get("baseline"),
        )


@dataclass
class RunReport:
    apis: list[str]
    target: str
    results: list[ClauseResult]
    started: str  # ISO 8601, UTC
    tool_version: str
    # Per API, per key role: the balance event by event (harness/credit_log.py); empty where none was seen.
    credits: dict[str, dict] = field(default_factory=dict)
    # verify --baseline: {"path", "strict" (--strict-baseline), "known", "new", "fixed"}; None without one.
    baseline: dict | None = None
    # verify --only/--skip: {"only": [...], "skip": [...], "probes": {api: [names run]}}; None for a whole run.
    selection: dict | None = None

    def summary(self) -> dict[str, int]:
        """Clauses per status, plus the MUST clauses failed and not verified (what the exit code reads).

        "not_selected" is counted only in runs that used --only/--skip, so a whole run's summary keeps its shape.
        """
        counts = dict.fromkeys(STATUSES, 0)
        for result in self.results:
            counts[result.status] += 1
        if not counts["not_selected"] and self.selection is None:
            del counts["not_selected"]
        counts["must_failed"] = len(self.failures())
        counts["must_unverified"] = len(self.must_unverified())
        return counts

    def failures(self, *, strict: bool = False) -> list[ClauseResult]:
        """The failed results that decide the exit code: MUST only, or every level with strict."""
        return [r for r in self.results if r.status == "failed" and (strict or r.level == "MUST")]

    def must_unverified(self) -> list[ClauseResult]:
        return [r for r in self.results if r.status == "unverified" and r.level == "MUST"]

    def blocking(self, strict: bool = False) -> list[ClauseResult]:
        """The results that fail the run: failures (MUST, or any level with strict), MUST clauses not
        verified (strict only), less the known failures of a baseline; plus, with --strict-baseline,
        the clauses of the baseline that now pass."""
        found = self.failures(strict=strict) + (self.must_unverified() if strict else [])
        found = [r for r in found if r.baseline != "known"]
        if self.baseline and self.baseline.get("strict"):
            found += [r for r in self.results if r.baseline == "fixed"]
        return found

    def exit_code(self, strict: bool = False) -> int:
        """1 when a MUST clause failed; with strict, also when any clause failed or a MUST was not verified.
        A baseline's known failures do not count; with --strict-baseline its fixed clauses do."""
        return EXIT_FAILED if self.blocking(strict) else EXIT_OK

    def unverified_fixes(self) -> list[str]:
        """What would verify the unverified MUST clauses, most needed first ("pass --credits-url URL")."""
        counts: dict[str, int] = {}
        for result in self.must_unverified():
            key = result.fix or "see each clause's reason"
            counts[key] = counts.get(key, 0) + 1
        return sorted(counts, key=lambda fix: -counts[fix])

    def for_api(self, api: str) -> list[ClauseResult]:
        return [r for r in self.results if r.api == api]

    # -- for a test suite asserting on a run (harness.verify) -----------------------------
    def clause(self, clause_id: str) -> ClauseResult:
        """The verdict of one clause; KeyError names the clauses this report has."""
        for result in self.results:
            if result.clause == clause_id:
                return result
        raise KeyError(f"no verdict for {clause_id!r} in this report: it judged {', '.join(self.clause_ids())}")

    def clause_ids(self) -> list[str]:
        return [r.clause for r in self.results]

    def with_status(self, status: Status) -> list[ClauseResult]:
        return [r for r in self.results if r.status == status]

    def failed(self, level: str | None = None) -> list[ClauseResult]:
        """Every failed clause (at any level, or at ``level`` only): `assert report.failed() == []`."""
        return [r for r in self.with_status("failed") if level is None or r.level == level]

    def statuses(self) -> dict[str, str]:
        """clause id -> status, the shape to compare two runs by."""
        return {r.clause: r.status for r in self.results}

    def to_dict(self) -> dict:
        return {
            "apis": list(self.apis),
            "target": self.target,
            "started": self.started,
            "tool_version": self.tool_version,
            "summary": self.summary(),
            "results": [r.to_dict() for r in self.results],
            "credits": self.credits,
        } | {name: value for name, value in (("baseline", self.baseline), ("selection", self.selection)) if value}

    @classmethod
    def from_dict(cls, data: dict) -> RunReport:
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ReportError("not an inpaint-conformance report: expected a JSON object with a 'results' list")
        results = [ClauseResult.from_dict(item) for item in data["results"]]
        apis = data.get("apis") or list(dict.fromkeys(r.api for r in results))
        credits = data.get("credits") or {}
        if not isinstance(credits, dict):
            raise ReportError(f"'credits' must be an object of per-key timelines, got {type(credits).__name__}")
        return cls(
            apis=[str(a) for a in apis],
            target=str(data.get("target", "")),
            results=results,
            started=str(data.get("started", "")),
            tool_version=str(data.get("tool_version", "")),
            credits=credits,
            baseline=data["baseline"] if isinstance(data.get("baseline"), dict) else None,
            selection=data["selection"] if isinstance(data.get("selection"), dict) else None,
        )


def tool_version() -> str:
    """The installed package's version ("0+unknown" when run from a checkout that is not installed)."""
    try:
        return metadata.version("inpaint-conformance")
    except metadata.PackageNotFoundError:
        return "0+unknown"

"""Baselines of known failures: adopt verify in CI while some clauses still fail.

`verify --write-baseline known.json` records the clauses that fail the run today, under the
flags it ran with: every failed MUST clause, and with --strict every failed clause and every
MUST clause not verified. `verify --baseline known.json` then marks each result:

- "known": in the baseline and still not passing (failed, unverified or not exercised);
  it does not fail the run. Unverified is not passed: a known failure that could not be
  judged this time stays known, neither fixed nor new.
- "new": not in the baseline and failing (or, with --strict, a MUST not verified); it fails
  the run as it would without a baseline, and the verdict names only these.
- "fixed": in the baseline and now passed; reported with a hint to rewrite the baseline, and
  with --strict-baseline it fails the run, so the file stays true.

A clause left out by --only/--skip, or of an API the run did not verify, gets no mark.
Granularity is the clause, as with web-platform-tests expectations: a known-failing clause
that now fails for another reason is still known (both reasons are in the report).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from inpaint_conformance.contracts import clause
from inpaint_conformance.contracts.clauses import UnknownClause

from .results import ClauseResult, RunReport

FORMAT = "inpaint-conformance baseline"
VERSION = 1


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message names the problem and the fix."""


@dataclass(frozen=True)
class KnownFailure:
    api: str
    clause: str
    level: str
    status: str  # what it was when recorded: "failed" or "unverified"
    reason: str

    def to_dict(self) -> dict:
        return {
            "api": self.api,
            "clause": self.clause,
            "level": self.level,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Baseline:
    path: str
    known: dict[str, KnownFailure]  # clause id -> entry
    tool_version: str = ""

    def __contains__(self, clause_id: str) -> bool:
        return clause_id in self.known


def recorded(report: RunReport, *, strict: bool) -> list[KnownFailure]:
    """The clauses that fail this run under its flags: what a baseline written now holds."""
    failing = report.failures(strict=strict) + (report.must_unverified() if strict else [])
    return [KnownFailure(r.api, r.clause, r.level, r.status, r.detail) for r in failing]


def write_baseline(report: RunReport, path: str | Path, *, strict: bool) -> tuple[Path, int]:
    """Write the baseline of this run; returns the path and how many clauses it records."""
    entries = recorded(report, strict=strict)
    data = {
        "format": FORMAT,
        "version": VERSION,
        "tool_version": report.tool_version,
        "target": report.target,
        "recorded": report.started,
        "strict": strict,
        "known_failures": [e.to_dict() for e in entries],
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target, len(entries)


def load_baseline(path: str | Path) -> Baseline:
    """Read and check a baseline; BaselineError names what is wrong and how to fix it."""
    source = Path(path)
    rewrite = f"rewrite it with `verify --write-baseline {source}`"
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(
            f"no baseline at {source}: write one first with `verify --write-baseline {source}`"
        ) from None
    except OSError as exc:
        raise BaselineError(f"cannot read the baseline {source}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BaselineError(f"the baseline {source} is not JSON ({exc}): {rewrite}") from None
    if not isinstance(data, dict) or not isinstance(data.get("known_failures"), list):
        raise BaselineError(
            f"{source} is not a baseline: expected a JSON object with a 'known_failures' list (as "
            f"`verify --write-baseline` writes); {rewrite}"
        )
    if data.get("version", VERSION) != VERSION:
        raise BaselineError(
            f"{source} is a baseline of version {data.get('version')!r}, this tool reads {VERSION}: {rewrite}"
        )
    known = {}
    for number, entry in enumerate(data["known_failures"], 1):
        item = _entry(entry, number, source, rewrite)
        known[item.clause] = item
    return Baseline(str(source), known, str(data.get("tool_version", "")))


def _entry(entry: object, number: int, source: Path, rewrite: str) -> KnownFailure:
    where = f"{source}, known failure #{number}"
    if not isinstance(entry, dict) or not isinstance(entry.get("clause"), str):
        raise BaselineError(f"{where}: expected an object with a 'clause' id, got {entry!r:.80}; {rewrite}")
    try:
        found = clause(entry["clause"])
    except UnknownClause:
        raise BaselineError(
            f"{where}: {entry['clause']!r} is not a clause of this tool (see `inpaint-conformance clauses`): "
            f"remove the entry or {rewrite}"
        ) from None
    api = entry.get("api", found.api.value)
    if api != found.api.value:
        raise BaselineError(f"{where}: {found.id} is a {found.api.value} clause, the entry says {api!r}; fix the entry")
    return KnownFailure(
        found.api.value,
        found.id,
        found.level.value,  # the catalog's level today: a clause's level may change between versions
        str(entry.get("status", "failed")),
        str(entry.get("reason", "")),
    )


def apply_baseline(report: RunReport, baseline: Baseline, *, strict: bool, strict_baseline: bool) -> None:
    """Mark each result against the baseline and record the counts on the report (see the module doc)."""
    judged_apis = set(report.apis)
    for result in report.results:
        result.baseline = _mark(result, baseline, strict)
    marks = [r.baseline for r in report.results]
    report.baseline = {
        "path": baseline.path,
        "strict": strict_baseline,
        "known": marks.count("known"),
        "new": marks.count("new"),
        "fixed": marks.count("fixed"),
        # Entries of an API this run did not verify: neither confirmed nor fixed.
        "not_judged": sorted(c for c, e in baseline.known.items() if e.api not in judged_apis),
    }


def _mark(result: ClauseResult, baseline: Baseline, strict: bool) -> str | None:
    if result.status == "not_selected":
        return None
    if result.clause in baseline:
        return "fixed" if result.status == "passed" else "known"
    failing = result.status == "failed" or (strict and result.status == "unverified" and result.level == "MUST")
    return "new" if failing else None


def fixed_hint(report: RunReport) -> str | None:
    """What to tell a run whose baseline lists clauses that now pass."""
    if not report.baseline:
        return None
    fixed = [r.clause for r in report.results if r.baseline == "fixed"]
    if not fixed:
        return None
    return (
        f"{len(fixed)} clause{'s' if len(fixed) != 1 else ''} of the baseline now pass{'es' if len(fixed) == 1 else ''} "
        f"(fixed): {', '.join(fixed)}; update it: verify ... --write-baseline {report.baseline['path']}"
    )

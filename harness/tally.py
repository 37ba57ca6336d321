"""Collecting verdicts per clause while probes run, and turning them into ClauseResults.

A clause passes when at least one check of it ran and held and none found it broken;
fails on any violation; is "not_exercised" when the behaviour it is about never happened
(no 429 came); and is otherwise "unverified", with the reasons and the flag that would
verify it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from inpaint_conformance.contracts import Api, clause, clauses

from .results import ClauseResult

if TYPE_CHECKING:
    from .exchanges import Exchange

MAX_SHOWN = 2


@dataclass
class _Broken:
    message: str
    probe: str
    exchange: Exchange | None = None  # to build the reproducer and the pictures from
    evidence: dict | None = None  # what showed it, where no single exchange does (requests at once, a sequence)
    reproduce: str | None = None  # a script replaying that, instead of the exchange's curl command


@dataclass
class _Entry:
    exercised: int = 0
    observed: dict[str, int] = field(default_factory=dict)  # what was seen -> how often
    broken: list[_Broken] = field(default_factory=list)
    unverified: dict[str, str | None] = field(default_factory=dict)  # reason -> the flag that would verify it
    not_exercised: list[str] = field(default_factory=list)


class Tally:
    def __init__(self, api: Api) -> None:
        self.api = api
        self._entries: dict[str, _Entry] = {c.id: _Entry() for c in clauses(api)}

    def _entry(self, clause_id: str) -> _Entry:
        if clause_id not in self._entries:
            clause(clause_id)  # raises UnknownClause for a typo
            raise ValueError(f"clause {clause_id} is not a {self.api.value} clause")
        return self._entries[clause_id]

    def exercise(self, clause_id: str, observed: str) -> None:
        entry = self._entry(clause_id)
        entry.exercised += 1
        entry.observed[observed] = entry.observed.get(observed, 0) + 1

    def violate(
        self,
        clause_id: str,
        message: str,
        probe: str,
        exchange: Exchange | None = None,
        *,
        evidence: dict | None = None,
        reproduce: str | None = None,
    ) -> None:
        entry = self._entry(clause_id)
        entry.exercised += 1
        entry.broken.append(_Broken(message, probe, exchange, evidence, reproduce))

    def unverified(self, clause_id: str, reason: str, fix: str | None = None) -> None:
        """This clause could not be judged here, and why; ``fix``: what would let it be judged."""
        entry = self._entry(clause_id)
        if entry.unverified.get(reason) is None:
            entry.unverified[reason] = fix

    def not_exercised(self, clause_id: str, reason: str) -> None:
        """The behaviour this clause is about never happened, so there was nothing to judge."""
        entry = self._entry(clause_id)
        if reason not in entry.not_exercised:
            entry.not_exercised.append(reason)

    def status(self, clause_id: str) -> str:
        entry = self._entry(clause_id)
        if entry.broken:
            return "failed"
        if entry.exercised:
            return "passed"
        return "not_exercised" if entry.not_exercised and not entry.unverified else "unverified"

    def observed(self, clause_id: str) -> dict[str, int]:
        """What the checks of this clause saw that held, and how often."""
        return dict(self._entry(clause_id).observed)

    def violations(self, clause_id: str) -> list[str]:
        """The messages of the checks of this clause that found it broken, first one first."""
        return [b.message for b in self._entry(clause_id).broken]

    def failing_exchanges(self) -> dict[str, list[Exchange]]:
        """Clause id -> the exchanges recorded as breaking it, first one first (clauses without one left out)."""
        found = {
            cid: [b.exchange for b in entry.broken if b.exchange is not None] for cid, entry in self._entries.items()
        }
        return {clause_id: exchanges for clause_id, exchanges in found.items() if exchanges}

    def results(self, reproduce: Callable[[Exchange], str | None]) -> list[ClauseResult]:
        return [self._result(clause_id, entry, reproduce) for clause_id, entry in self._entries.items()]

    def _result(self, clause_id: str, entry: _Entry, reproduce: Callable[[Exchange], str | None]) -> ClauseResult:
        level = clause(clause_id).level.value
        make = lambda status, detail, **kw: ClauseResult(self.api.value, clause_id, level, status, detail, **kw)  # noqa: E731
        if entry.broken:
            first = entry.broken[0]
            more = len(entry.broken) - 1
            probes = list(dict.fromkeys(b.probe for b in entry.broken))
            detail = f"{first.message} [probe {first.probe}]" + (
                f" (+{more} more in {', '.join(probes[:MAX_SHOWN])})" if more else ""
            )
            evidence = {
                "violations": [{"probe": b.probe, "message": b.message} for b in entry.broken[:5]],
                "violation_count": len(entry.broken),
                "exchange": first.exchange.evidence() if first.exchange is not None else None,
                **(first.evidence or {}),
            }
            command = first.reproduce or (reproduce(first.exchange) if first.exchange is not None else None)
            return make("failed", detail, reproduce=command, evidence=evidence)
        if entry.exercised:
            seen = sorted(entry.observed.items(), key=lambda item: -item[1])
            shown = "; ".join(f"{text}" + (f" (x{n})" if n > 1 else "") for text, n in seen[:MAX_SHOWN])
            extra = f"; +{len(seen) - MAX_SHOWN} more" if len(seen) > MAX_SHOWN else ""
            detail = f"{entry.exercised} check{'s' if entry.exercised != 1 else ''}: {shown}{extra}"
            return make("passed", detail, evidence={"checks": entry.exercised, "observed": dict(seen[:10])})
        if entry.not_exercised and not entry.unverified:
            return make("not_exercised", "; ".join(entry.not_exercised))
        reasons = list(entry.unverified) or ["no probe could judge it against this target"]
        fixes = list(dict.fromkeys(fix for fix in entry.unverified.values() if fix))
        return make("unverified", "; ".join(reasons), fix="; ".join(fixes) or None)

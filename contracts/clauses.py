"""The clause model: one rule of one API, with where it comes from.

A clause is the unit everything reports on: validators name the clause a violation
breaks, `verify` gives each clause a verdict, reports list them. Ids are stable
(`ait.seed.range`): reports, CI dashboards and users' allow-lists refer to them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Level(str, enum.Enum):
    """RFC 2119 levels, as the decisions (contracts/decisions.py, docs/decisions.md) use them."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"

    def __str__(self) -> str:
        return self.value


class Api(str, enum.Enum):
    AITHRIVING = "aithriving"
    VYRO = "vyro"

    def __str__(self) -> str:
        return self.value

    @property
    def prefix(self) -> str:
        return "ait" if self is Api.AITHRIVING else "vyro"

    @classmethod
    def parse(cls, value: str | Api) -> Api:
        if isinstance(value, Api):
            return value
        lowered = value.strip().lower()
        for api in cls:
            if lowered in (api.value, api.prefix):
                return api
        choices = ", ".join(a.value for a in cls)
        raise ValueError(f"unknown API {value!r}: expected one of {choices}")


class Side(str, enum.Enum):
    """Who a clause binds: the server answering, the client asking, or this project's tools."""

    SERVER = "server"
    CLIENT = "client"
    TOOL = "tool"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Citation:
    """Where a clause comes from: a verbatim sentence of a seed document, a decision row, or both."""

    quote: str | None = None  # verbatim text of the seed document
    document: str | None = None  # seed file name the quote is from
    decision: str | None = None  # decision rows (contracts/decisions.py), e.g. "A13" or "A5, B1"

    def __str__(self) -> str:
        parts = []
        if self.quote:
            parts.append(f'"{self.quote}" ({self.document})')
        if self.decision:
            parts.append(f"decision {self.decision} (docs/decisions.md)")
        return "; ".join(parts)


@dataclass(frozen=True)
class Clause:
    id: str
    api: Api
    level: Level
    statement: str
    citation: Citation
    sides: frozenset[Side] = field(default_factory=lambda: frozenset({Side.SERVER}))
    topic: str = ""

    def __str__(self) -> str:
        return f"{self.id} [{self.level}] {self.statement}"

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "api": self.api.value,
            "level": self.level.value,
            "topic": self.topic,
            "statement": self.statement,
            "sides": sorted(s.value for s in self.sides),
            "citation": str(self.citation),
            "quote": self.citation.quote,
            "document": self.citation.document,
            "decision": self.citation.decision,
        }


class UnknownClause(KeyError):
    def __str__(self) -> str:  # KeyError quotes its argument; say it plainly instead
        return f"no clause with id {self.args[0]!r}; `inpaint-conformance clauses` lists them"

"""A violation: which clause, and what was expected against what came."""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import clause
from .clauses import Level


@dataclass(frozen=True)
class Violation:
    clause: str
    message: str
    # Whether a server must refuse the request because of it. A client relying on an
    # optional behaviour (Authorization: Bearer on Vyro) breaks a clause the server
    # still accepts.
    refuse: bool = True

    @property
    def level(self) -> Level:
        return clause(self.clause).level

    def __str__(self) -> str:
        return f"{self.message} ({self.clause})"

    def to_dict(self) -> dict:
        return {"clause": self.clause, "level": self.level.value, "message": self.message, "refuse": self.refuse}

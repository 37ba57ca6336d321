"""The active faults in a SQL database: one fault list for every process and node that share it.

The same interface and rules as the in-memory `FaultBook` (add, clear, active, draw).
Each step of a draw is one conditional statement, so processes drawing at once never
fire a fault more often than its count: a probability draw takes the next draw index
(`draws = draws + 1 ... RETURNING`), and firing takes one off the count only where
some is left (`... WHERE count IS NULL OR count > 0 RETURNING`), the same pattern as
a ledger charge. A used-up fault is deleted.
"""

from __future__ import annotations

from typing import Any

from .faults import Fault, draw_fires
from .sql_database import Database, create_tables, next_id

FAULT_TABLES = (
    "CREATE TABLE IF NOT EXISTS faults (id BIGINT PRIMARY KEY, kind TEXT NOT NULL, api TEXT, key TEXT, count BIGINT, "
    "probability DOUBLE PRECISION NOT NULL, seed TEXT, seconds DOUBLE PRECISION, "
    "fired BIGINT NOT NULL DEFAULT 0, draws BIGINT NOT NULL DEFAULT 0)",
)
_COLUMNS = "id, kind, api, key, count, probability, seed, seconds, fired, draws"
_LIVE = "(count IS NULL OR count > 0)"


class SqlFaultBook:
    def __init__(self, db: Database) -> None:
        self.db = db
        create_tables(db, FAULT_TABLES, counters=("faults",))

    def add(self, fault: Fault) -> Fault:
        with self.db.transaction() as tx:
            fault.id = next_id(tx, "faults")
            tx.execute(
                "INSERT INTO faults (id, kind, api, key, count, probability, seed, seconds, fired, draws) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
                (
                    fault.id,
                    fault.kind,
                    fault.api,
                    fault.key,
                    fault.count,
                    fault.probability,
                    None if fault.seed is None else str(fault.seed),  # any int: TEXT has no 64-bit limit
                    fault.seconds,
                ),
            )
        return fault

    def clear(self, fault_id: int | None = None) -> None:
        if fault_id is None:
            self.db.execute("DELETE FROM faults")
        else:
            self.db.execute("DELETE FROM faults WHERE id = ?", (fault_id,))

    def active(self) -> list[Fault]:
        return [_fault(row) for row in self.db.execute(f"SELECT {_COLUMNS} FROM faults WHERE {_LIVE} ORDER BY id")]

    def draw(self, api: str, key: str | None) -> dict[str, Fault]:
        """The faults that fire for this request, by kind (used-up faults are removed)."""
        candidates = self.db.execute(
            f"SELECT {_COLUMNS} FROM faults WHERE {_LIVE} AND (api IS NULL OR api = ?) "
            "AND (key IS NULL OR key = ?) ORDER BY id",
            (api, key),
        )
        fired: dict[str, Fault] = {}
        for row in candidates:
            fault = _fault(row)
            if fault.probability < 1.0:
                taken = self.db.execute("UPDATE faults SET draws = draws + 1 WHERE id = ? RETURNING draws", (fault.id,))
                if not taken or not draw_fires(fault, int(taken[0][0]) - 1):
                    continue  # cleared meanwhile, or this draw misses
            left = self.db.execute(
                f"UPDATE faults SET count = count - 1, fired = fired + 1 WHERE id = ? AND {_LIVE} "
                "RETURNING count, fired, draws",
                (fault.id,),
            )
            if not left:
                continue  # used up by another request, or cleared
            count, fault.fired, fault.draws = left[0]
            if count == 0:
                self.db.execute("DELETE FROM faults WHERE id = ? AND count = 0", (fault.id,))
            fault.count = None if count is None else int(count)
            fired.setdefault(fault.kind, fault)
        return fired


def _fault(row: tuple[Any, ...]) -> Fault:
    fault_id, kind, api, key, count, probability, seed, seconds, fired, draws = row
    return Fault(
        kind=kind,
        api=api,
        key=key,
        count=None if count is None else int(count),
        probability=float(probability),
        seed=None if seed is None else int(seed),
        seconds=None if seconds is None else float(seconds),
        id=int(fault_id),
        fired=int(fired),
        draws=int(draws),
    )

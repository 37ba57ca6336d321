"""The request journal in a SQL database: one journal for every process and node that share it.

The same interface as the in-memory `Journal` (record, entries, clear, capacity): a
bounded ring of plain dicts, written already redacted by the provider (this class
stores what it is given, as JSON). Entry ids come from a counter whose row stays
locked until the entry is committed, so ids are committed in order and a reader
polling "entries after id N" (the dashboard) never skips one that commits late.
"""

from __future__ import annotations

import json
from typing import Any

from .journal import DEFAULT_CAPACITY
from .sql_database import Database, create_tables, next_id

JOURNAL_TABLES = ("CREATE TABLE IF NOT EXISTS journal (id BIGINT PRIMARY KEY, api TEXT, entry TEXT NOT NULL)",)


class SqlJournal:
    def __init__(self, db: Database, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"journal capacity must be >= 1, got {capacity}")
        self.db = db
        self._capacity = capacity
        create_tables(db, JOURNAL_TABLES, counters=("journal",))

    @property
    def capacity(self) -> int:
        return self._capacity

    def record(self, entry: dict) -> dict:
        text = json.dumps(entry, default=str)
        with self.db.transaction() as tx:
            entry_id = next_id(tx, "journal")
            tx.execute("INSERT INTO journal (id, api, entry) VALUES (?, ?, ?)", (entry_id, entry.get("api"), text))
            tx.execute("DELETE FROM journal WHERE id <= ?", (entry_id - self._capacity,))  # the ring's far end
        return {"id": entry_id, **entry}

    def entries(self, *, api: str | None = None, since_id: int = 0) -> list[dict]:
        sql, params = "SELECT id, entry FROM journal WHERE id > ?", list[Any]([since_id])
        if api is not None:
            sql += " AND api = ?"
            params.append(api)
        return [_entry(entry_id, text) for entry_id, text in self.db.execute(sql + " ORDER BY id", params)]

    def clear(self) -> None:
        self.db.execute("DELETE FROM journal")


def _entry(entry_id: Any, text: str) -> dict:
    return {"id": int(entry_id), **json.loads(text)}

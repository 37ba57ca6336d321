"""Where a fake keeps its state: the ledger, the journal and the fault list, behind one interface.

    store = open_store(None)                          # in memory: this process only (the default)
    store = open_store("ledger.db")                   # SQLite: shared by the processes of one machine
    store = open_store("postgresql://u@host/fake")    # PostgreSQL: shared by processes on every node
    provider = FakeProvider(ledger=store.ledger, journal=store.journal, faults=store.faults)

With SQLite or PostgreSQL, `serve --workers N` and the Ray ingress replicas see one
ledger, one journal and one fault list: the dashboard and /__fake__/journal show every
request whichever process took it, and a fault injected through one fires in all.
Every change is one conditional statement or one short transaction, never a read
then a write (fakes.ledger, fakes.sql_journal, fakes.sql_faults).

Balances are kept across restarts; the journal and faults belong to one server run.
`start_run(run_id)` starts a run: the first process to call it with a new id clears
the journal and faults and marks the balances `reset` restores; later calls with the
same id (the other workers, a replica that Serve restarted) change nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from typing import Protocol

from .faults import Fault, FaultBook
from .journal import DEFAULT_CAPACITY, Journal
from .ledger import Ledger, MemoryLedger, SqlLedger
from .sql_database import Database, DatabaseError, create_tables, is_postgres_url, open_database, redact_url

RUNS_TABLE = "CREATE TABLE IF NOT EXISTS runs (name TEXT PRIMARY KEY, run TEXT NOT NULL)"


class JournalStore(Protocol):
    @property
    def capacity(self) -> int: ...
    def record(self, entry: dict) -> dict: ...
    def entries(self, *, api: str | None = None, since_id: int = 0) -> list[dict]: ...
    def clear(self) -> None: ...


class FaultStore(Protocol):
    def add(self, fault: Fault) -> Fault: ...
    def clear(self, fault_id: int | None = None) -> None: ...
    def active(self) -> list[Fault]: ...
    def draw(self, api: str, key: str | None) -> dict[str, Fault]: ...


class StoreError(RuntimeError):
    """The store cannot be opened; the message names it (never a password) and the fix."""


@dataclass
class StateStore:
    ledger: Ledger
    journal: JournalStore
    faults: FaultStore
    kind: str = "memory"  # "memory", "sqlite" or "postgresql"
    where: str = "in memory"  # for banners: never holds a password
    db: Database | None = field(default=None, repr=False)

    @property
    def shared(self) -> bool:
        """Other processes that open the same store see the same state."""
        return self.kind != "memory"

    @property
    def spans_nodes(self) -> bool:
        """Processes on other machines can share it (a server, not a local file)."""
        return self.kind == "postgresql"

    def start_run(self, run_id: str) -> bool:
        """Start a server run (see the module's doc); True if this call started it."""
        if self.db is None:
            return True  # in memory: the store is as new as the process
        with self.db.transaction(lock="inpaint-fake-run") as tx:
            tx.execute("INSERT INTO runs (name, run) VALUES ('current', '') ON CONFLICT (name) DO NOTHING")
            started = tx.execute(
                "UPDATE runs SET run = ? WHERE name = 'current' AND run <> ? RETURNING run", (run_id, run_id)
            )
            if started:
                tx.execute("DELETE FROM journal")
                tx.execute("DELETE FROM faults")
                tx.execute("UPDATE keys SET initial = credits")
        return bool(started)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def memory_store(*, journal_capacity: int = DEFAULT_CAPACITY) -> StateStore:
    return StateStore(ledger=MemoryLedger(), journal=Journal(journal_capacity), faults=FaultBook())


def open_store(db: str | None, *, max_connections: int = 10, journal_capacity: int = DEFAULT_CAPACITY) -> StateStore:
    """The store named by ``--db``: None (in memory), a postgresql:// URL, or a SQLite file path."""
    if not db:
        return memory_store(journal_capacity=journal_capacity)
    from .sql_faults import SqlFaultBook
    from .sql_journal import SqlJournal

    database: Database | None = None
    try:
        database = open_database(db, max_connections=max_connections)
        create_tables(database, (RUNS_TABLE,))
        return StateStore(
            ledger=SqlLedger(database),
            journal=SqlJournal(database, journal_capacity),
            faults=SqlFaultBook(database),
            kind=database.kind,
            where=database.where,
            db=database,
        )
    except DatabaseError as exc:
        raise StoreError(str(exc)) from None
    except Exception as exc:  # sqlite3 or psycopg errors while creating the tables
        if database is not None:
            with contextlib.suppress(Exception):
                database.close()
        if is_postgres_url(db):
            raise StoreError(f"cannot use {database.where if database else redact_url(db)}: {exc}") from None
        if isinstance(exc, (sqlite3.Error, OSError)):
            raise StoreError(f"cannot use {db} as a SQLite store ({exc}): give a writable file path") from None
        raise


__all__ = ["FaultStore", "JournalStore", "StateStore", "StoreError", "memory_store", "open_store"]

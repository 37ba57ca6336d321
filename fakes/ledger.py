"""Accounts and credits: one interface, in memory or in a SQL database (SQLite or PostgreSQL).

Charging is one conditional update (`credits >= amount`), so concurrent requests can
never overdraw a key, and a success is charged only after the image exists. Each key
also keeps its initial balance (set when it is created, and when a server run starts),
which `reset(balances=True)` puts back: stored with the key, so every process sharing
the ledger restores the same numbers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol

from .sql_database import Database, SqliteDatabase, create_tables

DEFAULT_CREDITS = 6000


class Ledger(Protocol):
    def add_key(self, key: str, credits: int = DEFAULT_CREDITS, *, keep_existing: bool = True) -> int: ...
    def balance(self, key: str) -> int | None: ...
    def set_balance(self, key: str, credits: int) -> None: ...
    def try_charge(self, key: str, amount: int) -> int | None: ...
    def balances(self) -> dict[str, int]: ...
    def clear(self) -> None: ...
    def mark_initial_balances(self) -> None: ...
    def restore_initial_balances(self) -> int: ...


class MemoryLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credits: dict[str, int] = {}
        self._initial: dict[str, int] = {}

    def add_key(self, key: str, credits: int = DEFAULT_CREDITS, *, keep_existing: bool = True) -> int:
        """Create a key; an existing key keeps its balance unless keep_existing is False."""
        check_credits(credits)
        with self._lock:
            if key not in self._credits or not keep_existing:
                self._credits[key] = self._initial[key] = credits
            return self._credits[key]

    def balance(self, key: str) -> int | None:
        with self._lock:
            return self._credits.get(key)

    def set_balance(self, key: str, credits: int) -> None:
        check_credits(credits)
        with self._lock:
            if key not in self._credits:
                raise KeyError(key)
            self._credits[key] = credits

    def try_charge(self, key: str, amount: int) -> int | None:
        """Take ``amount`` if the key has it; the new balance, or None (unknown key or too few)."""
        with self._lock:
            current = self._credits.get(key)
            if current is None or current < amount:
                return None
            self._credits[key] = current - amount
            return current - amount

    def balances(self) -> dict[str, int]:
        with self._lock:
            return dict(self._credits)

    def clear(self) -> None:
        with self._lock:
            self._credits.clear()
            self._initial.clear()

    def mark_initial_balances(self) -> None:
        """Every key's balance now becomes the one `restore_initial_balances` puts back."""
        with self._lock:
            self._initial = dict(self._credits)

    def restore_initial_balances(self) -> int:
        """Put every key back to its initial balance; how many keys that was."""
        with self._lock:
            for key in self._credits:
                self._credits[key] = self._initial.get(key, self._credits[key])
            return len(self._credits)


KEY_TABLES = (
    "CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, credits BIGINT NOT NULL CHECK (credits >= 0), initial BIGINT)",
    # Charges made for one request id (the Ray front door's), so a lost answer's charge can be voided.
    "CREATE TABLE IF NOT EXISTS request_charges (request_id TEXT NOT NULL, key TEXT NOT NULL, "
    "amount BIGINT NOT NULL, at DOUBLE PRECISION NOT NULL, refunded_at DOUBLE PRECISION)",
    "CREATE INDEX IF NOT EXISTS request_charges_by_request ON request_charges (request_id)",
    "CREATE TABLE IF NOT EXISTS voided_requests (request_id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL)",
)
# Charge records are needed only while the front door may still void them (seconds); kept an hour.
REQUEST_RECORDS_KEPT_S = 3600.0


class SqlLedger:
    """Keys and balances in a SQL database (fakes.sql_database): shared by every process that opens it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        create_tables(db, KEY_TABLES)
        if db.kind == "sqlite":  # ledgers written before initial balances were kept
            columns = {row[1] for row in db.execute("PRAGMA table_info(keys)")}
            if "initial" not in columns:
                db.execute("ALTER TABLE keys ADD COLUMN initial BIGINT")
        self._charges_since_purge = 0

    def add_key(self, key: str, credits: int = DEFAULT_CREDITS, *, keep_existing: bool = True) -> int:
        check_credits(credits)
        if keep_existing:
            sql = "INSERT INTO keys (key, credits, initial) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING"
        else:
            sql = (
                "INSERT INTO keys (key, credits, initial) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET credits = excluded.credits, initial = excluded.initial"
            )
        self.db.execute(sql, (key, credits, credits))
        balance = self.balance(key)
        if balance is None:  # deleted by another process between the two statements
            raise KeyError(key)
        return balance

    def balance(self, key: str) -> int | None:
        rows = self.db.execute("SELECT credits FROM keys WHERE key = ?", (key,))
        return int(rows[0][0]) if rows else None

    def set_balance(self, key: str, credits: int) -> None:
        check_credits(credits)
        if not self.db.execute("UPDATE keys SET credits = ? WHERE key = ? RETURNING key", (credits, key)):
            raise KeyError(key)

    def try_charge(self, key: str, amount: int) -> int | None:
        rows = self.db.execute(
            "UPDATE keys SET credits = credits - ? WHERE key = ? AND credits >= ? RETURNING credits",
            (amount, key, amount),
        )
        return int(rows[0][0]) if rows else None

    def balances(self) -> dict[str, int]:
        return {str(k): int(c) for k, c in self.db.execute("SELECT key, credits FROM keys ORDER BY key")}

    def clear(self) -> None:
        self.db.execute("DELETE FROM keys")

    def mark_initial_balances(self) -> None:
        self.db.execute("UPDATE keys SET initial = credits")

    def restore_initial_balances(self) -> int:
        return len(self.db.execute("UPDATE keys SET credits = COALESCE(initial, credits) RETURNING key"))

    # -- charges tied to a request id (the Ray front door) -------------------------------------
    def charge_for_request(self, request_id: str, key: str, amount: int) -> int | None:
        """`try_charge`, recorded under ``request_id`` so `void_request` can give it back.

        Nothing is charged once the request is voided: the front door has given up on
        it (its ingress replica was lost) and answers or retries it elsewhere.
        """
        with self.db.transaction(lock=f"request:{request_id}") as tx:
            if tx.execute("SELECT 1 FROM voided_requests WHERE request_id = ?", (request_id,)):
                return None
            rows = tx.execute(
                "UPDATE keys SET credits = credits - ? WHERE key = ? AND credits >= ? RETURNING credits",
                (amount, key, amount),
            )
            if not rows:
                return None
            tx.execute(
                "INSERT INTO request_charges (request_id, key, amount, at) VALUES (?, ?, ?, ?)",
                (request_id, key, amount, time.time()),
            )
        self._charges_since_purge += 1
        if self._charges_since_purge >= 1000:
            self._charges_since_purge = 0
            self.purge_request_records()
        return int(rows[0][0])

    def void_request(self, request_id: str) -> int:
        """Give back what ``request_id`` was charged and refuse its later charges; the credits given back."""
        with self.db.transaction(lock=f"request:{request_id}") as tx:
            tx.execute(
                "INSERT INTO voided_requests (request_id, at) VALUES (?, ?) ON CONFLICT (request_id) DO NOTHING",
                (request_id, time.time()),
            )
            refunded = 0
            for key, amount in tx.execute(
                "UPDATE request_charges SET refunded_at = ? WHERE request_id = ? AND refunded_at IS NULL "
                "RETURNING key, amount",
                (time.time(), request_id),
            ):
                tx.execute("UPDATE keys SET credits = credits + ? WHERE key = ?", (amount, key))
                refunded += int(amount)
        return refunded

    def purge_request_records(self, older_than_s: float = REQUEST_RECORDS_KEPT_S) -> None:
        cutoff = time.time() - older_than_s
        self.db.execute("DELETE FROM request_charges WHERE at < ?", (cutoff,))
        self.db.execute("DELETE FROM voided_requests WHERE at < ?", (cutoff,))


class SqliteLedger(SqlLedger):
    """Keys and balances in SQLite (WAL): survives kill -9, shared by worker processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        super().__init__(SqliteDatabase(path))

    def close(self) -> None:
        """Close every thread's connection (a checkpoint folds the WAL into the database)."""
        self.db.close()


def check_credits(credits: int) -> None:
    if not isinstance(credits, int) or isinstance(credits, bool) or credits < 0:
        raise ValueError(f"credits must be a whole number >= 0, got {credits!r}")

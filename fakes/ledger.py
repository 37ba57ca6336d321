"""Accounts and credits: one interface, in memory or in SQLite.

Charging is one conditional update (`credits >= amount`), so concurrent requests can
never overdraw a key, and a success is charged only after the image exists.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Protocol

DEFAULT_CREDITS = 6000


class Ledger(Protocol):
    def add_key(self, key: str, credits: int = DEFAULT_CREDITS, *, keep_existing: bool = True) -> int: ...
    def balance(self, key: str) -> int | None: ...
    def set_balance(self, key: str, credits: int) -> None: ...
    def try_charge(self, key: str, amount: int) -> int | None: ...
    def balances(self) -> dict[str, int]: ...
    def clear(self) -> None: ...


class MemoryLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credits: dict[str, int] = {}

    def add_key(self, key: str, credits: int = DEFAULT_CREDITS, *, keep_existing: bool = True) -> int:
        """Create a key; an existing key keeps its balance unless keep_existing is False."""
        _check_credits(credits)
        with self._lock:
            if key not in self._credits or not keep_existing:
                self._credits[key] = credits
            return self._credits[key]

    def balance(self, key: str) -> int | None:
        with self._lock:
            return self._credits.get(key)

    def set_balance(self, key: str, credits: int) -> None:
        _check_credits(credits)
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


class SqliteLedger:
    """Keys and balances in SQLite (WAL): survives kill -9, shared by worker processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, credits INTEGER NOT NULL CHECK (credits >= 0))"
            )

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # One connection per thread; autocommit, each statement is its own transaction.
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    def close(self) -> None:
        """Close every thread's connection (a checkpoint folds the WAL into the database)."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for db in connections:
            try:
                db.close()
            except sqlite3.ProgrammingError:  # closed from another thread already
                pass
        self._local = threading.local()

    def add_key(self, key: str, credits: int = DEFAULT_CREDITS, *, keep_existing: bool = True) -> int:
        _check_credits(credits)
        db = self._connect()
        if keep_existing:
            db.execute("INSERT OR IGNORE INTO keys (key, credits) VALUES (?, ?)", (key, credits))
        else:
            db.execute(
                "INSERT INTO keys (key, credits) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET credits = excluded.credits",
                (key, credits),
            )
        balance = self.balance(key)
        assert balance is not None, "the key was just written"
        return balance

    def balance(self, key: str) -> int | None:
        row = self._connect().execute("SELECT credits FROM keys WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def set_balance(self, key: str, credits: int) -> None:
        _check_credits(credits)
        if self._connect().execute("UPDATE keys SET credits = ? WHERE key = ?", (credits, key)).rowcount == 0:
            raise KeyError(key)

    def try_charge(self, key: str, amount: int) -> int | None:
        row = (
            self._connect()
            .execute(
                "UPDATE keys SET credits = credits - ? WHERE key = ? AND credits >= ? RETURNING credits",
                (amount, key, amount),
            )
            .fetchone()
        )
        return None if row is None else int(row[0])

    def balances(self) -> dict[str, int]:
        return {k: int(c) for k, c in self._connect().execute("SELECT key, credits FROM keys ORDER BY key")}

    def clear(self) -> None:
        self._connect().execute("DELETE FROM keys")


def _check_credits(credits: int) -> None:
    if not isinstance(credits, int) or isinstance(credits, bool) or credits < 0:
        raise ValueError(f"credits must be a whole number >= 0, got {credits!r}")

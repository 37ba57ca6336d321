"""The two SQL databases the fake's shared state can live in: SQLite (a file) and PostgreSQL (a server).

Both speak the same small SQL (qmark placeholders, `ON CONFLICT`, `RETURNING`), so the
ledger, journal and fault list above them (fakes.sql_state) are written once. What
differs lives here: connections, and how a multi-statement transaction excludes
others. SQLite: `BEGIN IMMEDIATE` takes the database's one write lock, so every
transaction runs alone. PostgreSQL: a transaction may take a named advisory lock
(`pg_advisory_xact_lock`), released at commit, so only transactions that touch the
same thing wait for each other. Single statements run in autocommit.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")


class DatabaseError(RuntimeError):
    """The database cannot be opened or reached; the message names it (without a password) and the fix."""


class Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...


class Database(Protocol):
    kind: str  # "sqlite" or "postgresql"
    where: str  # for banners and errors: the path, or the URL without its password

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...
    def transaction(self, lock: str | None = None) -> contextlib.AbstractContextManager[Transaction]: ...
    def close(self) -> None: ...


def is_postgres_url(db: str | None) -> bool:
    return bool(db) and urlsplit(str(db)).scheme in POSTGRES_SCHEMES


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by `***`, everything else as given."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def url_has_password(url: str) -> bool:
    return urlsplit(url).password is not None


# -- SQLite ------------------------------------------------------------------------------------
class SqliteDatabase:
    """One SQLite file (WAL), one connection per thread; shared by the processes that open it."""

    kind = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.where = f"SQLite {self.path}"
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        try:
            self._connect().execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise DatabaseError(
                f"cannot open {self.path} as a SQLite database ({exc}): give a writable file path"
            ) from None

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # Autocommit (isolation_level None): each statement is its own transaction
            # unless `transaction()` opens one.
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._connect().execute(sql, tuple(params)).fetchall()

    @contextlib.contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Transaction]:
        # IMMEDIATE takes the write lock now: no other writer runs until COMMIT, so the
        # transaction's reads stay true until its writes land (the `lock` name is not needed).
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close every thread's connection (the last one folds the WAL into the database file)."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for db in connections:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed from another thread already
                db.close()
        self._local = threading.local()


# -- PostgreSQL --------------------------------------------------------------------------------
class PostgresDatabase:
    """A PostgreSQL database through a small connection pool (psycopg 3), shared by every process and node."""

    kind = "postgresql"

    def __init__(self, url: str, *, max_connections: int = 10, connect_timeout: float = 10.0) -> None:
        self.where = f"PostgreSQL {redact_url(url)}"
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise DatabaseError(
                f"a postgresql:// database needs psycopg 3 ({exc}): pip install 'inpaint-conformance[postgres]'"
            ) from None
        self._errors = (psycopg.Error,)
        try:  # one direct connection first: a wrong URL is reported now, in one line
            psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))).close()
        except psycopg.Error as exc:
            raise DatabaseError(
                f"cannot connect to {redact_url(url)} ({_first_line(exc)}): check the host, port, database "
                "and user (a password goes in PGPASSWORD or ~/.pgpass, not in the URL)"
            ) from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True},
            timeout=60,
            open=True,
            name="inpaint-fake",
        )

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")  # no statement here has a literal "?" or "%"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._pool.connection() as db:
            cursor = db.execute(self._sql(sql), tuple(params))
            return cursor.fetchall() if cursor.description else []

    @contextlib.contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Transaction]:
        with self._pool.connection() as db, db.transaction():
            if lock is not None:
                db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
            yield _PostgresTransaction(db)

    def close(self) -> None:
        self._pool.close()


class _PostgresTransaction:
    def __init__(self, db: Any) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        cursor = self._db.execute(PostgresDatabase._sql(sql), tuple(params))
        return cursor.fetchall() if cursor.description else []


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_database(db: str, *, max_connections: int = 10) -> Database:
    """A postgresql:// (or postgres://) URL, or the path of a SQLite file."""
    if is_postgres_url(db):
        return PostgresDatabase(db, max_connections=max_connections)
    return SqliteDatabase(db)


COUNTERS_TABLE = "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)"


def create_tables(db: Database, statements: Sequence[str], *, counters: Sequence[str] = ()) -> None:
    """Create tables (IF NOT EXISTS) and counters in one transaction.

    Under a lock: processes that start together would otherwise race on PostgreSQL's
    catalog (two `CREATE TABLE IF NOT EXISTS` of one name can both try to create it).
    """
    with db.transaction(lock="inpaint-fake-schema") as tx:
        for statement in (COUNTERS_TABLE, *statements) if counters else statements:
            tx.execute(statement)
        for name in counters:
            tx.execute("INSERT INTO counters (name, value) VALUES (?, 0) ON CONFLICT (name) DO NOTHING", (name,))


def next_id(tx: Transaction, counter: str) -> int:
    """The counter's next value. Inside a transaction, the counter's row stays locked until
    commit: ids are handed out in commit order, so a reader polling `id > last seen` misses none."""
    return int(tx.execute("UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", (counter,))[0][0])

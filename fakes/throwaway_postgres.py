"""A throwaway PostgreSQL server for tests and benchmarks: initdb + pg_ctl in a temp folder.

    with ThrowawayPostgres() as pg:
        url = pg.create_database()      # postgresql://postgres@127.0.0.1:PORT/NAME
        ...                             # serve --db URL, the tests, the bench
    # stopped, folder removed

It uses the distribution's binaries (Debian: /usr/lib/postgresql/<version>/bin, from
`apt-get install postgresql`), listens on 127.0.0.1 only, on a free port, with trust
authentication and durability switched off (fsync off: a test database need not
survive a power cut, and fsync would measure the disk, not the store). PostgreSQL
refuses to run as root, so as root the server runs as the `postgres` user.
`unavailable_reason()` says why it cannot run here (None when it can): tests skip with it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

SERVER_USER = "postgres"  # the OS user the server runs as when this process is root
DB_USER = "postgres"  # the database superuser initdb creates


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's newest versioned folder."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0))
    for folder in reversed(folders):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def unavailable_reason() -> str | None:
    """Why no throwaway PostgreSQL can start here, or None when one can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed: pip install 'inpaint-conformance[postgres]'"
    if find_binaries() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as"
    return None


class ThrowawayPostgres:
    """One PostgreSQL server in a temp folder; `create_database()` hands out empty databases."""

    def __init__(self, *, start_timeout: float = 60.0) -> None:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(f"cannot start a throwaway PostgreSQL: {reason}")
        binaries = find_binaries()
        assert binaries is not None  # unavailable_reason() said so
        self.bin = binaries
        self.port = _free_port()
        self.start_timeout = start_timeout
        self.folder = Path(tempfile.mkdtemp(prefix="inpaint-pg-"))
        self.data = self.folder / "data"
        self.started = False

    @property
    def admin_url(self) -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses root: run as its own user
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=self.start_timeout, cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        return done

    def start(self) -> ThrowawayPostgres:
        if os.geteuid() == 0:
            shutil.chown(self.folder, SERVER_USER)
        self._run("initdb", "-D", str(self.data), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")
        self.started = True
        return self

    @property
    def pid(self) -> int:
        """The server's main process (its children do the work): for measuring the server's CPU."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

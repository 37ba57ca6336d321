"""Load generation and the servers under test, all on 127.0.0.1.

Clients are threads, one keep-alive `http.client` connection each: the lightest
client the standard library has, so on a 2-core box the client steals as little
CPU from the server as it can. Every run is bounded in time and in request count.
The servers run in subprocesses that the benchmark starts and always stops.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from _common import BENCH_CREDITS, BENCH_KEY, REPO, Call, Sample, not_served

LOOPBACK = "127.0.0.1"
MAX_REQUESTS_PER_RUN = 100_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def serve_argv(port: int, extra: Sequence[str] = ()) -> list[str]:
    """The command line of `inpaint-conformance serve` on loopback ``port`` with the bench key."""
    return [
        sys.executable,
        "-m",
        "inpaint_conformance.harness.cli",
        "serve",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--api-key",
        f"{BENCH_KEY}={BENCH_CREDITS}",
        *extra,
    ]


# -- running work with N concurrent workers ----------------------------------------


def run_concurrently(
    make_worker: Callable[[], Callable[[], str | None]],
    concurrency: int,
    seconds: float,
    max_requests: int = MAX_REQUESTS_PER_RUN,
    cpu_clock: Callable[[], float] | None = None,
) -> Sample:
    """Call each worker in a loop from ``concurrency`` threads for about ``seconds``.

    A worker returns None on success or a short error text. Requests that started
    before the deadline are finished and counted; the clock stops at the last one.
    ``cpu_clock`` reads the CPU seconds of whatever serves the requests: CPU time per
    request barely moves when other jobs share the machine, wall-clock throughput does.
    """
    barrier = threading.Barrier(concurrency + 1)
    lock = threading.Lock()
    sample = Sample()
    budget = [max_requests]
    state = {"deadline": 0.0}

    def loop() -> None:
        work = make_worker()
        latencies, ok, errors, first = [], 0, 0, None
        barrier.wait()
        while time.perf_counter() < state["deadline"]:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            started = time.perf_counter()
            try:
                error = work()
            except Exception as exc:  # a client-side failure is a failed request, not a crash of the bench
                error = f"{type(exc).__name__}: {exc}"
            if error is None:
                ok += 1
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
                first = first or error
        with lock:
            sample.ok += ok
            sample.errors += errors
            sample.latencies += latencies
            sample.first_error = sample.first_error or first

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    cpu_before = cpu_clock() if cpu_clock else 0.0
    started = time.perf_counter()
    state["deadline"] = started + seconds
    barrier.wait()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    sample.seconds = time.perf_counter() - started
    if cpu_clock:
        sample.cpu_seconds = cpu_clock() - cpu_before
    return sample


def process_tree_cpu(pid: int) -> Callable[[], float]:
    """A clock of the CPU seconds (user + system) used by ``pid`` and its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        stats: dict[int, tuple[int, float]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
        family, total = {pid}, 0.0
        for _ in range(8):  # a few generations is plenty for a server and its workers
            family |= {child for child, (parent, _) in stats.items() if parent in family}
        for member in family:
            total += stats.get(member, (0, 0.0))[1]
        return total

    return read if Path("/proc").is_dir() else None  # type: ignore[return-value]


def http_worker(
    port: int, call: Call, *, timeout: float = 120.0, any_2xx: bool = False
) -> Callable[[], Callable[[], str | None]]:
    """A factory of workers that POST ``call`` over one keep-alive connection each.

    Success is a served inpaint (`not_served`: AIThriving code 0 with an image, Vyro
    200 image/png); ``any_2xx`` accepts any 2xx (Prism's canned answers, no image).
    """

    def make() -> Callable[[], str | None]:
        holder: dict = {}

        def once() -> str | None:
            for attempt in (1, 2):
                reused = "conn" in holder
                conn = holder.get("conn") or http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
                holder["conn"] = conn
                try:
                    conn.request("POST", call.path, body=call.body, headers=call.headers)
                    response = conn.getresponse()
                    body = response.read()
                    break
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    holder.pop("conn", None)
                    # A kept-alive connection idle past the server's keep-alive timeout is closed
                    # by it: resend once on a new one, as HTTP clients do. Any other failure counts.
                    stale = isinstance(exc, (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected))
                    if not (reused and stale and attempt == 1):
                        return f"{type(exc).__name__}: {exc}"
            if any_2xx:
                return None if 200 <= response.status < 300 else f"HTTP {response.status}: {body[:160]!r}"
            return not_served(call.api, response.status, response.getheader("content-type"), body)

        return once

    return make


# -- servers in subprocesses ---------------------------------------------------------
class ServerProcess:
    """A server on 127.0.0.1:port in a subprocess; its output goes to a temp file."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict | None = None, cwd: Path | None = None) -> None:
        self.name, self.argv, self.port = name, argv, port
        self.remove_on_stop: list[Path] = []  # temp folders the server reads (e.g. Prism's document)
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60.0, probe: Callable[[], bool] | None = None) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} before listening:\n{self.tail()}"
                )
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=1):
                    if probe is None or probe():
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not listen on {LOOPBACK}:{self.port} within {timeout:.0f} s:\n{self.tail()}"
        )

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            # Its own session: signal the group, so a server's worker processes stop too.
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass
        for path in self.remove_on_stop:
            shutil.rmtree(path, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def checkout_env() -> dict[str, str]:
    """This environment with the checkout first on PYTHONPATH: the benches measure the working tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def serve_available() -> bool:
    return (REPO / "harness" / "commands" / "serve.py").exists()


# Until `inpaint-conformance serve` exists: the same app and key, through uvicorn directly.
_FALLBACK = (
    "import sys, uvicorn; from fakes import FakeProvider; from fakes.app import create_app; "
    "p = FakeProvider(); p.add_key(sys.argv[2], int(sys.argv[3])); "
    "uvicorn.run(create_app(p), host='127.0.0.1', port=int(sys.argv[1]), log_level='warning', access_log=False)"
)


def start_fake(workers: int = 1, db: str | None = None, extra_keys: dict[str, int] | None = None) -> ServerProcess:
    """`inpaint-conformance serve` on a free loopback port with the bench key; ready on return."""
    port = free_port()
    if serve_available():
        argv = serve_argv(port)
        for key, credits in (extra_keys or {}).items():
            argv += ["--api-key", f"{key}={credits}"]
        if workers > 1:
            argv += ["--workers", str(workers)]
        if db:
            argv += ["--db", db]
    else:
        if workers > 1 or extra_keys:
            raise RuntimeError("--workers and extra keys need `inpaint-conformance serve` (harness/commands/serve.py)")
        argv = [sys.executable, "-c", _FALLBACK, str(port), BENCH_KEY, str(BENCH_CREDITS)]
    server = ServerProcess("fake", argv, port, env=checkout_env(), cwd=REPO)
    return server.wait_ready(probe=lambda: _credits_ok(port))


def _credits_ok(port: int) -> bool:
    """The key exists (the server finished starting), read through the fake's own balance probe."""
    try:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
        conn.request("GET", "/__fake__/credits", headers={"authorization": BENCH_KEY})
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


def journal_last_id(port: int) -> int:
    """The id of the fake's newest journal entry (ids count every request, the ring only keeps the last ones)."""
    import json

    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
    try:
        conn.request("GET", "/__fake__/journal")
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET /__fake__/journal answered {response.status}: {body[:200]!r}")
    return max((entry["id"] for entry in json.loads(body)), default=0)


def fake_label() -> str:
    return "inpaint-conformance serve" if serve_available() else "uvicorn fakes.app (serve not built yet)"


def which(name: str) -> str | None:
    return shutil.which(name)

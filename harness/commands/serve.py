"""`inpaint-conformance serve`: both APIs on one port, from the fake or the reference engine.

Exit codes: 0 after a clean shutdown (Ctrl-C or SIGTERM), 2 when it cannot start
(bad flag, port in use, unreadable --db, engine that does not load), with one line
saying why and what to do. `--db` keeps the state (keys and balances, journal, faults)
in a SQLite file or a PostgreSQL database (fakes.store); `--workers N` (with `--db`)
runs N processes sharing it; `--ray` hands over to harness.commands.serve_ray.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import uvicorn

from inpaint_conformance.fakes.banner import banner, display_base_url
from inpaint_conformance.fakes.control import check_key
from inpaint_conformance.fakes.engine import Engine, FakeEngine
from inpaint_conformance.fakes.ledger import DEFAULT_CREDITS, Ledger
from inpaint_conformance.fakes.provider import FakeProvider
from inpaint_conformance.fakes.store import StateStore, StoreError, open_store

DEV_KEY = "dev-key"
# A held request (the "timeout" fault) must not keep Ctrl-C waiting for its full 30 s.
GRACEFUL_SHUTDOWN_S = 5


class CannotServe(Exception):
    """A reason the server cannot start, already phrased for the user."""


def _key_credits(text: str) -> tuple[str, int | None]:
    key, _, credits = text.partition("=")
    if not key:
        raise argparse.ArgumentTypeError(f"expected KEY or KEY=CREDITS, got {text!r}")
    if credits and not credits.isdigit():
        raise argparse.ArgumentTypeError(f"credits must be a whole number >= 0, got {credits!r} in {text!r}")
    return key, int(credits) if credits else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", action="append", type=_key_credits, default=[], metavar="KEY[=CREDITS]")
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="keep keys, balances, journal and faults in a SQLite file or a postgresql:// database "
        "(balances survive restarts; --workers and Ray ingress replicas share it)",
    )
    parser.add_argument("--admin-token", help="allow /__fake__/ admin calls from non-loopback clients that send it")
    parser.add_argument(
        "--ait-failure-status",
        choices=("200", "4xx"),
        default="200",
        help="HTTP status of AIThriving failures (the decisions allow both)",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--replay", metavar="FILE", help="answer with the exchanges recorded by `proxy --record`")
    parser.add_argument("--engine", choices=("fake", "reference"), default="fake")
    parser.add_argument(
        "--model",
        default="tiny-random",
        help="reference engine: folder, hub id, tiny-random or sd15-random (full-size SD 1.5 shapes, random weights)",
    )
    parser.add_argument("--device", choices=("cuda", "cpu", "auto"), default="auto")
    parser.add_argument("--dtype", choices=("float16", "bfloat16", "float32"))
    parser.add_argument("--steps", type=int)
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    parser.add_argument(
        "--ray", nargs="?", const="local", metavar="ADDRESS", help="run on Ray Serve (no ADDRESS: local)"
    )
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument(
        "--ingress-replicas",
        type=int,
        default=1,
        help="--ray: replicas of the HTTP layer (validation, image work, ledger); more than 1 needs --db postgresql://",
    )
    parser.add_argument(
        "--max-replicas-per-node",
        type=int,
        help="--ray: at most this many engine (and ingress) replicas on one node (default: Serve spreads them)",
    )
    parser.add_argument("--autoscale", metavar="MIN:MAX", help="--ray: scale engine replicas on queued requests")
    parser.add_argument(
        "--gpus-per-replica", type=float, help="--ray: GPUs per engine replica (default 1 where GPUs exist)"
    )
    parser.add_argument("--cpus-per-replica", type=float, help="--ray: CPUs per engine replica (default 1)")


def run(args: argparse.Namespace) -> int:
    if args.ray is not None:
        return _hand_over_to_ray(args)
    try:
        _check_flags(args)
        sock = _bind(args.host, args.port)
    except CannotServe as exc:
        return _refuse(exc)
    store: StateStore | None = None
    engine: Engine | None = None
    try:
        store = _open_store(args.db)
        # A new run: the journal and faults start empty, stored balances are what reset restores.
        run = uuid.uuid4().hex
        store.start_run(run)
        ledger = store.ledger
        keys = _add_keys(ledger, args.api_key)
        host, port = sock.getsockname()[:2]
        loopback = ipaddress.ip_address(host).is_loopback
        ait_failure_status = 400 if args.ait_failure_status == "4xx" else 200
        base_url = display_base_url(host, port)

        def describe(engine_name: str) -> str:
            return banner(
                base_url=base_url,
                engine=engine_name,
                keys=keys,
                other_keys=len(ledger.balances()) - len(keys),
                ledger=f"{store.where} (balances kept across restarts)"
                if store.shared
                else "in memory (balances are lost on exit; --db PATH keeps them)",
                admin=_admin_rule(loopback, args.admin_token),
            )

        if args.workers > 1:
            _serve_workers(
                args,
                sock,
                base_url,
                describe(f"fake, {args.workers} worker processes sharing the ledger, journal and faults"),
                loopback,
                ait_failure_status,
                run,
            )
            return 0
        engine = _load_engine(args)
        provider = _provider(args, engine, store, ait_failure_status)
        from inpaint_conformance.fakes.app import create_app

        app = create_app(provider, admin_token=args.admin_token, loopback_only=loopback)
        with _signals_end_cleanly():
            _BannerServer(_uvicorn_config(app), describe(engine.name)).run(sockets=[sock])
    except CannotServe as exc:
        return _refuse(exc)
    finally:
        sock.close()
        if engine is not None:
            engine.close()
        if store is not None:
            store.close()
            if store.kind == "sqlite":
                _checkpoint(args.db)
    return 0


def _uvicorn_config(app, **options) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        **options,
    )


def _serve_workers(
    args: argparse.Namespace,
    sock: socket.socket,
    base_url: str,
    text: str,
    loopback: bool,
    ait_failure_status: int,
    run: str,
) -> None:
    """uvicorn worker processes on the socket bound here, each building its app from the environment."""
    from uvicorn.supervisors import Multiprocess

    from inpaint_conformance.fakes.app_factory import settings_env

    os.environ.update(
        settings_env(
            db=args.db,
            admin_token=args.admin_token,
            loopback=loopback,
            ait_failure_status=ait_failure_status,
            run=run,
        )
    )
    config = _uvicorn_config(
        "inpaint_conformance.fakes.app_factory:create_app_from_env", factory=True, workers=args.workers
    )
    served = threading.Event()
    threading.Thread(target=_announce_when_serving, args=(base_url, text, served), daemon=True).start()
    # The supervisor stops the workers on SIGINT/SIGTERM, or when they fail to start, and returns.
    Multiprocess(config, sockets=[sock]).run()
    if not served.is_set():
        raise CannotServe("the worker processes stopped before serving: see the errors above")


def _announce_when_serving(base_url: str, text: str, served: threading.Event, timeout: float = 120.0) -> None:
    """Print the banner once a worker answers (any HTTP answer means it serves)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base_url}/__fake__/credits", timeout=1.0, trust_env=False)
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        served.set()
        print(text, file=sys.stderr, flush=True)
        return


def _hand_over_to_ray(args: argparse.Namespace) -> int:
    try:
        from inpaint_conformance.harness.commands.serve_ray import run_ray
    except ImportError as exc:
        return _refuse(CannotServe(f"--ray is not available in this installation ({exc}): run without it"))
    return run_ray(args)


def _provider(args, engine, store: StateStore, ait_failure_status: int) -> FakeProvider:
    if not getattr(args, "replay", None):
        return FakeProvider(
            engine=engine,
            ledger=store.ledger,
            journal=store.journal,
            faults=store.faults,
            ait_failure_status=ait_failure_status,
        )
    from inpaint_conformance.fakes.replay import RecordingError, ReplayProvider

    try:
        return ReplayProvider(
            args.replay,
            engine=engine,
            ledger=store.ledger,
            journal=store.journal,
            faults=store.faults,
            ait_failure_status=ait_failure_status,
        )
    except RecordingError as exc:
        raise CannotServe(f"--replay {args.replay}: {exc}") from None


def _refuse(exc: CannotServe) -> int:
    print(f"inpaint-conformance serve: {exc}", file=sys.stderr)
    return 2


def _check_flags(args: argparse.Namespace) -> None:
    if args.replicas != 1 or args.autoscale or args.ingress_replicas != 1 or args.max_replicas_per_node:
        raise CannotServe(
            "--replicas, --ingress-replicas, --max-replicas-per-node and --autoscale only apply with --ray: drop them"
        )
    if args.workers < 1:
        raise CannotServe(f"--workers must be at least 1, got {args.workers}")
    if args.workers > 1 and not args.db:
        # Each worker is a process: only a store outside them is shared between them.
        raise CannotServe(
            "--workers > 1 needs --db PATH (SQLite) or --db postgresql://...: "
            "the workers share their credits, journal and faults through it"
        )
    if args.workers > 1 and getattr(args, "replay", None):
        raise CannotServe("--replay answers from one process: drop --workers")
    if args.workers > 1 and args.engine != "fake":
        raise CannotServe(
            "--workers > 1 runs the fake engine only (each worker would load the model): "
            "for more reference replicas use --ray"
        )
    if not 0 <= args.port <= 65535:
        raise CannotServe(f"--port must be in 0..65535 (0 picks a free port), got {args.port}")
    if args.admin_token is not None and not args.admin_token.strip():
        raise CannotServe("--admin-token is empty: give a token, or drop the flag")
    seen: set[str] = set()
    for key, _ in args.api_key:
        try:
            check_key(key)
        except ValueError as exc:
            raise CannotServe(f"--api-key {key!r}: {exc}") from None
        if key in seen:
            raise CannotServe(f"--api-key {key} is given twice: give each key once")
        seen.add(key)


def _bind(host: str, port: int) -> socket.socket:
    """Bind now, so a taken port is reported before any model loads (uvicorn listens later)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise CannotServe(
            f"--host {host!r} is not an address this machine can bind ({exc.strerror}): try 127.0.0.1 or 0.0.0.0"
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CannotServe(f"port {port} is in use: pick another with --port") from None
        if exc.errno == errno.EACCES:
            raise CannotServe(f"no permission to bind port {port}: pick one above 1023 with --port") from None
        raise CannotServe(f"cannot bind {host}:{port} ({exc.strerror}): check --host and --port") from None
    return sock


def _open_store(db: str | None) -> StateStore:
    try:
        return open_store(db)
    except StoreError as exc:
        raise CannotServe(f"--db: {exc}") from None


def _add_keys(ledger: Ledger, requested: list[tuple[str, int | None]]) -> dict[str, str]:
    """Create the keys (a stored key keeps its balance); returns key -> banner note."""
    notes: dict[str, str] = {}
    for key, asked in requested or [(DEV_KEY, None)]:
        wanted = DEFAULT_CREDITS if asked is None else asked
        balance = ledger.add_key(key, wanted, keep_existing=True)
        kept = " (stored balance kept)" if balance != wanted else ""
        notes[key] = f"{balance} credits{kept}"
    return notes


def _load_engine(args: argparse.Namespace) -> Engine:
    if args.engine == "fake":
        return FakeEngine()
    try:
        from inpaint_conformance.reference_impl import load_engine
    except ImportError as exc:
        raise CannotServe(
            f"the reference engine is not available ({exc}): pip install 'inpaint-conformance[reference]'"
        ) from None
    print(
        f"loading the reference engine ({args.model}); the server answers once it is ready...",
        file=sys.stderr,
        flush=True,
    )
    try:
        return load_engine(
            args.model,
            device=args.device,
            dtype=args.dtype,
            steps=args.steps,
            max_batch=args.max_batch,
            compile=args.compile,
        )
    except Exception as exc:  # a missing model, a CUDA problem...: one line, not a traceback
        raise CannotServe(f"the reference engine did not load: {type(exc).__name__}: {exc}") from None


def _admin_rule(loopback: bool, token: str | None) -> str:
    if loopback:
        return "open (the server is bound to loopback)"
    if token:
        return "needs the --admin-token value in header `x-admin-token`"
    return "refused (not bound to loopback): add --admin-token TOKEN to allow it"


class _BannerServer(uvicorn.Server):
    """uvicorn that prints the banner once the socket listens, so "ready" is true when shown."""

    def __init__(self, config: uvicorn.Config, text: str) -> None:
        super().__init__(config)
        self.text = text

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            print(self.text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _signals_end_cleanly() -> Iterator[None]:
    """Let SIGINT/SIGTERM end the server with exit code 0.

    uvicorn shuts down gracefully on them, then re-raises the signal to whatever
    handler was there before it; a no-op one here turns that into a normal return.
    """
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _checkpoint(path: str) -> None:
    """Fold the WAL into the database file, so a stopped server leaves one self-contained file."""
    with contextlib.suppress(sqlite3.Error):
        db = sqlite3.connect(path, timeout=5)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()

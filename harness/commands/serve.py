"""`inpaint-conformance serve`: both APIs on one port, from the fake or the reference engine.

Exit codes: 0 after a clean shutdown (Ctrl-C or SIGTERM), 2 when it cannot start
(bad flag, port in use, unreadable --db, engine that does not load), with one line
saying why and what to do. `--db` keeps the state (keys and balances, journal, faults)
in a SQLite file or a PostgreSQL database (fakes.store); `--workers N` (with `--db`)
runs N processes sharing it; `--ray` runs it on Ray Serve; `--replay FILE`
answers from a `proxy --record` recording instead of painting.
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

from inpaint_conformance.contracts.exchange import key_hint
from inpaint_conformance.fakes.banner import banner, display_base_url, replay_banner
from inpaint_conformance.fakes.connection_guard import (
    ConnectionLimits,
    add_limit_arguments,
    guarded_config,
    limits_from_args,
)
from inpaint_conformance.fakes.control import check_key
from inpaint_conformance.fakes.engine import Engine, FakeEngine
from inpaint_conformance.fakes.ledger import DEFAULT_CREDITS, Ledger
from inpaint_conformance.fakes.memory_budget import (
    DEFAULT_BUDGET,
    DEFAULT_MAX_WAIT,
    MemoryBudget,
    format_size,
    parse_size,
)
from inpaint_conformance.fakes.provider import FakeProvider
from inpaint_conformance.fakes.replay import ReplayProvider
from inpaint_conformance.fakes.store import StateStore, StoreError, open_store

DEV_KEY = "dev-key"
DEFAULT_MODEL = "tiny-random"
DEFAULT_MAX_BATCH = 4
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
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (0: a free one)")
    parser.add_argument(
        "--api-key",
        action="append",
        type=_key_credits,
        default=[],
        metavar="KEY[=CREDITS]",
        help=f"a key the fake accepts and its credits ({DEFAULT_CREDITS} without =CREDITS); repeat for more "
        f"(default: one key, {DEV_KEY}={DEFAULT_CREDITS})",
    )
    parser.add_argument(
        "--show-keys", action="store_true", help="print the --api-key keys in clear in the banner (default: a hint)"
    )
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
    parser.add_argument(
        "--memory-budget",
        default=format_size(DEFAULT_BUDGET).replace(" ", ""),
        metavar="SIZE",
        help="memory image work may take at once, priced from each upload's decoded pixel count "
        "(e.g. 512M, 2G); more waits its turn, then gets 429",
    )
    parser.add_argument(
        "--memory-wait",
        type=float,
        default=DEFAULT_MAX_WAIT,
        metavar="SECONDS",
        help="longest wait for the memory budget before a 429 with Retry-After",
    )
    add_limit_arguments(parser)
    parser.add_argument(
        "--workers", type=int, default=1, help="processes serving the fake engine (more than 1 needs --db)"
    )
    parser.add_argument(
        "--replay",
        metavar="FILE",
        help="answer with the exchanges recorded by `proxy --record` (no engine, no keys checked)",
    )
    parser.add_argument(
        "--replay-strict",
        action="store_true",
        help="--replay: answer a request that matches no recorded exchange with a 404 naming it, "
        "instead of the next recorded answer",
    )
    parser.add_argument(
        "--engine",
        choices=("fake", "reference"),
        help="what paints: the fake's fill, or real diffusion (default: reference when --model is given, else fake)",
    )
    parser.add_argument(
        "--model",
        help="reference engine: folder, hub id, tiny-random or sd15-random (full-size SD 1.5 shapes, random "
        f"weights); giving it picks --engine reference (default: {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--device", choices=("cuda", "cpu", "auto"), help="reference engine: where to run (default: auto)"
    )
    parser.add_argument(
        "--dtype",
        choices=("float16", "bfloat16", "float32"),
        help="reference engine: weight precision (default: float16 on CUDA, float32 on CPU)",
    )
    parser.add_argument("--steps", type=int, help="reference engine: denoising steps (default: the model's)")
    parser.add_argument(
        "--max-batch",
        type=int,
        help=f"reference engine: requests of one size painted together (default: {DEFAULT_MAX_BATCH})",
    )
    parser.add_argument("--compile", action="store_true", help="reference engine: torch.compile the UNet")
    parser.add_argument(
        "--ray", nargs="?", const="local", metavar="ADDRESS", help="run on Ray Serve (no ADDRESS: local)"
    )
    parser.add_argument("--replicas", type=int, default=1, help="--ray: engine replicas")
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
        "--gpus-per-replica", type=float, help="--ray: GPUs per engine replica (default: 1 where GPUs exist)"
    )
    parser.add_argument("--cpus-per-replica", type=float, help="--ray: CPUs per engine replica (default: 1)")


REFERENCE_ONLY = ("--model", "--device", "--dtype", "--steps", "--max-batch", "--compile")


def resolve_engine(args: argparse.Namespace) -> None:
    """Decide the engine from the flags, so a model is never silently ignored.

    ``--model`` only means something to the reference engine, so giving it without
    ``--engine`` picks that engine (and its load is announced); with ``--engine fake``
    or ``--replay`` the reference flags contradict the command, which is refused.
    Afterwards ``args.engine``, ``args.model``, ``args.device`` and ``args.max_batch``
    hold concrete values.
    """
    given = [flag for flag in REFERENCE_ONLY if getattr(args, flag[2:].replace("-", "_")) not in (None, False)]
    if args.replay:
        if args.engine or given:
            flags = ", ".join(([f"--engine {args.engine}"] if args.engine else []) + given)
            raise CannotServe(f"--replay answers from the recording and runs no engine: drop {flags}")
    elif args.engine is None:
        args.engine = "reference" if args.model is not None else "fake"
    if args.engine == "fake" and given:
        raise CannotServe(
            f"{', '.join(given)} only {'applies' if len(given) == 1 else 'apply'} to the reference engine: "
            f"add --engine reference, or drop {'it' if len(given) == 1 else 'them'} to serve the fake"
        )
    if args.replay_strict and not args.replay:
        raise CannotServe("--replay-strict only applies with --replay FILE: add it, or drop --replay-strict")
    args.engine = args.engine or "fake"
    args.model = args.model or DEFAULT_MODEL
    args.device = args.device or "auto"
    args.max_batch = DEFAULT_MAX_BATCH if args.max_batch is None else args.max_batch


def run(args: argparse.Namespace) -> int:
    try:
        resolve_engine(args)
    except CannotServe as exc:
        return _refuse(exc)
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

        shown, example_key = _shown_keys(keys, args)

        def describe(title: str) -> str:
            return banner(
                base_url=base_url,
                title=title,
                keys=shown,
                example_key=example_key,
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
                describe(
                    f"fake provider ready (engine: fake, {args.workers} worker processes sharing the ledger, "
                    "journal and faults)"
                ),
                loopback,
                ait_failure_status,
                run,
            )
            return 0
        engine = _load_engine(args)
        provider = _provider(args, engine, store, ait_failure_status)
        from inpaint_conformance.fakes.app import create_app

        app = create_app(provider, admin_token=args.admin_token, loopback_only=loopback)
        if isinstance(provider, ReplayProvider):
            text = replay_banner(
                base_url=base_url,
                source=args.replay,
                replays=provider.summary(),
                matching=provider.matching_rule(),
                admin=_admin_rule(loopback, args.admin_token),
            )
        else:
            text = describe(_title(args, engine))
        with _signals_end_cleanly():
            _BannerServer(_uvicorn_config(app, limits_from_args(args)), text).run(sockets=[sock])
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


def _title(args: argparse.Namespace, engine: Engine) -> str:
    if args.engine == "reference":
        device = getattr(engine, "device", args.device)
        return f"reference provider ready (engine: reference, model {args.model}, device {device}; real diffusion)"
    return "fake provider ready (engine: fake: a seeded fill, no diffusion)"


def _uvicorn_config(app, limits: ConnectionLimits, **options) -> uvicorn.Config:
    return guarded_config(
        app,
        limits,
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
            # Each worker gets its share, so the N processes together keep to --memory-budget.
            memory_budget=MemoryBudget(parse_size(args.memory_budget) // args.workers, args.memory_wait),
        )
    )
    config = _uvicorn_config(
        "inpaint_conformance.fakes.app_factory:create_app_from_env",
        limits_from_args(args),
        factory=True,
        workers=args.workers,
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
    budget = MemoryBudget(parse_size(args.memory_budget), args.memory_wait)
    options = {
        "engine": engine,
        "ledger": store.ledger,
        "journal": store.journal,
        "faults": store.faults,
        "ait_failure_status": ait_failure_status,
        "memory_budget": budget,
    }
    if not getattr(args, "replay", None):
        return FakeProvider(**options)
    from inpaint_conformance.fakes.replay import RecordingError

    try:
        return ReplayProvider(args.replay, strict=args.replay_strict, **options)
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
    if args.replay and (args.workers > 1 or args.db or args.api_key):
        extra = [
            flag
            for flag, value in (("--workers", args.workers > 1), ("--db", args.db), ("--api-key", args.api_key))
            if value
        ]
        raise CannotServe(
            f"--replay answers every request from the recording (no key is checked, nothing is charged): "
            f"drop {', '.join(extra)}"
        )
    if args.workers > 1 and args.engine != "fake":
        raise CannotServe(
            "--workers > 1 runs the fake engine only (each worker would load the model): "
            "for more reference replicas use --ray"
        )
    if not 0 <= args.port <= 65535:
        raise CannotServe(f"--port must be in 0..65535 (0 picks a free port), got {args.port}")
    try:
        parse_size(args.memory_budget)
    except ValueError as exc:
        raise CannotServe(f"--memory-budget: {exc}") from None
    try:
        limits_from_args(args)
    except ValueError as exc:
        raise CannotServe(
            f"{exc}: check --header-timeout, --body-timeout, --keep-alive-timeout, --max-connections"
        ) from None
    if args.memory_wait < 0:
        raise CannotServe(f"--memory-wait must be >= 0 seconds, got {args.memory_wait}")
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


def _shown_keys(keys: dict[str, str], args: argparse.Namespace) -> tuple[dict[str, str], str | None]:
    """The banner's keys: a hint for each key given with --api-key, unless --show-keys (B3).

    The dev-key the fake makes when none is given is no secret: it is shown as it is.
    """
    if args.show_keys or not args.api_key:
        return keys, None
    shown = {key_hint(key): f"{note} (--show-keys prints it)" for key, note in keys.items()}
    return shown, "YOUR-KEY"


def _load_engine(args: argparse.Namespace) -> Engine:
    if args.engine == "fake" or args.replay:
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

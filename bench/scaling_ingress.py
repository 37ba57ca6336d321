"""Requests per second as the HTTP layer scales out: Ray ingress replicas and `serve --workers`, by store.

    python bench/scaling_ingress.py           # about 6 minutes on 2 cores
    python bench/scaling_ingress.py --quick   # about 2 minutes

Two groups, measured in one run with the same workload (one AIThriving request, PNG in
and out, a fixed seed) and the same concurrent clients, interleaved round by round:

- Ray Serve (a local instance), the fake engine (no model) on 1 engine replica, behind
  1, 2 and 4 ingress replicas sharing one PostgreSQL store (more than one needs it).
- `inpaint-conformance serve --workers 1` and `--workers 2`, each over a SQLite file
  and over PostgreSQL; `--workers 1` in memory (no store) as the baseline.

PostgreSQL is a throwaway server started for the run (fakes.throwaway_postgres: the
distribution's binaries, fsync off); each server gets a fresh database. On a 2-core
machine the HTTP layer cannot gain past two processes, and Ray's own processes (proxy,
front door, replicas, controller) share the same cores: read the ratios within a group,
and expect more replicas to pay on more cores or machines. "CPU ms/req" is the CPU the
servers used per answered request (the server's processes, Ray's processes, and the
PostgreSQL server where it is the store; not the clients): it moves much less than req/s
when other jobs share the machine. Numbers are printed, never asserted: the exit code is
0 whenever the bench could run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_CREDITS,
    BENCH_KEY,
    Api,
    Sample,
    build_call,
    command_line,
    console,
    fmt_ms,
    fmt_rate,
    fmt_ratio,
    load_average,
    print_machine,
    ratio,
    write_json,
)
from _load import LOOPBACK, free_port, http_worker, process_tree_cpu, run_concurrently, start_fake

INGRESS_REPLICAS = (1, 2, 4)


@dataclass(frozen=True)
class Config:
    group: str  # "ray" or "serve"
    label: str
    workers: int = 1  # serve --workers
    ingress: int = 1  # Ray ingress replicas
    store: str = "memory"  # "memory", "sqlite" or "postgresql"


def configs() -> list[Config]:
    ray = [
        Config("ray", f"Ray, {n} ingress replica(s), PostgreSQL", ingress=n, store="postgresql")
        for n in INGRESS_REPLICAS
    ]
    serve = [Config("serve", "serve --workers 1, in memory", workers=1)]
    serve += [
        Config("serve", f"serve --workers {w}, {'SQLite' if s == 'sqlite' else 'PostgreSQL'}", workers=w, store=s)
        for w in (1, 2)
        for s in ("sqlite", "postgresql")
    ]
    return ray + serve


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one round, 256 px only, shorter cells (about 2 minutes)")
    parser.add_argument("--seconds", type=float, help="seconds per measurement (default 5, quick 2)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 2, quick 1)")
    parser.add_argument("--sizes", help="image sides in pixels, comma-separated (default 256,1024; quick 256)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--no-ray", action="store_true", help="only the serve --workers group")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (2.0 if args.quick else 5.0)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.sizes = [int(s) for s in (args.sizes or ("256" if args.quick else "256,1024")).split(",")]
    if any(not 64 <= side <= 4096 for side in args.sizes):
        parser.error("--sizes must be 64..4096 px")
    return args


class _Serve(AbstractContextManager):
    """`inpaint-conformance serve --workers N [--db ...]` in a subprocess; `port` once ready."""

    def __init__(self, config: Config, db: str | None) -> None:
        self.server = start_fake(workers=config.workers, db=db)
        self.port = self.server.port

    def cpu_clock(self) -> Callable[[], float]:
        return process_tree_cpu(self.server.process.pid)

    def __exit__(self, *exc) -> None:
        self.server.stop()


class _Ray(AbstractContextManager):
    """The Ray app (fake engine, 1 engine replica) with N ingress replicas; `port` once ready."""

    def __init__(self, config: Config, db: str | None) -> None:
        from inpaint_conformance.reference_impl.ray_runtime import deploy
        from inpaint_conformance.reference_impl.ray_settings import RaySettings

        settings = RaySettings(
            engine="fake",
            replicas=1,
            ingress_replicas=config.ingress,
            cpus_per_replica=0.5,
            ingress_cpus=0.25,
            gpus_per_replica=0.0,
            db=db,
            api_keys=[(BENCH_KEY, BENCH_CREDITS)],
        )
        started = time.perf_counter()
        # Serve keeps the port its proxy got first: the port to use is the one deploy reports.
        base_url = deploy(settings, host=LOOPBACK, port=free_port(), num_cpus=4, timeout_s=300)
        self.port = int(base_url.rsplit(":", 1)[1])
        self.ready_s = time.perf_counter() - started

    @staticmethod
    def cpu_clock() -> Callable[[], float]:
        """Every process this one started (Ray's: GCS, raylet, proxy, replicas), not this one (the clients)."""
        family = process_tree_cpu(os.getpid())
        return lambda: family() - sum(os.times()[:2])

    def __exit__(self, *exc) -> None:
        from inpaint_conformance.reference_impl.ray_runtime import shutdown

        shutdown(keep_ray=True)  # the next deploy reuses the Ray instance; main() stops it


def measure(
    args, con, new_db: Callable[[str], str | None], postgres_cpu: Callable[[], float]
) -> tuple[dict[tuple[str, int], Sample], dict[str, float]]:
    results: dict[tuple[str, int], Sample] = {}
    ready: dict[str, float] = {}
    chosen = [c for c in configs() if not (args.no_ray and c.group == "ray")]
    for round_no in range(1, args.rounds + 1):
        for config in chosen:
            with con.status(f"round {round_no}/{args.rounds}: starting {config.label} ..."):
                db = new_db(config.store)
                server = (_Ray if config.group == "ray" else _Serve)(config, db)
            with server:
                if isinstance(server, _Ray):
                    ready[config.label] = round(server.ready_s, 1)
                # The store's server works for the HTTP layer: its CPU is part of the cost (idle otherwise).
                clock = _cpu_clock(server.cpu_clock(), postgres_cpu if config.store == "postgresql" else None)
                for side in args.sizes:
                    call = build_call(Api.AITHRIVING, side)
                    worker = http_worker(server.port, call, timeout=300)
                    run_concurrently(worker, min(4, args.clients), 0.5, max_requests=16)  # warm-up
                    with con.status(f"round {round_no}: {config.label}, {side} px, {args.clients} clients ..."):
                        sample = run_concurrently(worker, args.clients, args.seconds, cpu_clock=clock)
                    results.setdefault((config.label, side), Sample()).add(sample)
    return results, ready


def _cpu_clock(server: Callable[[], float], store: Callable[[], float] | None) -> Callable[[], float]:
    return server if store is None else (lambda: server() + store())


def report(args, con, results: dict[tuple[str, int], Sample], ready: dict[str, float]) -> list[dict]:
    from rich.table import Table

    rows = []
    for side in args.sizes:
        table = Table(
            title=f"aithriving {side}x{side} PNG, {args.clients} clients: req/s  (p50 / p99 ms)", title_justify="left"
        )
        for name in ("server", "req/s", "latency", "vs first of group", "CPU ms/req", "errors"):
            table.add_column(name, justify="left" if name == "server" else "right")
        firsts: dict[str, float] = {}
        for config in configs():
            sample = results.get((config.label, side))
            if sample is None:
                continue
            base = firsts.setdefault(config.group, sample.throughput)
            table.add_row(
                config.label,
                fmt_rate(sample.throughput),
                f"{fmt_ms(sample.p50)} / {fmt_ms(sample.p99)}",
                fmt_ratio(ratio(sample.throughput, base)),
                fmt_ms(sample.cpu_per_request) if sample.cpu_per_request is not None else "-",
                str(sample.errors),
            )
            rows.append({"server": config.label, "side": side, **sample.to_dict(), "ready_s": ready.get(config.label)})
        con.print(table)
    for (label, side), sample in results.items():
        if sample.errors:
            con.print(f"[yellow]{label}, {side} px: {sample.errors} failed requests, first: {sample.first_error}[/]")
    if any(ready.values()):
        con.print("Ray deploy (ready) times: " + ", ".join(f"{k}: {v} s" for k, v in ready.items() if v))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    con = console()
    from inpaint_conformance.fakes.throwaway_postgres import ThrowawayPostgres, unavailable_reason

    reason = unavailable_reason()
    if reason:
        con.print(f"[red]bench/scaling_ingress.py needs a throwaway PostgreSQL: {reason}[/]")
        return 2
    if not args.no_ray:
        try:
            import ray.serve  # noqa: F401
        except ImportError:
            con.print(
                "[red]the Ray group needs the 'cluster' extra (pip install 'inpaint-conformance[cluster]'), "
                "or run with --no-ray[/]"
            )
            return 2
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    info = print_machine(
        con, "bench/scaling_ingress.py: Ray ingress replicas and serve --workers, by store", command_line()
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-ingress-"))
    try:
        with ThrowawayPostgres() as postgres:
            counter = iter(range(1, 10_000))

            def new_db(store: str) -> str | None:
                if store == "postgresql":
                    return postgres.create_database()
                return str(folder / f"state-{next(counter)}.db") if store == "sqlite" else None

            results, ready = measure(args, con, new_db, process_tree_cpu(postgres.pid))
    except (RuntimeError, ValueError) as exc:
        con.print(f"[red]the bench could not run: {exc}[/]")
        return 2
    finally:
        if not args.no_ray:
            from inpaint_conformance.reference_impl.ray_runtime import shutdown

            shutdown()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    rows = report(args, con, results, ready)
    at_end = load_average()
    con.print(f"load average at the end: {at_end}")
    options = {"clients": args.clients, "rounds": args.rounds, "seconds_per_cell": args.seconds, "sizes": args.sizes}
    write_json(
        args.json,
        {
            "machine": info,
            "command": command_line(),
            "options": options,
            "results": rows,
            "load average at end": at_end,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput and latency of `inpaint-conformance serve` over loopback, side by side with
the floor (the same image work in-process, no HTTP) and Stoplight Prism (canned answers
from the exported OpenAPI document, no image work).

    python bench/fake.py             # about 3 minutes on 2 cores
    python bench/fake.py --quick     # about 30 s
    python bench/fake.py --workers 2 --json fake.json

Every compared thing is measured in the same run, interleaved round by round, so a
busy machine slows all columns alike: read the ratios, not the absolute numbers.
Targets: at 1024x1024 the fake reaches >= 0.9x the floor's throughput (best over the
client counts); at 256x256 with 8 clients >= 0.75x the floor's, where per-request
HTTP costs weigh most; and at 256x256 >= 1.0x Prism's while doing real image work.
Numbers are printed, never asserted: the exit code is 0 whenever the bench could run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prism
from _common import (
    APIS,
    Api,
    Sample,
    build_call,
    command_line,
    console,
    cores,
    floor_once,
    fmt_ms,
    fmt_rate,
    fmt_ratio,
    print_machine,
    ratio,
    write_json,
)
from _load import ServerProcess, fake_label, http_worker, process_tree_cpu, run_concurrently, start_fake

# (compared with, side, clients (None: the best over the client counts), target ratio)
TARGETS = (("floor", 1024, None, 0.9), ("floor", 256, 8, 0.75), ("prism", 256, None, 1.0))
PRISM_TARGET_SIDE = 256


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one short round (about 30 s)")
    parser.add_argument("--seconds", type=float, help="seconds per measurement (default 1.5, quick 0.6)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 2, quick 1)")
    parser.add_argument("--sizes", default="256,1024", help="image sides in pixels, comma-separated")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients, comma-separated")
    parser.add_argument("--api", choices=[a.value for a in APIS], help="one API only (default both)")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers N")
    parser.add_argument("--no-prism", action="store_true", help="skip the Prism column")
    parser.add_argument(
        "--prism-dir", type=Path, default=_prism.default_dir(), help="where npm installs Prism (default: %(default)s)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (0.6 if args.quick else 1.5)
    args.rounds = args.rounds or (1 if args.quick else 2)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",")]
        args.clients = [int(c) for c in args.clients.split(",")]
    except ValueError:
        parser.error(
            f"--sizes and --clients take whole numbers separated by commas, got {args.sizes!r} / {args.clients!r}"
        )
    if min(args.sizes) < 64 or max(args.sizes) > 4096 or min(args.clients) < 1 or max(args.clients) > 256:
        parser.error("sizes must be 64..4096 px (B4) and clients 1..256")
    args.apis = [Api.parse(args.api)] if args.api else list(APIS)
    return args


def start_prisms(args, con) -> tuple[dict[Api, ServerProcess], list[str]]:
    """One Prism per API document; notes say why a column is empty."""
    if args.no_prism:
        return {}, ["Prism skipped (--no-prism)"]
    notes: list[str] = []
    with con.status(f"installing {_prism.PACKAGE} (npm, once) ..."):
        binary, note = _prism.install(args.prism_dir)
    notes.append(note)
    servers: dict[Api, ServerProcess] = {}
    if binary is None:
        return servers, notes
    launched: dict[Api, ServerProcess] = {}
    for api in args.apis:  # launch both, then wait: Prism takes seconds to start
        document, why = _prism.openapi_json(api)
        if document is None:
            notes.append(why)
            continue
        launched[api] = _prism.launch(binary, document, api.value)
    for api, server in launched.items():
        try:
            with con.status(f"starting Prism for {api.value} ..."):
                server.wait_ready(timeout=90)
        except RuntimeError as exc:
            notes.append(f"Prism did not start for {api.value}: {exc}")
            continue
        refused, answered = _prism.probe(server.port, build_call(api, min(args.sizes)))
        if refused:
            notes.append(f"Prism refuses the {api.value} workload ({refused}): its column is empty")
            server.stop()
            continue
        notes.append(f"Prism ({api.value}) answers {answered}")
        servers[api] = server
    if args.quick:
        notes.append(
            f"--quick: Prism measured at {PRISM_TARGET_SIDE}x{PRISM_TARGET_SIDE} only (it parses a 1024 px upload "
            "in about 0.3 s of CPU, so its larger cells take long to drain)"
        )
    return servers, notes


def same_work(fake: ServerProcess, side: int) -> str:
    """The floor is only fair if it does the fake's image work: compare their answers' bytes.

    AIThriving with a fixed seed is deterministic, so the two bodies must be identical.
    """
    import http.client

    call = build_call(Api.AITHRIVING, side)
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=60)
    try:
        conn.request("POST", call.path, body=call.body, headers=call.headers)
        body = conn.getresponse().read()
    finally:
        conn.close()
    if body == floor_once(Api.AITHRIVING, side):
        return f"the floor's answer is byte-identical to the fake's ({call.label}, seed fixed): the same image work"
    return (
        f"[yellow]the floor's answer differs from the fake's ({call.label}): the fake does image work the floor "
        "does not (or other encoder settings); the fake/floor ratios compare different work[/]"
    )


def measure(args, con, fake: ServerProcess, prisms: dict[Api, ServerProcess]) -> dict[tuple, Sample]:
    """Rounds of: floor, fake, Prism for every (api, size, clients), interleaved."""
    results: dict[tuple, Sample] = {}
    floor_threads = sorted({min(c, cores()) for c in args.clients})
    fake_cpu = process_tree_cpu(fake.process.pid)
    prism_cpu = {api: process_tree_cpu(server.process.pid) for api, server in prisms.items()}

    def record(key: tuple, sample: Sample) -> None:
        results.setdefault(key, Sample()).add(sample)

    def floor_worker(api: Api, side: int):
        return lambda: lambda: (floor_once(api, side), None)[1]

    # Warm-up: first requests pay imports, caches and connection set-up.
    for api in args.apis:
        for side in args.sizes:
            call = build_call(api, side)
            run_concurrently(http_worker(fake.port, call), 2, 0.2, max_requests=4)
            if api in prisms and (side == PRISM_TARGET_SIDE or not args.quick):
                run_concurrently(http_worker(prisms[api].port, call, any_2xx=True), 2, 0.2, max_requests=4)
    with con.status("measuring ...") as status:
        for round_no in range(1, args.rounds + 1):
            for api in args.apis:
                for side in args.sizes:
                    call = build_call(api, side)
                    where = f"round {round_no}/{args.rounds}: {call.label}"
                    for threads in floor_threads:
                        status.update(f"{where}: floor, {threads} threads")
                        record(
                            ("floor", api, side, threads),
                            run_concurrently(
                                floor_worker(api, side), threads, args.seconds, cpu_clock=time.process_time
                            ),
                        )
                    for clients in args.clients:
                        status.update(f"{where}: fake, {clients} clients")
                        record(
                            ("fake", api, side, clients),
                            run_concurrently(http_worker(fake.port, call), clients, args.seconds, cpu_clock=fake_cpu),
                        )
                        if api in prisms and (side == PRISM_TARGET_SIDE or not args.quick):
                            status.update(f"{where}: prism, {clients} clients")
                            worker = http_worker(prisms[api].port, call, any_2xx=True)
                            record(
                                ("prism", api, side, clients),
                                run_concurrently(worker, clients, args.seconds, cpu_clock=prism_cpu[api]),
                            )
    return results


def best(results: dict[tuple, Sample], kind: str, api: Api, side: int) -> Sample | None:
    samples = [s for (k, a, sd, _), s in results.items() if (k, a, sd) == (kind, api, side) and s.ok]
    return max(samples, key=lambda s: s.throughput, default=None)


def report(args, con, results: dict[tuple, Sample], notes: list[str]) -> list[dict]:
    from rich.table import Table

    def cell(sample: Sample | None) -> str:
        if sample is None or not sample.ok:
            return "-" if sample is None else f"[red]0 ok, {sample.errors} errors[/]"
        return f"{fmt_rate(sample.throughput)}  ({fmt_ms(sample.p50)} / {fmt_ms(sample.p99)})"

    for api in args.apis:
        for side in args.sizes:
            call = build_call(api, side)
            table = Table(
                title=f"{call.label} PNG, upload {len(call.body) / 1024:,.0f} KiB: req/s  (p50 / p99 ms)",
                title_justify="left",
            )
            for name in ("clients", "floor", "fake", "fake/floor", "Prism", "fake/Prism"):
                table.add_column(name, justify="right")
            for clients in args.clients:
                floor = results.get(("floor", api, side, min(clients, cores())))
                fake = results.get(("fake", api, side, clients))
                prism = results.get(("prism", api, side, clients))
                table.add_row(
                    str(clients),
                    cell(floor),
                    cell(fake),
                    fmt_ratio(ratio(fake.throughput, floor.throughput) if fake and floor else None),
                    cell(prism),
                    fmt_ratio(ratio(fake.throughput, prism.throughput) if fake and prism else None),
                )
            con.print(table)
            for kind in ("fake", "prism"):
                for clients in args.clients:
                    sample = results.get((kind, api, side, clients))
                    if sample and sample.errors:
                        con.print(
                            f"[yellow]{kind} {call.label}, {clients} clients: {sample.errors} failed requests, "
                            f"first: {sample.first_error}[/]"
                        )
    con.print(
        f"floor: decode + fill + composite + encode in this process, {min(max(args.clients), cores())} threads at most "
        f"({cores()} cores); fake: {fake_label()}{f' --workers {args.workers}' if args.workers > 1 else ''}."
    )
    for note in notes:
        con.print(f"note: {note}")
    cpu_table(args, con, results)
    return targets(args, con, results)


def pooled(results: dict[tuple, Sample], kind: str, api: Api, side: int) -> Sample | None:
    """All client counts of one kind pooled: its CPU time per request."""
    found = [s for (k, a, sd, _), s in results.items() if (k, a, sd) == (kind, api, side)]
    if not found:
        return None
    total = Sample()
    for sample in found:
        total.add(sample)
    return total


def cpu_table(args, con, results: dict[tuple, Sample]) -> None:
    """CPU per request: what each column costs the machine, robust to other jobs sharing it."""
    from rich.table import Table

    table = Table(
        title="server CPU ms per request, all client counts pooled (robust to a busy machine)", title_justify="left"
    )
    for name in ("workload", "floor", "fake", "fake/floor", "Prism", "fake/Prism"):
        table.add_column(name, justify="left" if name == "workload" else "right")
    for api in args.apis:
        for side in args.sizes:
            cpu = {
                kind: (pooled(results, kind, api, side) or Sample()).cpu_per_request
                for kind in ("floor", "fake", "prism")
            }
            table.add_row(
                build_call(api, side).label,
                *(fmt_ms(cpu[k]) if cpu[k] else "-" for k in ("floor", "fake")),
                fmt_ratio(ratio(cpu["fake"], cpu["floor"])),
                fmt_ms(cpu["prism"]) if cpu["prism"] else "-",
                fmt_ratio(ratio(cpu["fake"], cpu["prism"])),
            )
    con.print(table)


def targets(args, con, results: dict[tuple, Sample]) -> list[dict]:
    """Best throughput over the client counts, fake against floor and against Prism.

    Beside it, the same comparison in CPU per request (other / fake: the throughput
    ratio the two would reach on an otherwise idle machine using every core).
    """
    from rich.table import Table

    table = Table(title="targets (throughput: best over client counts or as named; CPU: pooled)", title_justify="left")
    for name in ("API", "comparison", "throughput ratio", "CPU-per-request ratio", "target"):
        table.add_column(name, justify="left" if name in ("API", "comparison") else "right")
    checks: list[dict] = []
    for api in args.apis:
        for other, side, clients, target in TARGETS:
            if side not in args.sizes or (clients is not None and clients not in args.clients):
                continue
            if clients is None:
                fake, base = best(results, "fake", api, side), best(results, other, api, side)
            else:
                fake = results.get(("fake", api, side, clients))
                base = results.get((other, api, side, min(clients, cores()) if other == "floor" else clients))
            value = ratio(fake.throughput, base.throughput) if fake and base and fake.ok and base.ok else None
            fake_cpu, base_cpu = (pooled(results, k, api, side) or Sample() for k in ("fake", other))
            by_cpu = ratio(base_cpu.cpu_per_request, fake_cpu.cpu_per_request)
            label = f"fake / {'Prism' if other == 'prism' else 'floor'} at {side}x{side}"
            label += f", {clients} clients" if clients is not None else ""
            table.add_row(api.value, label, fmt_ratio(value, target), fmt_ratio(by_cpu, target), f">= {target:.2f}x")
            checks.append(
                {
                    "api": api.value,
                    "comparison": label,
                    "side": side,
                    "clients": clients,
                    "other": other,
                    "ratio": value,
                    "cpu_ratio": by_cpu,
                    "target": target,
                    "met": None if value is None else value >= target,
                }
            )
    con.print(table)
    return checks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    con = console()
    info = print_machine(con, "bench/fake.py: the fake over loopback", command_line())
    for api in args.apis:  # the floor must work before anything is compared with it
        for side in args.sizes:
            floor_once(api, side)
    try:
        with con.status(f"starting {fake_label()} ..."):
            fake = start_fake(workers=args.workers)
    except RuntimeError as exc:
        con.print(f"[red]could not start the fake: {exc}[/]")
        return 2
    prisms: dict[Api, ServerProcess] = {}
    try:
        prisms, notes = start_prisms(args, con)
        notes.append(same_work(fake, min(args.sizes)))
        results = measure(args, con, fake, prisms)
        checks = report(args, con, results, notes)
    finally:
        for server in [fake, *prisms.values()]:
            server.stop()
    write_json(
        args.json,
        {
            "machine": info,
            "command": command_line(),
            "seconds_per_cell": args.seconds,
            "rounds": args.rounds,
            "results": [
                {"kind": k, "api": a.value, "side": s, "clients": c, **sample.to_dict()}
                for (k, a, s, c), sample in results.items()
            ],
            "targets": checks,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

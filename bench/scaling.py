"""How the fake's cost grows with image size (256 to 4096 px a side) and with concurrency.

    python bench/scaling.py           # about 1-2 minutes
    python bench/scaling.py --quick   # about 30 s

Size: one client, the median time of a request to `inpaint-conformance serve` over
loopback and of the floor (the same image work in-process), per size. The cost
should grow no faster than the pixel count: the column "cost/pixel vs smallest" stays
at or under 1.0x when fixed per-request costs are amortised, not multiplied.
Concurrency: requests per second and latency at 1 to 32 clients; past the core count
throughput should hold steady and latency grow only by queueing (Little's law: p50
close to clients / throughput). Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    APIS,
    Api,
    Sample,
    build_call,
    command_line,
    console,
    floor_once,
    fmt_ms,
    fmt_rate,
    fmt_ratio,
    print_machine,
    ratio,
    write_json,
)
from _load import fake_label, http_worker, run_concurrently, start_fake

SIZES = (256, 512, 1024, 2048, 4096)
CLIENTS = (1, 2, 4, 8, 16, 32)
REQUESTS = {256: 30, 512: 16, 1024: 8, 2048: 3, 4096: 2}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, sizes up to 2048, one API (about 30 s)")
    parser.add_argument("--api", choices=[a.value for a in APIS], help="one API only (default both; quick: vyro)")
    parser.add_argument("--side", type=int, default=1024, help="image side for the concurrency table (default 1024)")
    parser.add_argument("--seconds", type=float, help="seconds per concurrency level (default 2.0, quick 0.8)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    args.sizes = SIZES[:-1] if args.quick else SIZES
    args.apis = [Api.parse(args.api)] if args.api else ([Api.VYRO] if args.quick else list(APIS))
    args.seconds = args.seconds or (0.8 if args.quick else 2.0)
    if not 64 <= args.side <= 4096:
        parser.error("--side must be 64..4096 px")
    return args


def timings(fn, count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def by_size(args, con, port: int) -> list[dict]:
    from rich.table import Table

    rows = []
    with con.status("size scaling ...") as status:
        for api in args.apis:
            for side in args.sizes:
                status.update(f"size scaling: {api.value} {side}x{side}")
                call = build_call(api, side)
                count = max(2, REQUESTS[side] // (2 if args.quick else 1))
                worker = http_worker(port, call)()
                worker(), floor_once(api, side)  # warm-up
                floor, fake = [], []
                for _ in range(2):  # interleaved halves: a busy moment slows both
                    floor += timings(lambda api=api, side=side: floor_once(api, side), count)
                    fake += timings(lambda worker=worker: _ok(worker()), count)
                rows.append(
                    {
                        "api": api.value,
                        "side": side,
                        "upload_bytes": len(call.body),
                        "floor_s": statistics.median(floor),
                        "fake_s": statistics.median(fake),
                    }
                )
    table = Table(title="cost by image size (1 client, median per request)", title_justify="left")
    for name in (
        "API",
        "image",
        "upload KiB",
        "floor ms",
        "fake ms",
        "fake/floor time",
        "fake ms/Mpx",
        "cost/pixel vs smallest",
    ):
        table.add_column(name, justify="left" if name in ("API", "image") else "right")
    for api in args.apis:
        mine = [r for r in rows if r["api"] == api.value]
        base = mine[0]
        for row in mine:
            megapixels = row["side"] ** 2 / 1e6
            growth = (row["fake_s"] / base["fake_s"]) / (row["side"] ** 2 / base["side"] ** 2)
            row["per_pixel_vs_smallest"] = growth
            table.add_row(
                api.value,
                f"{row['side']}x{row['side']}",
                f"{row['upload_bytes'] / 1024:,.0f}",
                fmt_ms(row["floor_s"]),
                fmt_ms(row["fake_s"]),
                fmt_ratio(ratio(row["fake_s"], row["floor_s"])),
                f"{row['fake_s'] * 1000 / megapixels:,.1f}",
                fmt_ratio(growth, 1.0, higher_is_better=False),
            )
    con.print(table)
    return rows


def _ok(error: str | None) -> None:
    if error:
        raise RuntimeError(f"the fake failed a request: {error}")


def by_clients(args, con, port: int) -> list[dict]:
    from rich.table import Table

    rows = []
    with con.status("concurrency scaling ...") as status:
        for api in args.apis:
            call = build_call(api, args.side)
            for clients in CLIENTS:
                status.update(f"concurrency scaling: {api.value} {args.side}x{args.side}, {clients} clients")
                sample: Sample = run_concurrently(http_worker(port, call), clients, args.seconds)
                rows.append({"api": api.value, "clients": clients, **sample.to_dict(), "_sample": sample})
    table = Table(title=f"cost by concurrency ({args.side}x{args.side})", title_justify="left")
    for name in (
        "API",
        "clients",
        "req/s",
        "ms per request (1 / req/s)",
        "p50 ms",
        "p99 ms",
        "p50 / (clients / req/s)",
    ):
        table.add_column(name, justify="left" if name == "API" else "right")
    for row in rows:
        sample = row.pop("_sample")
        little = sample.p50 / (row["clients"] / sample.throughput) if sample.throughput else None
        table.add_row(
            row["api"],
            str(row["clients"]),
            fmt_rate(sample.throughput),
            fmt_ms(1 / sample.throughput) if sample.throughput else "-",
            fmt_ms(sample.p50),
            fmt_ms(sample.p99),
            fmt_ratio(little),
        )
        if sample.errors:
            con.print(
                f"[yellow]{row['api']} {row['clients']} clients: {sample.errors} failed, first: {sample.first_error}[/]"
            )
    con.print(table)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    con = console()
    info = print_machine(con, "bench/scaling.py: the fake's cost by size and concurrency", command_line())
    try:
        with con.status(f"starting {fake_label()} ..."):
            fake = start_fake()
    except RuntimeError as exc:
        con.print(f"[red]could not start the fake: {exc}[/]")
        return 2
    try:
        sizes = by_size(args, con, fake.port)
        clients = by_clients(args, con, fake.port)
    except RuntimeError as exc:
        con.print(f"[red]{exc}[/]")
        return 2
    finally:
        fake.stop()
    con.print(
        "fake ms/Mpx falls as images grow: per-request costs (HTTP, multipart, journal) are fixed; "
        "the pixel work is linear (decode, fill, composite, encode)."
    )
    write_json(args.json, {"machine": info, "command": command_line(), "by_size": sizes, "by_clients": clients})
    return 0


if __name__ == "__main__":
    sys.exit(main())

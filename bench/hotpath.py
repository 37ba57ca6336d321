"""Where the fake's time goes: its request handler against the floor, and the server around it.

    python bench/hotpath.py            # about 1 minute
    python bench/hotpath.py --quick    # about 20 s

Three CPU figures per workload, in milliseconds per request, measured back to back:
  floor    the image work alone (decode, fill, composite, encode) in this process;
  handler  `FakeProvider.handle` in this process: the floor's work plus multipart
           parsing, validation, ledger, journal and its thumbnails;
  server   `inpaint-conformance serve` over loopback, one client, read from /proc:
           the handler plus HTTP, the ASGI app and the hop to a worker thread.
Then the handler's time by part, from cProfile (which slows Python code more than C
code, so the Python parts read larger than they are). Numbers are printed, never
asserted: the exit code is 0 whenever the bench could run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    APIS,
    BENCH_CREDITS,
    BENCH_KEY,
    build_call,
    command_line,
    console,
    floor_once,
    fmt_ms,
    fmt_ratio,
    print_machine,
    ratio,
    write_json,
)
from _load import http_worker, process_tree_cpu, run_concurrently, start_fake

# Parts of the handler, by the function that does them (file suffix, function name).
# Listed innermost first: a part's time is its own, without the parts listed before it.
PARTS = (
    ("multipart parsing", "contracts/multipart.py", "parse_form"),
    ("image and mask decoding", "contracts/images.py", "decode_image"),
    ("validation (the rest)", "contracts/request_validation.py", "validate_request"),
    ("engine fill", "fakes/engine.py", "inpaint"),
    ("composite", "fakes/imaging.py", "composite"),
    ("encoding the output", "fakes/imaging.py", "encode"),
    ("envelope (base64, JSON)", "contracts/envelopes.py", "ait_success"),
    ("journal thumbnails", "fakes/imaging.py", "thumbnail_uri"),
    ("journal (the rest)", "fakes/provider.py", "_record"),
    ("handler (the rest)", "fakes/provider.py", "handle"),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (about 20 s)")
    parser.add_argument("--sizes", default="256,1024", help="image sides in pixels, comma-separated")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    return args


def requests_for(side: int, quick: bool) -> int:
    count = 120 if side <= 256 else 12
    return max(4, count // (3 if quick else 1))


def cpu_per_call(fn, calls: int, rounds: int = 3) -> float:
    """The least CPU seconds per call over a few rounds: other jobs on the machine only ever add."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - started) / calls)
    return best


def parts_of(profile: cProfile.Profile) -> dict[str, float]:
    """Seconds per part (exclusive of the parts nested in it), from cumulative times."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    cumulative: dict[str, float] = {}
    for (filename, _, function), (_, _, _, cum, _) in stats.items():
        for name, suffix, wanted in PARTS:
            if function == wanted and filename.replace("\\", "/").endswith(suffix):
                cumulative[name] = cumulative.get(name, 0.0) + cum
    nested = {
        "validation (the rest)": ("multipart parsing", "image and mask decoding"),
        "journal (the rest)": ("journal thumbnails",),
        "handler (the rest)": tuple(name for name, _, _ in PARTS if name != "handler (the rest)"),
    }
    own = dict(cumulative)
    for outer, inner in nested.items():
        if outer in own:
            own[outer] = max(0.0, cumulative[outer] - sum(cumulative.get(n, 0.0) for n in inner))
    return own


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    con = console()
    info = print_machine(con, "bench/hotpath.py: where the fake's time goes", command_line())
    from rich.table import Table

    from inpaint_conformance.fakes.provider import FakeProvider

    provider = FakeProvider()  # as `serve` runs it: journal thumbnails on
    provider.add_key(BENCH_KEY, BENCH_CREDITS)
    try:
        fake = start_fake()
    except RuntimeError as exc:
        con.print(f"[red]could not start the fake: {exc}[/]")
        return 2
    rows = []
    try:
        server_cpu = process_tree_cpu(fake.process.pid)
        with con.status("measuring ...") as status:
            for api in APIS:
                for side in args.sizes:
                    status.update(f"{api.value} {side}x{side}")
                    call = build_call(api, side)
                    request = call.http_request()
                    calls = requests_for(side, args.quick)
                    for _ in range(3):  # warm-up: imports, caches
                        provider.handle(request), floor_once(api, side)
                    run_concurrently(http_worker(fake.port, call), 1, 0.2, max_requests=3)
                    floor = cpu_per_call(lambda api=api, side=side: floor_once(api, side), calls)
                    handler = cpu_per_call(lambda request=request: provider.handle(request), calls)
                    rounds = [
                        run_concurrently(http_worker(fake.port, call), 1, 60, max_requests=calls, cpu_clock=server_cpu)
                        for _ in range(3)
                    ]
                    served = min(rounds, key=lambda s: s.cpu_per_request or float("inf"))
                    profile = cProfile.Profile()
                    profile.enable()
                    for _ in range(calls):
                        provider.handle(request)
                    profile.disable()
                    parts = parts_of(profile)
                    total = sum(parts.values()) or 1.0
                    rows.append(
                        {
                            "api": api.value,
                            "side": side,
                            "floor_cpu_ms": floor * 1000,
                            "handler_cpu_ms": handler * 1000,
                            "server_cpu_ms": (served.cpu_per_request or 0) * 1000,
                            "server_errors": served.errors,
                            "parts_percent": {name: 100 * parts.get(name, 0.0) / total for name, _, _ in PARTS},
                        }
                    )
    finally:
        fake.stop()
    table = Table(title="CPU ms per request (least of 3 rounds; server: 1 client, from /proc)", title_justify="left")
    for name in ("workload", "floor", "handler", "server", "floor/handler", "floor/server"):
        table.add_column(name, justify="left" if name == "workload" else "right")
    for row in rows:
        table.add_row(
            f"{row['api']} {row['side']}x{row['side']}",
            fmt_ms(row["floor_cpu_ms"] / 1000),
            fmt_ms(row["handler_cpu_ms"] / 1000),
            fmt_ms(row["server_cpu_ms"] / 1000),
            fmt_ratio(ratio(row["floor_cpu_ms"], row["handler_cpu_ms"])),
            fmt_ratio(ratio(row["floor_cpu_ms"], row["server_cpu_ms"])),
        )
    con.print(table)
    parts = Table(title="the handler's time by part, % (cProfile)", title_justify="left")
    parts.add_column("part")
    for row in rows:
        parts.add_column(f"{row['api']} {row['side']}", justify="right")
    for name, _, _ in PARTS:
        parts.add_row(name, *(f"{row['parts_percent'][name]:.1f}" for row in rows))
    con.print(parts)
    write_json(args.json, {"machine": info, "command": command_line(), "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())

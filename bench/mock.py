"""The cost of one call through the in-process mocks (httpx via respx, requests via
responses) against the floor: the same decode, fill and encode with no HTTP at all.

    python bench/mock.py            # about 1 minute
    python bench/mock.py --quick    # about 15 s

Target (issue "Benchmarks"): one mocked call costs at most 1.3x the floor. Calls run
one at a time (a mock has no socket to queue on), interleaved round by round with
the floor; the medians of wall time and of CPU time (robust when other jobs share
the machine) are compared. Numbers are printed, never asserted.
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
    BENCH_CREDITS,
    BENCH_KEY,
    Api,
    build_call,
    command_line,
    console,
    floor_once,
    fmt_ms,
    fmt_ratio,
    not_served,
    print_machine,
    ratio,
    write_json,
)

TARGET = 1.3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (about 15 s)")
    parser.add_argument("--sizes", default="256,1024", help="image sides in pixels, comma-separated")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 2)")
    parser.add_argument(
        "--thumbnails",
        action="store_true",
        help="turn the journal's thumbnails on (the mocks leave them off: they are for serve's dashboard)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 5)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes takes whole numbers separated by commas, got {args.sizes!r}")
    if min(args.sizes) < 64 or max(args.sizes) > 4096:
        parser.error("sizes must be 64..4096 px")
    return args


def provider_url(api: Api) -> str:
    """The real provider URL: the mocks intercept it, so user code needs no change."""
    from inpaint_conformance.contracts.rules import PATHS, PROVIDER_HOSTS

    return f"https://{PROVIDER_HOSTS[api]}{PATHS[api]}"


def callers(api: Api, side: int):
    """name -> a function making one mocked call; each checks the answer is a served inpaint."""
    import httpx
    import requests

    call, url = build_call(api, side), provider_url(api)
    session, client = requests.Session(), httpx.Client()

    def check(status: int, content_type: str | None, body: bytes) -> None:
        why = not_served(api, status, content_type, body)
        if why:
            raise RuntimeError(f"the mock did not serve the call: {why}")

    def answer(r) -> tuple[int, str | None, bytes]:
        return r.status_code, r.headers.get("content-type"), r.content

    return {
        "httpx (respx)": lambda: check(*answer(client.post(url, content=call.body, headers=call.headers))),
        "requests (responses)": lambda: check(*answer(session.post(url, data=call.body, headers=call.headers))),
    }


def per_call(fn, calls: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each call. CPU time of this process barely moves when other
    jobs share the machine; wall time also shows waiting (a mock's sleep, a lock)."""
    times = []
    for _ in range(calls):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    con = console()
    info = print_machine(con, "bench/mock.py: one call through the in-process mocks", command_line())
    try:
        from inpaint_conformance.fakes.mocks import default_provider, mock_providers
    except ImportError as exc:
        con.print(f"[red]the mocks are not available ({exc}): fakes/mocks.py provides mock_providers()[/]")
        return 2
    provider = default_provider()  # what `with mock_providers():` gives a user, plus the bench key
    provider.add_key(BENCH_KEY, BENCH_CREDITS)
    provider.thumbnails = args.thumbnails
    times: dict[tuple, list[tuple[float, float]]] = {}
    with mock_providers(provider), con.status("measuring ...") as status:
        for api in APIS:
            for side in args.sizes:
                doors = callers(api, side)
                calls = max(3, (40 if side <= 256 else 6) // (2 if args.quick else 1))
                for door in doors.values():  # warm-up: imports, route tables, first decode
                    door()
                floor_once(api, side)
                for round_no in range(1, args.rounds + 1):
                    status.update(f"round {round_no}/{args.rounds}: {api.value} {side}x{side}")
                    times.setdefault(("floor", api, side), []).extend(
                        per_call(lambda api=api, side=side: floor_once(api, side), calls)
                    )
                    for name, door in doors.items():
                        times.setdefault((name, api, side), []).extend(per_call(door, calls))
    results = report(con, args, times)
    write_json(
        args.json, {"machine": info, "command": command_line(), "thumbnails": args.thumbnails, "results": results}
    )
    return 0


def report(con, args, times: dict[tuple, list[tuple[float, float]]]) -> list[dict]:
    from rich.table import Table

    doors = ("httpx (respx)", "requests (responses)")
    table = Table(
        title=f"median ms per call (wall / CPU), and mocked call / floor (target <= {TARGET}x)", title_justify="left"
    )
    for name in ("API", "image", "floor", *[f"{d} {what}" for d in doors for what in ("", "ratio")]):
        table.add_column(name.strip(), justify="left" if name in ("API", "image") else "right")
    results = []

    def medians(key: tuple) -> tuple[float, float]:
        return statistics.median(w for w, _ in times[key]), statistics.median(c for _, c in times[key])

    for api in APIS:
        for side in args.sizes:
            floor = medians(("floor", api, side))
            row = [api.value, f"{side}x{side}", f"{fmt_ms(floor[0])} / {fmt_ms(floor[1])}"]
            for door in doors:
                mocked = medians((door, api, side))
                wall, cpu = ratio(mocked[0], floor[0]), ratio(mocked[1], floor[1])
                row += [
                    f"{fmt_ms(mocked[0])} / {fmt_ms(mocked[1])}",
                    f"{fmt_ratio(wall, TARGET, higher_is_better=False)} / {fmt_ratio(cpu, TARGET, higher_is_better=False)}",
                ]
                results.append(
                    {
                        "api": api.value,
                        "side": side,
                        "door": door,
                        "calls": len(times[(door, api, side)]),
                        "wall_ms": round(mocked[0] * 1000, 3),
                        "cpu_ms": round(mocked[1] * 1000, 3),
                        "floor_wall_ms": round(floor[0] * 1000, 3),
                        "floor_cpu_ms": round(floor[1] * 1000, 3),
                        "wall_ratio": wall,
                        "cpu_ratio": cpu,
                        "target": TARGET,
                    }
                )
            table.add_row(*row)
    con.print(table)
    con.print(
        "floor: decode + fill + composite + encode in this process, no HTTP, no validation, no journal; "
        "a mocked call adds the client library, the mock's routing, validation, ledger and journal"
        f"{', with journal thumbnails' if args.thumbnails else ' (no thumbnails, as the mocks run)'}."
    )
    return results


if __name__ == "__main__":
    sys.exit(main())

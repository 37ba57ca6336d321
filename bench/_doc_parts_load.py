"""Generated doc parts for the load benchmarks: memory under big uploads (bench/memory.py),
slow clients (bench/slow_clients.py), and scaling the HTTP layer out (bench/scaling_ingress.py).

Each renders the JSON its script wrote with `--json`, the targets of bench/README.md's
table checked against it (met / not met), and where the numbers come from."""

from __future__ import annotations

from collections.abc import Callable

from _doc_format import load, ms, rate, source, table, x

from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS

# name -> the command that writes bench/results/<name>.json (plus --json PATH)
BENCHES: dict[str, list[str]] = {
    "memory": ["bench/memory.py"],
    "slow-clients": ["bench/slow_clients.py"],
    "scaling-ingress": ["bench/scaling_ingress.py"],
}


def verdict(met: bool | None) -> str:
    return "met" if met else ("not measured" if met is None else "**not met**")


def sourced(name: str, numbers: dict) -> str:
    """The part's source line, with the load average at the end of the run where the script kept it."""
    at_end = numbers.get("load average at end")
    return f"From {source(name, numbers)}" + (f" Load average at the end: {at_end}." if at_end else "")


# -- bench/memory.py ---------------------------------------------------------------------------
def part_memory(name: str) -> str:
    numbers = load(name)
    side, floor, budget, targets = numbers["side"], numbers["floor"], numbers["memory_budget"], numbers["targets_mb"]
    rows = [
        [
            f"floor: one {side}x{side} 16-bit RGBA upload decoded, filled, composited, encoded in one process",
            str(floor["idle_mb"]),
            str(floor["peak_mb"]),
            "-",
            "-",
        ]
    ]
    checks = []
    fake = numbers.get("fake")
    if fake:
        charged = fake["credits_spent"]
        expected = CREDITS_PER_SUCCESS * fake["ok"]
        budget_flag = f"--memory-budget {budget['mb']} MiB" + (" (its default)" if budget["serve_default"] else "")
        rows.append(
            [
                f"`serve`, {fake['clients']} such uploads ({fake['upload_bytes'] / 1024:.0f} KiB each) at once, {budget_flag}",
                str(fake["idle_mb"]),
                f"**{fake['peak_mb']}**",
                str(fake["after_mb"]),
                f"{fake['ok']} ok, {fake['refused']} refused ({fake['429_with_retry_after']} x 429 with Retry-After), "
                f"{fake['5xx_or_no_answer']} 5xx or no answer, in {fake['seconds']} s; {charged} credits spent "
                + (
                    f"= {CREDITS_PER_SUCCESS} x {fake['ok']} successes"
                    if charged == expected
                    else f"(expected {expected})"
                ),
            ]
        )
        checks += [
            [
                "`serve` peak RSS",
                f"< {targets['fake']} MB",
                f"{fake['peak_mb']} MB",
                verdict(fake["peak_mb"] < targets["fake"]),
            ],
            [
                "`serve` answers",
                "no 5xx, every upload answered",
                f"{fake['5xx_or_no_answer']} 5xx or no answer, {fake['answers']} answers to {fake['clients']}",
                verdict(fake["5xx_or_no_answer"] == 0 and fake["answers"] == fake["clients"]),
            ],
            ["credits", "only successes charged", f"{charged} for {fake['ok']} ok", verdict(charged == expected)],
        ]
    proxy = numbers.get("proxy")
    if proxy:
        rows.append(
            [
                f"`proxy` in front of `serve`, {proxy['uploads']} uploads of {proxy['upload_bytes'] / 1e6:.1f} MB "
                f"({proxy['image_side']} px noise PNG), {proxy['clients']} client(s)",
                str(proxy["idle_mb"]),
                f"**{proxy['peak_mb']}**",
                str(proxy["after_mb"]),
                f"{proxy['ok']} ok, {proxy['5xx_or_no_answer']} 5xx or no answer, in {proxy['seconds']} s",
            ]
        )
        checks.append(
            [
                "`proxy` peak RSS",
                f"< {targets['proxy']} MB",
                f"{proxy['peak_mb']} MB",
                verdict(proxy["peak_mb"] < targets["proxy"]),
            ]
        )
    text = table(["what", "idle RSS MB", "peak RSS MB", "RSS MB 3 s after", "answers"], rows, right_to=4)
    lines = [f"\n{text}\n"]
    if fake and fake.get("priced_mb"):
        room = max(1, budget["mb"] // fake["priced_mb"])
        refused = (
            f"{fake['refused']} waited past `--memory-wait` ({budget['wait_s']:g} s) and got the 429 with "
            "Retry-After that B5 allows, uncharged"
            if fake["refused"]
            else f"none waited past `--memory-wait` ({budget['wait_s']:g} s): no 429 in this run"
        )
        lines.append(
            f"The memory budget prices each such upload at {fake['priced_mb']} MiB from its headers (nothing "
            f"decoded): room for {room} at a time in {budget['mb']} MiB. Of the {fake['clients']} uploads, {refused}.\n"
        )
    lines.append(table(["target (the table at the top)", "wanted", "measured", ""], checks, right_from=4) + "\n")
    lines.append(sourced(name, numbers) + "\n")
    return "\n".join(lines)


# -- bench/slow_clients.py ---------------------------------------------------------------------
SLOW_MODES = {
    "headers": "dribble headers (a byte every 2 s)",
    "body": "dribble a 1 MB body (a byte every 2 s)",
    "idle": "connect and say nothing",
}


def _slow_answers(answers: dict[str, int]) -> str:
    """'HTTP/1.1 408 Request Timeout' -> '408 Request Timeout (N)', most frequent first."""
    said = [(line.removeprefix("HTTP/1.1 ").removeprefix("HTTP/1.0 "), n) for line, n in answers.items()]
    return ", ".join(f"{what} ({n})" for what, n in sorted(said, key=lambda a: -a[1])) or "-"


def part_slow_clients(name: str) -> str:
    numbers = load(name)
    results, target = numbers["results"], numbers["target_s"]
    rows = [
        [
            SLOW_MODES.get(r["mode"], r["mode"]),
            f"{r['normal_ok']}/{r['normal_requests']}",
            "-" if r["normal_p50_s"] is None else f"{r['normal_p50_s']:.2f}",
            "-" if r["normal_max_s"] is None else f"{r['normal_max_s']:.2f}",
            _slow_answers(r["slow_answers"]),
        ]
        for r in results
    ]
    text = table(
        [
            "slow clients",
            "normal requests answered 200",
            "p50 s",
            f"max s (target <= {target:g})",
            "what the slow connections got",
        ],
        rows,
        right_to=4,
    )
    first = results[0] if results else {}
    missed = [SLOW_MODES.get(r["mode"], r["mode"]) for r in results if not r["within_target"]]
    check = (
        f"every normal request answered 200 within {target:g} s, in every mode: {verdict(bool(results) and not missed)}"
        + (f" (missed: {'; '.join(missed)})" if missed else "")
    )
    return (
        f"\n{first.get('connections', '?')} slow connections per mode, the server under `ulimit -n "
        f"{first.get('nofile', '?')}`, {first.get('seconds', '?'):g} s each:\n\n{text}\n\n"
        f"Target: {check}.\n\n{sourced(name, numbers)}\n"
    )


# -- bench/scaling_ingress.py ------------------------------------------------------------------
def _server(label: str) -> str:
    """'serve --workers 1, SQLite' -> '`serve --workers 1`, SQLite'."""
    head, _, rest = label.partition(", ")
    return f"`{head}`, {rest}" if head.startswith("serve") else label


def part_scaling_ingress(name: str) -> str:
    numbers = load(name)
    options, results = numbers["options"], numbers["results"]
    sizes = options["sizes"]
    by: dict[str, dict[int, dict]] = {}
    for r in results:
        by.setdefault(r["server"], {})[r["side"]] = r
    rows = []
    for server, cells in by.items():
        row = [_server(server)]
        for side in sizes:
            cell = cells.get(side)
            row += [rate(cell and cell["throughput_rps"]), ms(cell and cell["cpu_ms_per_request"])]
        rows.append(row)
    header = ["server"] + [h for side in sizes for h in (f"{side} px req/s", f"{side} px CPU ms/req")]
    text = table(header, rows)
    errors = [
        f"{_server(r['server'])} at {r['side']} px: {r['errors']} ({r['first_error']})" for r in results if r["errors"]
    ]
    ready = {r["server"]: r["ready_s"] for r in results if r.get("ready_s")}
    lines = [
        f"\n{options['rounds']} interleaved rounds of {options['seconds_per_cell']:g} s per cell, "
        f"{options['clients']} clients, one AIThriving request with a fixed seed:\n",
        text,
        "\nErrors: "
        + ("; ".join(errors) if errors else "none in any cell")
        + "."
        + (
            " Ray deploy (ready) times: "
            + ", ".join(f"{k.split()[1]} ingress replica(s) {v} s" for k, v in ready.items())
            + "."
            if ready
            else ""
        ),
        "\nWhat this run's numbers say (ratios within the run):\n",
        *_scaling_findings(by, sizes),
        f"\n{sourced(name, numbers)}\n",
    ]
    return "\n".join(lines)


def _ratio(by: dict, a: str, b: str, side: int, key: str) -> float | None:
    first, second = by.get(a, {}).get(side), by.get(b, {}).get(side)
    if not first or not second or not first.get(key) or not second.get(key):
        return None
    return first[key] / second[key]


def _cpu_over(by: dict, a: str, b: str, side: int) -> str:
    first, second = by.get(a, {}).get(side), by.get(b, {}).get(side)
    if not first or not second or first.get("cpu_ms_per_request") is None or second.get("cpu_ms_per_request") is None:
        return "-"
    return f"{first['cpu_ms_per_request'] - second['cpu_ms_per_request']:+.1f} ms"


def _scaling_findings(by: dict, sizes: list[int]) -> list[str]:
    def each(a: str, b: str, key: str) -> str:
        return ", ".join(f"{x(_ratio(by, a, b, side, key))} at {side} px" for side in sizes)

    ray = sorted((s for s in by if s.startswith("Ray")), key=lambda s: int(s.split()[1]))
    memory, sqlite, postgres = (f"serve --workers 1, {s}" for s in ("in memory", "SQLite", "PostgreSQL"))
    found = []
    if len(ray) > 1:
        most, one = ray[-1], ray[0]
        found.append(
            f"- Ray, {most.split()[1]} ingress replicas against {one.split()[1]}: requests per second "
            f"{each(most, one, 'throughput_rps')}; CPU per request {each(most, one, 'cpu_ms_per_request')}."
        )
    for store in ("SQLite", "PostgreSQL"):
        two, one = f"serve --workers 2, {store}", f"serve --workers 1, {store}"
        if two in by and one in by:
            found.append(
                f"- `serve --workers 2` against `--workers 1`, {store}: requests per second "
                f"{each(two, one, 'throughput_rps')}; CPU per request {each(two, one, 'cpu_ms_per_request')}."
            )
    if memory in by:
        costs = "; ".join(
            f"{store} {', '.join(f'{_cpu_over(by, label, memory, side)} at {side} px' for side in sizes)}"
            for store, label in (("SQLite", sqlite), ("PostgreSQL (its server included)", postgres))
            if label in by
        )
        found.append(f"- CPU per request a shared store adds over `serve --workers 1` in memory: {costs}.")
    if ray and postgres in by:
        found.append(
            f"- Ray ({ray[0].split()[1]} ingress replica) against `serve --workers 1`, both over PostgreSQL: CPU per request "
            f"{each(ray[0], postgres, 'cpu_ms_per_request')}."
        )
    return found


PARTS: dict[str, Callable[[str], str]] = {
    "memory": part_memory,
    "slow-clients": part_slow_clients,
    "scaling-ingress": part_scaling_ingress,
}

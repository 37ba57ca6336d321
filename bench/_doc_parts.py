"""The parts bench/report.py writes into the docs: each renders one table or sentence from
the JSON a benchmark wrote into bench/results/ (or, for the README's sample output, from
a `verify` run made here)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from _common import REPO
from _doc_format import load, ms, rate, source, table, x
from _doc_parts_load import BENCHES as LOAD_BENCHES
from _doc_parts_load import PARTS as LOAD_PARTS

# name -> the command that writes bench/results/<name>.json (plus --json PATH)
BENCHES = {
    "fake": ["bench/fake.py"],
    "verify": ["bench/verify.py"],
    "mock": ["bench/mock.py"],
    "scaling": ["bench/scaling.py"],
    "hotpath": ["bench/hotpath.py"],
    "reference-tiny": ["bench/reference.py", "--cpu-threads", "1"],  # steadier than 2 on a shared box
    "reference-ray": ["bench/reference_ray.py"],
    **LOAD_BENCHES,
}


# -- bench/fake.py -----------------------------------------------------------------------------
def _best(numbers: dict, kind: str, api: str, side: int) -> dict | None:
    found = [r for r in numbers["results"] if (r["kind"], r["api"], r["side"]) == (kind, api, side) and r["ok"]]
    return max(found, key=lambda r: r["throughput_rps"], default=None)


def _pooled_cpu(numbers: dict, kind: str, api: str, side: int) -> float | None:
    found = [r for r in numbers["results"] if (r["kind"], r["api"], r["side"]) == (kind, api, side) and r["ok"]]
    if not found or any(r.get("cpu_ms_per_request") is None for r in found):
        return None
    return sum(r["cpu_ms_per_request"] * r["ok"] for r in found) / sum(r["ok"] for r in found)


def part_fake(_: str) -> str:
    numbers = load("fake")
    workloads = sorted({(r["api"], r["side"]) for r in numbers["results"]}, key=lambda w: (w[0], w[1]))
    rows = []
    for api, side in workloads:
        floor, fake, prism = (_best(numbers, k, api, side) for k in ("floor", "fake", "prism"))
        cpu = [_pooled_cpu(numbers, k, api, side) for k in ("floor", "fake", "prism")]
        rows.append(
            [
                f"{api} {side}x{side}",
                rate(floor and floor["throughput_rps"]),
                rate(fake and fake["throughput_rps"]),
                x(fake["throughput_rps"] / floor["throughput_rps"] if fake and floor else None),
                rate(prism and prism["throughput_rps"]),
                x(fake["throughput_rps"] / prism["throughput_rps"] if fake and prism else None),
                " / ".join(ms(c) for c in cpu),
            ]
        )
    text = table(
        [
            "workload",
            "floor req/s",
            "fake req/s",
            "fake/floor",
            "Prism req/s",
            "fake/Prism",
            "CPU ms/req floor / fake / Prism",
        ],
        rows,
    )
    checks = [
        [
            c["api"],
            c["comparison"],
            x(c["ratio"]),
            x(c.get("cpu_ratio")),
            f">= {c['target']:.2f}x",
            "met" if c["met"] else ("not measured" if c["met"] is None else "**not met**"),
        ]
        for c in numbers["targets"]
    ]
    targets = table(["API", "comparison", "throughput", "by CPU per request", "target", ""], checks, right_from=2)
    return (
        f"\n{text}\n\nRequests per second: the best over {', '.join(map(str, sorted({r['clients'] for r in numbers['results'] if r['kind'] == 'fake'})))} "
        f"clients; server CPU ms per request: all client counts pooled. {numbers['rounds']} interleaved rounds of "
        f"{numbers['seconds_per_cell']} s per cell. Targets (throughput: as named; CPU: the ratio the two would reach "
        f"on an idle machine using every core):\n\n{targets}\n\nFrom {source('fake', numbers)}\n"
    )


# -- bench/verify.py ---------------------------------------------------------------------------
def part_verify(_: str) -> str:
    numbers = load("verify")
    default, live = numbers["verify"][0], numbers["verify"][1]

    def cpu(run: dict) -> str:
        return f"{run['cpu_s']:.2f}" if run.get("cpu_s") is not None else "-"

    rows = [
        [run["label"], over, f"{run['wall_s']:.2f}", cpu(run), str(run["requests"]), f"{run['clauses']} clauses"]
        for run, over in ((default, "in-process"), (live, "loopback"))
    ]
    rows += [
        [
            f"Schemathesis `--checks all` ({r['api']})",
            "loopback",
            f"{r['wall_s']:.2f}",
            "-",
            str(r["requests"]),
            f"{len(r['checks_run'])} checks",
        ]
        for r in numbers["schemathesis"]
    ]
    text = table(["tool", "over", "wall s", "CPU s", "requests", "judged"], rows, right_from=2)
    c = numbers.get("comparison") or {}
    lines = [f"\n{text}\n"]
    walls = ", ".join(f"{w:.2f}" for w in numbers["verify_walls_s"])
    lines.append(
        f"\nDefault verify wall times: {walls} s (the median run is shown; CPU s is the verify process's own "
        "CPU time, which other jobs on the machine barely move)."
    )
    if c.get("schemathesis", {}).get("distinct_checks"):
        v, st, overlap = c["verify"], c["schemathesis"], c["overlap"]
        lines.append(
            f"\nLike for like, over loopback against the same fake, both APIs, {numbers['examples']} cases per property: "
            f"verify {v['wall_s']:.2f} s, {v['requests']} requests, {v['clauses_judged']} clauses judged; "
            f"Schemathesis {st['wall_s']:.2f} s, {st['requests']} requests, {st['distinct_checks']} distinct checks. "
            f"Where the two cover the same ground (bench/_schemathesis.py `CHECK_CLAUSES`), verify judged "
            f"{overlap['clauses_judged_by_verify']} clauses and Schemathesis ran {overlap['checks_run_by_schemathesis']} "
            f"checks (per API); beyond it verify judged {c['beyond_overlap_clauses_judged_by_verify']} clauses no "
            "generic check reaches (pixels, seeds, credits, formats)."
        )
        lines.append(
            "\nSchemathesis' findings on this fake, as it reported them, and verify's verdicts on the same ground:\n"
        )
        for f in c["findings"]:
            verdicts = ", ".join(f"`{clause}` {status}" for clause, status in f["verify"].items()) or "no clause"
            message = "; ".join(f["messages"])
            lines.append(
                f"- {f['api']}: **{f['code']} {f['title']}** (check `{f['check']}`, {f['count']} results): "
                f"{message}. verify: {verdicts}."
            )
        if not c["findings"]:
            lines.append("- none")
    lines.append(f"\nFrom {source('verify', numbers)}\n")
    return "\n".join(lines)


# -- bench/mock.py -----------------------------------------------------------------------------
def part_mock(_: str) -> str:
    numbers = load("mock")
    by: dict[tuple, dict] = {}
    for r in numbers["results"]:
        by.setdefault((r["api"], r["side"]), {})[r["door"]] = r
    rows = []
    for (api, side), doors in by.items():
        first = next(iter(doors.values()))
        row = [f"{api} {side}x{side}", f"{ms(first['floor_wall_ms'])} / {ms(first['floor_cpu_ms'])}"]
        for door in ("httpx (respx)", "requests (responses)"):
            r = doors.get(door)
            row.append(f"{ms(r['wall_ms'])} / {ms(r['cpu_ms'])} ({x(r['cpu_ratio'])})" if r else "-")
        rows.append(row)
    text = table(["workload", "floor", "httpx (respx)", "requests (responses)"], rows)
    return (
        f"\n{text}\n\nMedian ms per call, wall / CPU, and the mocked call's CPU over the floor's "
        f"(target <= {numbers['results'][0]['target']}x). From {source('mock', numbers)}\n"
    )


# -- bench/scaling.py --------------------------------------------------------------------------
def part_scaling(_: str) -> str:
    numbers = load("scaling")
    rows = []
    for r in numbers["by_size"]:
        mpx = r["side"] ** 2 / 1e6
        rows.append(
            [
                f"{r['api']} {r['side']}",
                f"{r['upload_bytes'] / 1024:,.0f} KiB",
                ms(r["floor_s"] * 1000),
                ms(r["fake_s"] * 1000),
                f"{r['fake_s'] * 1000 / mpx:,.0f}",
                x(r.get("per_pixel_vs_smallest")),
            ]
        )
    text = table(["workload", "upload", "floor ms", "fake ms", "fake ms per Mpx", "cost per pixel vs smallest"], rows)
    by_clients: dict[str, list[str]] = {}
    for r in numbers["by_clients"]:
        by_clients.setdefault(r["api"], []).append(f"{r['throughput_rps']:.1f}")
    clients = sorted({r["clients"] for r in numbers["by_clients"]})
    lines = "; ".join(f"{api} {', '.join(values)}" for api, values in by_clients.items())
    return (
        f"\n{text}\n\nOne client, median per request. By concurrency at the same side: {lines} req/s at "
        f"{', '.join(map(str, clients))} clients. From {source('scaling', numbers)}\n"
    )


# -- bench/hotpath.py --------------------------------------------------------------------------
def part_hotpath(_: str) -> str:
    numbers = load("hotpath")
    rows = numbers["results"]
    cpu = table(
        ["workload", "floor", "handler", "server (1 client)", "floor/handler", "floor/server"],
        [
            [
                f"{r['api']} {r['side']}x{r['side']}",
                ms(r["floor_cpu_ms"]),
                ms(r["handler_cpu_ms"]),
                ms(r["server_cpu_ms"]),
                x(r["floor_cpu_ms"] / r["handler_cpu_ms"]),
                x(r["floor_cpu_ms"] / r["server_cpu_ms"] if r["server_cpu_ms"] else None),
            ]
            for r in rows
        ],
    )
    names = list(rows[0]["parts_percent"]) if rows else []
    parts = table(
        ["part of the handler, %", *[f"{r['api']} {r['side']}" for r in rows]],
        [[name, *[f"{r['parts_percent'][name]:.1f}" for r in rows]] for name in names],
    )
    return (
        f"\n{cpu}\n\nCPU ms per request, the least of 3 rounds each.\n\n{parts}\n\nFrom {source('hotpath', numbers)}\n"
    )


# -- bench/reference.py, bench/reference_ray.py ------------------------------------------------
def part_reference(name: str) -> str:
    numbers = load(name)
    results = numbers["results"]
    plain, engine = results.get("plain", {}), results.get("engine", {})
    rows = []
    for level in sorted(engine, key=int):
        p, e = plain.get(level) or next(iter(plain.values()), None), engine[level]
        rows.append(
            [
                level,
                ms(p and p["p50_ms"]),
                f"{p['images_per_s']:.3g}" if p else "-",
                ms(e["p50_ms"]),
                f"{e['images_per_s']:.3g}",
                str(e.get("extra") or "-"),
                x(e["images_per_s"] / p["images_per_s"] if p and p["images_per_s"] else None),
            ]
        )
    text = table(
        ["clients", "plain p50 ms", "plain img/s", "engine p50 ms", "engine img/s", "mean batch", "engine/plain img/s"],
        rows,
    )
    return f"\n{numbers.get('title', '')}:\n\n{text}\n\nFrom {source(name, numbers)}\n"


def part_reference_ray(name: str) -> str:
    numbers = load(name)
    single = numbers["single_process"]
    rows = [
        [
            "single process (`serve --engine reference`)",
            rate(single["throughput_rps"]),
            f"{ms(single['p50_ms'])} / {ms(single['p99_ms'])}",
            "1.00x",
            "-",
            "-",
        ]
    ]
    for count, r in numbers["ray"].items():
        rows.append(
            [
                f"Ray Serve, {count} replica(s)",
                rate(r["throughput_rps"]),
                f"{ms(r['p50_ms'])} / {ms(r['p99_ms'])}",
                x(r["throughput_rps"] / single["throughput_rps"] if single["throughput_rps"] else None),
                f"{r['ready_s']} s",
                ", ".join(str(j) for j in r["jobs_per_replica"].values()),
            ]
        )
    options = numbers["options"]
    text = table(["server", "images/s", "p50 / p99 ms", "vs single process", "ready in", "jobs per replica"], rows)
    return (
        f"\n{options['model']}, {options['side']}x{options['side']} PNG, {options['clients']} clients:\n\n{text}\n\n"
        f"From {source(name, numbers)}\n"
    )


# -- README.md ---------------------------------------------------------------------------------
def part_performance(_: str) -> str:
    fake, mock, verify = load("fake"), load("mock"), load("verify")
    rows = []
    for check in fake["targets"]:
        what = (
            "fake vs Stoplight Prism (canned answers, no image work)"
            if check["other"] == "prism"
            else "fake vs the floor (same decode, fill, encode, no HTTP)"
        )
        rows.append(
            [
                f"{what}, {check['comparison'].split(' at ', 1)[1]}, {check['api']}",
                "`python bench/fake.py`",
                f"{x(check['ratio'])} (by CPU per request {x(check.get('cpu_ratio'))}; target >= {check['target']:.2f}x)",
            ]
        )
    ratios = [r["cpu_ratio"] for r in mock["results"]]
    rows.append(
        [
            "one in-process mocked call vs the floor (CPU)",
            "`python bench/mock.py`",
            f"{min(ratios):.2f}x to {max(ratios):.2f}x",
        ]
    )
    default = verify["verify"][0]
    c = verify.get("comparison") or {}
    st = c.get("schemathesis", {})
    rows.append(
        [
            "default `verify`, both APIs, embedded fake",
            "`python bench/verify.py`",
            f"{default['wall_s']:.2f} s ({default.get('cpu_s') or '-'} s of CPU), {default['requests']} requests, "
            f"{default['clauses']} clauses judged",
        ]
    )
    if st.get("distinct_checks"):
        rows.append(
            [
                "`verify --base-url` vs Schemathesis, both over loopback",
                "`python bench/verify.py`",
                f"{c['verify']['clauses_judged']} clauses in {c['verify']['wall_s']:.1f} s vs "
                f"{st['distinct_checks']} checks in {st['wall_s']:.1f} s",
            ]
        )
    busy = fake.get("machine", {}).get("load average at start", "?")
    return (
        "\n"
        + table(["what", "command", "result"], rows, right_from=3)
        + f"\n\nThe machine's load average when `bench/fake.py` started: {busy} (other jobs share its 2 cores).\n"
    )


def part_reference_summary(_: str) -> str:
    """Inline: one sentence on the reference engine's batching, from bench/results/reference-tiny.json."""
    numbers = load("reference-tiny")
    plain, engine = numbers["results"]["plain"], numbers["results"]["engine"]
    base = next(iter(plain.values()))["images_per_s"]
    parts = [
        f"{x(engine[level]['images_per_s'] / base)} at {level} client{'s' if level != '1' else ''}"
        for level in sorted(engine, key=int)
    ]
    return f"tiny-random engine/plain images per second {', '.join(parts)}"


def verify_sample_lines() -> list[str]:
    """The README's sample: a few rows of a real `verify` run and its last line, as printed (140 columns)."""
    done = subprocess.run(
        [sys.executable, "-m", "inpaint_conformance.harness.cli", "verify"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    lines = done.stdout.splitlines()
    wanted = [f"│ {clause} " for clause in SAMPLE_CLAUSES]
    picked = [next(line for line in lines if line.startswith(w)) for w in wanted]
    last = [line for line in lines if line.startswith(("OK:", "FAILED:"))]
    return [line.rstrip() for line in picked] + last[-1:]


SAMPLE_CLAUSES = ("ait.seed.range", "ait.kept_pixels", "ait.credits.success")


def part_verify_sample(_: str) -> str:
    return "\n```text\n" + "\n".join(verify_sample_lines()) + "\n```\n"


PARTS: dict[str, Callable[[str], str]] = {
    "fake": part_fake,
    "verify": part_verify,
    "mock": part_mock,
    "scaling": part_scaling,
    "hotpath": part_hotpath,
    "reference-tiny": part_reference,
    "reference-sd15": part_reference,
    "reference-ray": part_reference_ray,
    "performance": part_performance,
    "reference-summary": part_reference_summary,
    "verify-sample": part_verify_sample,
    **LOAD_PARTS,
}

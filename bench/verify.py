"""Wall time and request count of `inpaint-conformance verify`, and the same comparison
with Schemathesis like for like: both over loopback against one live fake, with the
same number of generated cases.

    python bench/verify.py           # about 1 minute
    python bench/verify.py --quick   # about 30 s

Targets: a default `verify` of both APIs (embedded fake, in-process, what a CI job
runs) takes under 10 s on this 2-core machine; over loopback, `verify --base-url`
judges more clauses than Schemathesis runs checks, and where the two cover the same
ground (bench/_schemathesis.py CHECK_CLAUSES) both are counted side by side.
Schemathesis' own findings are printed as it reported them, with verify's verdicts on
the clauses covering the same ground. Numbers are printed, never asserted: the exit
code is 0 whenever the bench could run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prism
import _schemathesis
from _common import APIS, BENCH_KEY, REPO, command_line, console, fmt_ratio, print_machine, ratio, write_json
from _load import checkout_env, journal_last_id, start_fake

WALL_TARGET_S = 10.0
SECOND_KEY, LOW_KEY = "bench-second-key", "bench-low-key"
SECOND_KEY_CREDITS = 14


@dataclass
class VerifyRun:
    label: str
    wall_s: float
    exit_code: int
    requests: int | None
    clauses: int  # clauses given a verdict (passed or failed), skipped ones not counted
    checks: int  # individual checks behind those verdicts
    summary: str
    statuses: dict[str, str] = field(default_factory=dict)  # clause id -> passed / failed / skipped...
    cpu_s: float | None = None  # CPU seconds of the verify process: barely moves when other jobs share the machine


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from inpaint_conformance.harness.commands.verify import DEFAULT_EXAMPLES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timing run of the default verify (about 30 s)")
    parser.add_argument("--repeat", type=int, help="timed runs of the default verify (default 3, quick 1)")
    parser.add_argument(
        "--examples",
        type=int,
        default=DEFAULT_EXAMPLES,
        help="cases per property for verify, --max-examples for Schemathesis (default: verify's own)",
    )
    parser.add_argument("--no-schemathesis", action="store_true")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (1 if args.quick else 3)
    if args.examples < 1 or args.repeat < 1:
        parser.error("--examples and --repeat must be at least 1")
    return args


def verify_cli(extra: list[str], examples: int, label: str) -> VerifyRun:
    """`inpaint-conformance verify` in a fresh process, as a CI job runs it."""
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as folder:
        report = Path(folder) / "report.json"
        argv = [
            sys.executable,
            "-m",
            "inpaint_conformance.harness.cli",
            "verify",
            "--examples",
            str(examples),
            "--json-report",
            str(report),
            *extra,
        ]
        started, cpu_before = time.perf_counter(), _children_cpu()
        done = subprocess.run(argv, cwd=REPO, env=checkout_env(), capture_output=True, text=True, timeout=600)
        wall, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
        if not report.exists():
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
            raise RuntimeError(f"verify exited {done.returncode} without a report: {tail}")
        clauses, checks, summary, statuses = read_report(report)
    return VerifyRun(label, wall, done.returncode, None, clauses, checks, summary, statuses, round(cpu, 2))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_report(path: Path) -> tuple[int, int, str, dict[str, str]]:
    report = json.loads(path.read_text())
    judged = [r for r in report["results"] if r["status"] in ("passed", "failed")]
    checks = sum(int((r.get("evidence") or {}).get("checks") or 0) for r in judged)
    counts = report.get("summary") or {}
    return (
        len(judged),
        checks,
        ", ".join(f"{v} {k}" for k, v in counts.items()) if isinstance(counts, dict) else str(counts),
        {r["clause"]: r["status"] for r in report["results"]},
    )


def embedded_requests(examples: int) -> int:
    """Requests a default verify sends to the embedded fake: counted at FakeProvider.handle, in this process."""
    from inpaint_conformance.fakes.provider import FakeProvider
    from inpaint_conformance.harness.cli import main as cli_main

    original, count = FakeProvider.handle, [0]

    def counting(self, request):
        count[0] += 1
        return original(self, request)

    FakeProvider.handle = counting
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli_main(["verify", "--examples", str(examples)])
    finally:
        FakeProvider.handle = original
    return count[0]


def live_verify(port: int, examples: int) -> VerifyRun:
    """The same verify against the live fake over loopback (what Schemathesis is compared with)."""
    before = journal_last_id(port)
    base = f"http://127.0.0.1:{port}"
    run = verify_cli(
        [
            "--base-url",
            base,
            "--api-key",
            BENCH_KEY,
            "--api-key",
            SECOND_KEY,
            "--low-credit-key",
            LOW_KEY,
            "--credits-url",
            f"{base}/__fake__/credits",
            "--yes",
        ],
        examples,
        "verify --base-url (live fake)",
    )
    run.requests = journal_last_id(port) - before
    return run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    con = console()
    info = print_machine(con, "bench/verify.py: conformance runs", command_line())
    try:
        return measure_and_report(args, con, info)
    except RuntimeError as exc:  # verify without a report, a fake that does not start: say so, no traceback
        con.print(f"[red]bench/verify.py could not run: {exc}[/]")
        return 2


def measure_and_report(args, con, info: dict) -> int:
    with con.status("timing the default verify (embedded fake, both APIs) ..."):
        timed = [verify_cli([], args.examples, "verify (embedded fake, in-process)") for _ in range(args.repeat)]
        default = min(timed, key=lambda r: abs(r.wall_s - statistics.median(t.wall_s for t in timed)))
        default.requests = embedded_requests(args.examples)
    live: VerifyRun | None = None
    schemathesis: list[_schemathesis.SchemathesisRun] = []
    notes: list[str] = []
    with con.status("starting the live fake ..."):
        # The second key holds credits for two results, as ait.credits.no_overdraft wants one (a richer
        # key would be drained first, beyond what --max-credits allows): every clause gets a verdict.
        fake = start_fake(extra_keys={SECOND_KEY: SECOND_KEY_CREDITS, LOW_KEY: 5})
    try:
        with con.status("verify --base-url against the live fake ..."):
            live = live_verify(fake.port, args.examples)
        if not args.no_schemathesis:
            for api in APIS:
                document, why = _prism.openapi_json(api)
                if document is None:
                    notes.append(why.replace("Prism column", "Schemathesis row"))
                    continue
                with con.status(f"schemathesis on {api.value} ..."):
                    before = journal_last_id(fake.port)
                    run = _schemathesis.run(api, document, fake.port, args.examples)
                    run.requests = journal_last_id(fake.port) - before
                schemathesis.append(run)
    finally:
        fake.stop()
    comparison = compare(live, schemathesis)
    checks = report(con, args, default, live, schemathesis, comparison, timed, notes)
    write_json(
        args.json,
        {
            "machine": info,
            "command": command_line(),
            "examples": args.examples,
            "verify": [{k: v for k, v in vars(r).items() if k != "statuses"} for r in (default, live)],
            "verify_walls_s": [round(r.wall_s, 3) for r in timed],
            "schemathesis": [{**vars(r), "api": r.api.value} for r in schemathesis],
            "comparison": comparison,
            "targets": checks,
        },
    )
    return 0


def compare(live: VerifyRun, schemathesis: list) -> dict:
    """verify --base-url and Schemathesis, both over loopback against the same fake: totals, and the overlap."""
    from inpaint_conformance.contracts import Api

    judged = {clause for clause, status in live.statuses.items() if status in ("passed", "failed")}
    overlap_clauses: set[str] = set()
    overlap_checks = 0
    for run in schemathesis:
        overlap = _schemathesis.overlapping_clauses(run.api, set(run.checks_run), set(live.statuses))
        overlap_clauses |= overlap
        overlap_checks += len([c for c in run.checks_run if _schemathesis.CHECK_CLAUSES.get(c)])
    findings = []
    for run in schemathesis:
        for finding in run.findings:
            same_ground = sorted(_schemathesis.overlapping_clauses(run.api, {finding["check"]}, set(live.statuses)))
            findings.append(
                {
                    "api": run.api.value,
                    **finding,
                    "verify": {clause: live.statuses[clause] for clause in same_ground},
                }
            )
    st_wall = sum(r.wall_s for r in schemathesis)
    st_requests = sum(r.requests or 0 for r in schemathesis)
    distinct_checks = sorted({name for r in schemathesis for name in r.checks_run})
    apis = {r.api for r in schemathesis} or set(Api)
    return {
        "apis": sorted(a.value for a in apis),
        "verify": {"wall_s": live.wall_s, "requests": live.requests, "clauses_judged": len(judged)},
        "schemathesis": {
            "wall_s": st_wall,
            "requests": st_requests,
            "distinct_checks": len(distinct_checks),
            "checks": distinct_checks,
        },
        "overlap": {
            "clauses": sorted(overlap_clauses),
            "clauses_judged_by_verify": len(overlap_clauses & judged),
            "checks_run_by_schemathesis": overlap_checks,
        },
        "beyond_overlap_clauses_judged_by_verify": len(judged - overlap_clauses),
        "findings": findings,
    }


def report(
    con,
    args,
    default: VerifyRun,
    live: VerifyRun,
    schemathesis: list,
    comparison: dict,
    timed: list[VerifyRun],
    notes: list[str],
) -> list[dict]:
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=f"conformance runs, {args.examples} generated cases per property / --max-examples {args.examples}",
        title_justify="left",
    )
    for name in ("tool", "over", "wall s", "CPU s", "requests", "clauses judged / checks run", "outcome"):
        table.add_column(name, justify="left" if name in ("tool", "over", "outcome") else "right")
    for run, over in ((default, "in-process"), (live, "loopback")):
        table.add_row(
            run.label,
            over,
            f"{run.wall_s:.2f}",
            f"{run.cpu_s:.2f}" if run.cpu_s is not None else "-",
            str(run.requests if run.requests is not None else "-"),
            f"{run.clauses} clauses",
            f"exit {run.exit_code}: {run.summary}",
        )
    for run in schemathesis:
        outcome = run.note or f"exit {run.exit_code}: {run.cases} cases, {len(run.findings)} kinds of failure"
        table.add_row(
            f"schemathesis ({run.api.value})",
            "loopback",
            f"{run.wall_s:.2f}",
            "-",
            str(run.requests if run.requests is not None else "-"),
            f"{len(run.checks_run)} checks",
            outcome,
        )
    con.print(table)
    con.print(f"default verify wall times over {len(timed)} run(s): " + ", ".join(f"{r.wall_s:.2f} s" for r in timed))
    st = comparison["schemathesis"]
    if st["distinct_checks"]:
        v, overlap = comparison["verify"], comparison["overlap"]
        con.print(
            "like for like (over loopback, same fake, both APIs): "
            f"verify {v['wall_s']:.2f} s, {v['requests']} requests, {v['clauses_judged']} clauses judged; "
            f"Schemathesis {st['wall_s']:.2f} s, {st['requests']} requests, {st['distinct_checks']} distinct checks "
            f"(wall {fmt_ratio(ratio(v['wall_s'], st['wall_s']))}, requests {fmt_ratio(ratio(v['requests'] or 0, st['requests']))})"
        )
        con.print(
            f"where they cover the same ground: verify judged {overlap['clauses_judged_by_verify']} clauses, "
            f"Schemathesis ran {overlap['checks_run_by_schemathesis']} checks (per API); beyond it verify judged "
            f"{comparison['beyond_overlap_clauses_judged_by_verify']} clauses no generic check reaches "
            "(pixels, seeds, credits, formats)"
        )
        con.print("Schemathesis' findings, as it reported them, beside verify's verdicts on the same ground:")
        for f in comparison["findings"]:
            verdicts = ", ".join(f"{c} {s}" for c, s in f["verify"].items()) or "no clause on the same ground"
            messages = " | ".join(f["messages"])
            con.print(
                f"  {f['api']}: {f['code']} {escape(str(f['title']))} (check {f['check']}, {f['count']} results): "
                f"{escape(messages)}; verify: {verdicts}",
                soft_wrap=True,
            )
        if not comparison["findings"]:
            con.print("  (none)")
    for note in notes:
        con.print(f"note: {note}")
    checks = [
        {
            "target": f"default verify of both APIs under {WALL_TARGET_S:.0f} s",
            "value": default.wall_s,
            "met": default.wall_s < WALL_TARGET_S,
        }
    ]
    line = (
        f"target: default verify {default.wall_s:.2f} s wall, {default.cpu_s} s CPU "
        f"(< {WALL_TARGET_S:.0f} s: {'met' if checks[0]['met'] else 'MISSED'})"
    )
    if st["distinct_checks"]:
        judged = comparison["verify"]["clauses_judged"]
        met = judged > st["distinct_checks"]
        checks.append(
            {
                "target": "over loopback, more clauses judged than Schemathesis runs distinct checks",
                "value": [judged, st["distinct_checks"]],
                "met": met,
            }
        )
        line += f"; clauses {judged} vs Schemathesis checks {st['distinct_checks']} ({'met' if met else 'MISSED'})"
    con.print(line)
    return checks


if __name__ == "__main__":
    sys.exit(main())

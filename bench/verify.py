"""Wall time and request count of `inpaint-conformance verify` against the embedded fake,
and of Schemathesis on the exported OpenAPI documents against the same fake, with the
same number of generated cases.

    python bench/verify.py           # about 1 minute
    python bench/verify.py --quick   # about 20 s

Target (issue "Benchmarks"): a default `verify` of both APIs runs in under 10 s on
this 2-core machine, and judges more clauses than Schemathesis runs checks.
Numbers are printed, never asserted: the exit code is 0 whenever the bench could run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _prism
import _schemathesis
from _common import APIS, BENCH_KEY, REPO, command_line, console, fmt_ratio, print_machine, ratio, write_json
from _load import checkout_env, journal_last_id, start_fake

WALL_TARGET_S = 10.0
SECOND_KEY, LOW_KEY = "bench-second-key", "bench-low-key"


@dataclass
class VerifyRun:
    label: str
    wall_s: float
    exit_code: int
    requests: int | None
    clauses: int  # clauses given a verdict (passed or failed), skipped ones not counted
    checks: int  # individual checks behind those verdicts
    summary: str


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from inpaint_conformance.harness.commands.verify import DEFAULT_EXAMPLES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timing run, skip the live-server verify (about 20 s)")
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
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=REPO, env=checkout_env(), capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - started
        if not report.exists():
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
            raise RuntimeError(f"verify exited {done.returncode} without a report: {tail}")
        clauses, checks, summary = read_report(report)
    return VerifyRun(label, wall, done.returncode, None, clauses, checks, summary)


def read_report(path: Path) -> tuple[int, int, str]:
    report = json.loads(path.read_text())
    judged = [r for r in report["results"] if r["status"] in ("passed", "failed")]
    checks = sum(int((r.get("evidence") or {}).get("checks") or 0) for r in judged)
    counts = report.get("summary") or {}
    return (
        len(judged),
        checks,
        ", ".join(f"{v} {k}" for k, v in counts.items()) if isinstance(counts, dict) else str(counts),
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
    runs: list[VerifyRun] = []
    with con.status("timing the default verify (embedded fake, both APIs) ..."):
        timed = [verify_cli([], args.examples, "verify (embedded fake)") for _ in range(args.repeat)]
        default = min(timed, key=lambda r: abs(r.wall_s - statistics.median(t.wall_s for t in timed)))
        default.requests = embedded_requests(args.examples)
    runs.append(default)
    schemathesis: list[_schemathesis.SchemathesisRun] = []
    notes: list[str] = []
    need_live = not args.quick or not args.no_schemathesis
    if need_live:
        with con.status("starting the live fake ..."):
            fake = start_fake(extra_keys={SECOND_KEY: 10**9, LOW_KEY: 5})
        try:
            if not args.quick:
                with con.status("verify --base-url against the live fake ..."):
                    runs.append(live_verify(fake.port, args.examples))
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
    checks = report(con, args, runs, schemathesis, timed, notes)
    write_json(
        args.json,
        {
            "machine": info,
            "command": command_line(),
            "examples": args.examples,
            "verify": [vars(r) for r in runs],
            "verify_walls_s": [round(r.wall_s, 3) for r in timed],
            "schemathesis": [{**vars(r), "api": r.api.value} for r in schemathesis],
            "targets": checks,
        },
    )
    return 0


def report(
    con, args, runs: list[VerifyRun], schemathesis: list, timed: list[VerifyRun], notes: list[str]
) -> list[dict]:
    from rich.table import Table

    table = Table(
        title=f"conformance runs, {args.examples} generated cases per property / --max-examples {args.examples}",
        title_justify="left",
    )
    for name in ("tool", "wall s", "requests", "clauses judged", "checks run", "outcome"):
        table.add_column(name, justify="left" if name in ("tool", "outcome") else "right")
    for run in runs:
        table.add_row(
            run.label,
            f"{run.wall_s:.2f}",
            str(run.requests if run.requests is not None else "-"),
            str(run.clauses),
            str(run.checks),
            f"exit {run.exit_code}: {run.summary}",
        )
    st_wall = sum(r.wall_s for r in schemathesis)
    st_requests = sum(r.requests or 0 for r in schemathesis)
    st_checks = sorted({name for r in schemathesis for name in r.checks_run})
    for run in schemathesis:
        outcome = (
            f"exit {run.exit_code}: {run.cases} cases; " + ("; ".join(run.failures) or "no failures")
            if not run.note
            else run.note
        )
        table.add_row(
            f"schemathesis ({run.api.value})",
            f"{run.wall_s:.2f}",
            str(run.requests if run.requests is not None else "-"),
            f"{len(run.checks_run)} checks",
            str(sum(run.checks_run.values())),
            outcome,
        )
    con.print(table)
    default = runs[0]
    con.print(f"default verify wall times over {len(timed)} run(s): " + ", ".join(f"{r.wall_s:.2f} s" for r in timed))
    if st_checks:
        con.print(f"Schemathesis checks run: {', '.join(st_checks)}")
        con.print(
            f"verify / Schemathesis (both APIs): wall {fmt_ratio(ratio(default.wall_s, st_wall))}, "
            f"requests {fmt_ratio(ratio(default.requests or 0, st_requests))}, "
            f"clauses judged / distinct checks {default.clauses} / {len(st_checks)}"
        )
        con.print(
            "Schemathesis's failures on this fake are what a document cannot say or the decisions leave free: "
            "AIThriving failures answered HTTP 200 with the failure envelope (A2, A5 allow it), an empty 'binary' "
            "image refused with 400 (V5 requires it), a failure rather than 405 for an undeclared method. "
            "`st explain CODE` describes each."
        )
    for note in notes:
        con.print(f"note: {note}")
    checks = [
        {
            "target": f"default verify of both APIs under {WALL_TARGET_S:.0f} s",
            "value": default.wall_s,
            "met": default.wall_s < WALL_TARGET_S,
        }
    ]
    line = f"target: default verify {default.wall_s:.2f} s (< {WALL_TARGET_S:.0f} s: {'met' if checks[0]['met'] else 'MISSED'})"
    if st_checks:
        met = default.clauses > len(st_checks)
        checks.append(
            {
                "target": "more clauses judged than Schemathesis checks",
                "value": [default.clauses, len(st_checks)],
                "met": met,
            }
        )
        line += f"; clauses {default.clauses} vs Schemathesis checks {len(st_checks)} ({'met' if met else 'MISSED'})"
    con.print(line)
    return checks


if __name__ == "__main__":
    sys.exit(main())

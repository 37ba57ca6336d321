"""Credits under concurrency (A17): `verify` against ledgers that lose money only when requests overlap.

The servers are tests/ledger_servers.py (written from the document, importing nothing
of this project) and tests/independent_server.py: each ledger bug must fail a credit
clause at the MUST level; a right ledger, the independent server and the fake pass.
The reproducer a failure prints is run as a user would paste it, and must show the
failure again. The state machine (harness/ledger_machine.py) walks the fake's own ledger,
in process and served by one and by two worker processes, for hundreds of sequences.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest
from independent_server import create_app as independent_app
from ledger_servers import create_app
from test_fake_support import ServeProcess

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS
from inpaint_conformance.fakes.ledger import MemoryLedger
from inpaint_conformance.fakes.server import serving
from inpaint_conformance.harness import probes_credits
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.credentials import KEY_VARIABLES
from inpaint_conformance.harness.ledger_machine import FUNDED, run_ledger_machine
from inpaint_conformance.harness.probe_registry import planned_successes
from inpaint_conformance.harness.reproduce import Reproducer
from inpaint_conformance.harness.runner import Runner
from inpaint_conformance.harness.target import WRONG_KEY, EmbeddedTarget, RemoteTarget

MAIN, SECOND, LOW = "ledger-main-key-0123", "ledger-second-key-0123", "ledger-low-key-0123"
CREDIT_MUSTS = ("concurrent", "no_overdraft", "sequence", "success", "failure", "insufficient", "isolation")


def keys(second: int = 14) -> dict[str, int]:
    return {MAIN: 1_000_000, SECOND: second, LOW: 3}


def verify(app, tmp_path, *flags: str, examples: str | None = "2") -> tuple[int, dict, str]:
    """`verify --api aithriving` with all three keys and --credits-url; (exit code, report, stdout)."""
    report = tmp_path / "report.json"
    with serving(app) as server:
        argv = ["verify", "--api", "aithriving", "--base-url", server.url, "--api-key", MAIN, "--api-key", SECOND]
        argv += ["--low-credit-key", LOW, "--credits-url", f"{server.url}/balance", "--yes"]
        argv += ["--json-report", str(report), *(["--examples", examples] if examples else []), *flags]
        code = main(argv)
    return code, json.loads(report.read_text()), str(report)


def by_clause(report: dict) -> dict[str, dict]:
    return {r["clause"]: r for r in report["results"]}


def failed_musts(report: dict) -> set[str]:
    return {r["clause"] for r in report["results"] if r["status"] == "failed" and r["level"] == "MUST"}


def test_a_ledger_that_reads_waits_and_writes_fails_a_default_verify(tmp_path, capsys):
    """The issue's done-when: read, 50 ms, write. Overlapping successes are charged once."""
    code, report, _ = verify(create_app(keys(), "check_then_act"), tmp_path, examples=None)
    results = by_clause(report)
    assert code == 1
    assert results["ait.credits.concurrent"]["status"] == results["ait.credits.no_overdraft"]["status"] == "failed"
    assert results["ait.credits.concurrent"]["level"] == "MUST"
    overlap = results["ait.credits.concurrent"]
    assert "8 requests at once, 5 succeeded" in overlap["detail"] and "expected" in overlap["detail"]
    burst = overlap["evidence"]["burst"]
    assert len(burst["requests"]) == 8 and burst["successes"] == 5
    assert all(r["answered_ms"] >= r["sent_ms"] >= 0 for r in burst["requests"])
    spend = results["ait.credits.no_overdraft"]["detail"]
    assert "holding 14 credits (enough for 2 results) got 8 successes" in spend
    out = capsys.readouterr().out
    assert "python3 - <<'PY'" in out and "threading.Barrier" in out  # the reproducer is printed with the failure


@pytest.mark.parametrize(
    "bug, clause",
    [
        ("refund_twice", "ait.credits.sequence"),
        ("refund_after_success", "ait.credits.sequence"),
        ("charge_then_refuse", "ait.credits.no_overdraft"),
        ("charge_timed_out", "ait.credits.concurrent"),
    ],
)
def test_each_ledger_bug_fails_a_credit_clause_at_the_must(tmp_path, bug, clause):
    code, report, _ = verify(create_app(keys(), bug), tmp_path)
    assert code == 1
    assert clause in failed_musts(report), {
        c: r["detail"] for c, r in by_clause(report).items() if r["status"] != "passed"
    }


def test_charging_a_timed_out_request_shows_only_when_requests_overlap(tmp_path):
    """One at a time nothing waits for the engine; at once, the waiters are answered 429 and keep their charge."""
    code, report, _ = verify(create_app(keys(), "charge_timed_out"), tmp_path)
    # The double-spend burst overlaps too: on a loaded machine its waiters also time out, keep their
    # charge and break no_overdraft. Every clause judged one request at a time holds.
    assert "ait.credits.concurrent" in failed_musts(report)
    assert failed_musts(report) <= {"ait.credits.concurrent", "ait.credits.no_overdraft"}
    overlap = by_clause(report)["ait.credits.concurrent"]
    assert any(r["status"] == 429 for r in overlap["evidence"]["burst"]["requests"])


@pytest.mark.parametrize("server", ["right_ledger", "independent"])
def test_right_ledgers_pass_every_credit_clause(tmp_path, server):
    app = create_app(keys(), None) if server == "right_ledger" else independent_app(keys())
    code, report, _ = verify(app, tmp_path)
    results = by_clause(report)
    assert [c for c, r in results.items() if r["status"] == "failed"] == []
    assert code == 0
    for name in CREDIT_MUSTS:
        assert results[f"ait.credits.{name}"]["status"] == "passed", results[f"ait.credits.{name}"]


def test_the_overlap_reproducer_fires_at_once_and_shows_the_failure_again(tmp_path):
    app = create_app(keys(), "check_then_act")
    report = tmp_path / "report.json"
    with serving(app) as server:
        base = ["verify", "--api", "aithriving", "--base-url", server.url, "--api-key", MAIN, "--api-key", SECOND]
        base += ["--credits-url", f"{server.url}/balance", "--examples", "0", "--yes", "--json-report", str(report)]
        assert main(base) == 1
        script = by_clause(json.loads(report.read_text()))["ait.credits.concurrent"]["reproduce"]
        assert script.startswith("python3 - <<'PY'") and MAIN not in script  # the key comes from $AIT_API_KEY
        env = {**os.environ, "AIT_API_KEY": MAIN}
        again = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 1, again.stdout + again.stderr
        assert "REPRODUCED: balance" in again.stdout and "8 requests at once" in again.stdout
        missing = subprocess.run(
            ["bash", "-c", script], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True
        )
        assert missing.returncode == 1 and "set AIT_API_KEY first" in missing.stderr


def test_the_overlap_reproducer_passes_against_a_right_ledger(tmp_path):
    code, report, _ = verify(create_app(keys(), "check_then_act"), tmp_path, examples="0")
    script = by_clause(report)["ait.credits.concurrent"]["reproduce"]
    with serving(create_app(keys(), None)) as server:
        script = script.replace(script.split("URL = '", 1)[1].split("/api/", 1)[0], server.url)
        env = {**os.environ, "AIT_API_KEY": MAIN}
        again = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "not reproduced" in again.stdout


class CheckThenActLedger(MemoryLedger):
    """The fake's ledger, broken: read the balance, wait, write it back minus the price."""

    def try_charge(self, key: str, amount: int) -> int | None:
        current = self.balance(key)
        if current is None or current < amount:
            return None
        time.sleep(0.05)
        self.set_balance(key, current - amount)
        return current - amount


def runner_for(target: EmbeddedTarget, examples: int = 0) -> Runner:
    runner = Runner(
        target, Api.AITHRIVING, examples=examples, hypothesis_seed=0, reproducer=Reproducer("x", wrong_key=WRONG_KEY)
    )
    runner.current_probe = "unit"
    return runner


def test_the_embedded_fake_really_answers_requests_sent_at_once_concurrently():
    """A broken ledger inside the embedded fake shows: the burst's requests run in their own threads."""
    target = EmbeddedTarget(inject_429=False)
    broken = CheckThenActLedger()
    for key in target.keys[Api.AITHRIVING].values():
        broken.add_key(key, target.provider.ledger.balance(key))
    target.provider.ledger = broken
    runner = runner_for(target)
    threads = []
    original = target.provider.handle
    target.provider.handle = lambda request: threads.append(threading.current_thread().name) or original(request)
    probes_credits.credits_overlap(runner)
    assert runner.tally.status("ait.credits.concurrent") == "failed"
    assert len({name for name in threads if name.startswith("burst-")}) == len(probes_credits.OVERLAP)
    probes_credits.credits_double_spend(runner)
    assert runner.tally.status("ait.credits.no_overdraft") == "failed"


def test_the_embedded_fake_passes_both_and_gets_its_balances_back():
    target = EmbeddedTarget(inject_429=False)
    second = target.keys[Api.AITHRIVING]["second"]
    before = target.provider.ledger.balance(second)
    runner = runner_for(target)
    probes_credits.credits_overlap(runner)
    probes_credits.credits_double_spend(runner)
    assert runner.tally.status("ait.credits.concurrent") == runner.tally.status("ait.credits.no_overdraft") == "passed"
    assert target.provider.ledger.balance(second) == before  # the later probes see the key as it was
    events = runner.credit_log.to_dict()["second"]["events"]
    assert [e["kind"] for e in events] == ["set", "burst", "set"]
    burst = events[1]
    assert (burst["before"], burst["after"], burst["successes"], burst["ok"]) == (12, 0, 2, True)


def test_the_json_report_has_a_credit_timeline_per_key(tmp_path):
    code, report, _ = verify(create_app(keys(), "check_then_act"), tmp_path, examples="1")
    timeline = report["credits"]["aithriving"]
    assert set(timeline) == {"main", "second", "low"}
    main_events = timeline["main"]["events"]
    assert [e["n"] for e in main_events] == sorted(e["n"] for e in main_events)
    request = next(e for e in main_events if e["kind"] == "request" and e["outcome"] == "success")
    assert request["charged"] == request["expected"] == CREDITS_PER_SUCCESS and request["ok"]
    assert request["before"] - request["after"] == CREDITS_PER_SUCCESS
    wrong = [e for e in main_events if not e["ok"]]
    assert wrong and wrong[0]["kind"] == "burst" and wrong[0]["probe"] == "credits_overlap"
    assert len(wrong[0]["requests"]) == 8 and wrong[0]["reads"]
    assert MAIN not in json.dumps(report) and SECOND not in json.dumps(report)


def test_a_remote_run_spends_no_more_than_it_planned(tmp_path, capsys):
    app = create_app(keys(second=14), None)
    server_state = app.state.server
    start = sum(server_state.credits.values())
    code, report, _ = verify(app, tmp_path)
    spent = start - sum(server_state.credits.values())
    planned = (planned_successes(Api.AITHRIVING, 2) + 1) * CREDITS_PER_SUCCESS  # and the preflight's one request
    assert code == 0 and 0 < spent <= planned
    assert f"= {planned} credits" in capsys.readouterr().err


def test_the_second_key_is_drained_only_within_max_credits(tmp_path):
    """Holding 50 credits: draining it to 17 costs 6 results (36 credits) over the plan."""
    plan = (planned_successes(Api.AITHRIVING, 0) + 1) * CREDITS_PER_SUCCESS
    _, report, _ = verify(create_app(keys(second=50), None), tmp_path, "--max-credits", str(plan), examples="0")
    skipped = by_clause(report)["ait.credits.no_overdraft"]
    assert skipped["status"] == "unverified" and "would cost 36 credits" in skipped["detail"]
    assert "--max-credits" in skipped["fix"] and "6 to 17 credits" in skipped["fix"]
    app = create_app(keys(second=50), None)
    _, report, _ = verify(app, tmp_path, "--max-credits", str(plan + 36), examples="0")
    assert by_clause(report)["ait.credits.no_overdraft"]["status"] == "passed"
    assert app.state.server.credits[SECOND] == 50 - 6 * CREDITS_PER_SUCCESS - 2 * CREDITS_PER_SUCCESS


# -- the state machine ------------------------------------------------------------------------------
def key_environment() -> dict[str, str]:
    """The variables a credit reproducer reads the keys from, as a user would export them."""
    roles = {"main": MAIN, "second": SECOND, "low": LOW}
    return {**os.environ, **{var: roles[role] for (api, role), var in KEY_VARIABLES.items() if api is Api.AITHRIVING}}


@pytest.mark.parametrize("seed", [0, 1])
def test_the_state_machine_shrinks_a_refund_bug_to_a_short_reproducer_that_fails_again(tmp_path, seed):
    """The issue's done-when: a refund that adds back the key's last charge as well (so a failure
    right after a success gives 6 credits away) is found by a default verify, shrunk to at most 5
    steps, and the printed reproducer shows it again each time it is run."""
    app = create_app(keys(), "refund_after_success")
    report = tmp_path / "report.json"
    with serving(app) as server:
        argv = ["verify", "--api", "aithriving", "--base-url", server.url, "--api-key", MAIN, "--api-key", SECOND]
        argv += ["--low-credit-key", LOW, "--credits-url", f"{server.url}/balance", "--yes"]
        argv += ["--json-report", str(report), "--hypothesis-seed", str(seed)]
        assert main(argv) == 1
        sequence = by_clause(json.loads(report.read_text()))["ait.credits.sequence"]
        assert (sequence["status"], sequence["level"]) == ("failed", "MUST")
        steps = sequence["evidence"]["sequence"]["steps"]
        assert 2 <= len(steps) <= 5 and "failed twice more when replayed" in sequence["detail"]
        assert steps[-1]["balances"]["main"] == steps[-1]["expected"]["main"] + CREDITS_PER_SUCCESS
        script = sequence["reproduce"]
        assert script.startswith("python3 - <<'PY'") and MAIN not in script
        for _ in range(2):  # rerunning it reproduces it, each time
            again = subprocess.run(["bash", "-c", script], env=key_environment(), capture_output=True, text=True)
            assert again.returncode == 1, again.stdout + again.stderr
            assert "REPRODUCED after step" in again.stderr and "main" in again.stderr
            assert again.stdout.count("\nstep ") == len(steps)  # the start, then one line per step


def test_the_sequence_reproducer_passes_against_a_right_ledger(tmp_path):
    _, report, _ = verify(create_app(keys(), "refund_after_success"), tmp_path)
    script = by_clause(report)["ait.credits.sequence"]["reproduce"]
    with serving(create_app(keys(), None)) as server:
        origin = script.split("URL = '", 1)[1].split("/api/", 1)[0]
        script = script.replace(origin, server.url)
        again = subprocess.run(["bash", "-c", script], env=key_environment(), capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "not reproduced: every balance matched" in again.stdout


def test_the_fake_ledger_follows_the_state_machine_over_thousands_of_steps():
    """In process: every sequence starts the second and low keys from drawn small balances, so keys
    run dry, are refused for credits and strangers knock, and every balance is checked after each step."""
    target = EmbeddedTarget(inject_429=False)
    runner = runner_for(target)
    runner.current_probe = "credits_sequences"
    before = {role: runner.balance(role) for role in FUNDED}
    run = run_ledger_machine(runner, examples=250, steps=10, budget=None, seed=0)
    assert run.failure is None and not run.unavailable
    assert run.steps >= 2000 and run.requests >= 1500
    assert runner.tally.status("ait.credits.success") == runner.tally.status("ait.credits.insufficient") == "passed"
    assert {role: runner.balance(role) for role in FUNDED} == before  # the later probes see the keys as they were


class ServedFake(RemoteTarget):
    """`serve` over HTTP, whose balances are set through its admin API as the embedded fake's are set."""

    sets_credits = True

    def set_credits(self, api, key, credits):
        answer = self.client.put(f"{self.base_url}/__fake__/keys/{key}", json={"credits": credits})
        return answer.status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_served_fake_follows_the_state_machine_with_one_and_two_workers(tmp_path, workers):
    """Two workers share one SQLite ledger: consecutive requests land in either process, and every
    balance read (by either) must be what the ledger says after every step."""
    flags = [f for key, credits in keys(second=60).items() for f in ("--api-key", f"{key}={credits}")]
    if workers > 1:
        flags += ["--workers", str(workers), "--db", str(tmp_path / "state.db")]
    server = ServeProcess(*flags, timeout=90)
    try:
        if workers > 1:
            assert f"{workers} worker processes sharing the ledger" in server.banner
        roles = {"main": MAIN, "second": SECOND, "low": LOW}
        target = ServedFake(
            server.url, {Api.AITHRIVING: roles}, credits_url=f"{server.url}/__fake__/credits", timeout=60
        )
        runner = runner_for(target)
        runner.current_probe = "credits_sequences"
        run = run_ledger_machine(runner, examples=40, steps=10, budget=None, seed=workers)
        target.close()
        assert run.failure is None and not run.unavailable
        assert run.steps >= 300
        assert runner.tally.status("ait.credits.insufficient") == "passed"
        assert [r.clause for r in runner.tally.results(lambda _: None) if r.status == "failed"] == []
    finally:
        server.close()

"""Reports (JSON, JUnit, console), exit codes, the cost plan and the curl reproducers."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS
from inpaint_conformance.fakes import Fault
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.server import serving
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.credentials import NEAR_MISSES, near_miss, shell_value
from inpaint_conformance.harness.probe_registry import planned_successes, probes_for
from inpaint_conformance.harness.probes_credits import sequence_successes
from inpaint_conformance.harness.reports import load_json, print_console, write_json, write_junit
from inpaint_conformance.harness.reproduce import Reproducer
from inpaint_conformance.harness.request_spec import RequestSpec, valid_spec
from inpaint_conformance.harness.results import ClauseResult, ReportError, RunReport
from inpaint_conformance.harness.runner import Runner
from inpaint_conformance.harness.target import WRONG_KEY, EmbeddedTarget


def report_with(*results: ClauseResult) -> RunReport:
    return RunReport(["aithriving", "vyro"], "http://example.test", list(results), "2024-01-01T00:00:00+00:00", "1.2.3")


MUST_FAILED = ClauseResult("aithriving", "ait.seed.range", "MUST", "failed", "seed -1 accepted", "curl -X POST x")
SHOULD_FAILED = ClauseResult("vyro", "vyro.kept_pixels", "SHOULD", "failed", "PSNR 20 dB")
PASSED = ClauseResult("vyro", "vyro.success.png", "MUST", "passed", "3 checks", evidence={"checks": 3})
UNVERIFIED = ClauseResult(
    "aithriving",
    "ait.credits.success",
    "MUST",
    "unverified",
    "credits are not observable",
    fix="pass --credits-url URL",
)
NOT_EXERCISED = ClauseResult("vyro", "vyro.rate.retry_after", "SHOULD", "not_exercised", "no 429 came")


def test_exit_codes_follow_levels():
    assert report_with(PASSED, UNVERIFIED).exit_code(strict=False) == 0
    assert report_with(PASSED, UNVERIFIED).exit_code(strict=True) == 1  # a MUST not verified fails --strict
    assert report_with(PASSED, NOT_EXERCISED).exit_code(strict=True) == 0  # nothing happened to judge
    assert report_with(PASSED, SHOULD_FAILED).exit_code(strict=False) == 0
    assert report_with(PASSED, SHOULD_FAILED).exit_code(strict=True) == 1
    assert report_with(PASSED, MUST_FAILED).exit_code(strict=False) == 1
    assert report_with(PASSED, MUST_FAILED, SHOULD_FAILED, UNVERIFIED, NOT_EXERCISED).summary() == {
        "passed": 1,
        "failed": 2,
        "unverified": 1,
        "not_exercised": 1,
        "must_failed": 1,
        "must_unverified": 1,
    }


def test_json_round_trip_and_shape(tmp_path):
    report = report_with(MUST_FAILED, PASSED, UNVERIFIED)
    path = write_json(report, tmp_path / "out" / "report.json")
    data = json.loads(path.read_text())
    assert set(data) >= {"apis", "summary", "results"}
    assert data["summary"] == {
        "passed": 1,
        "failed": 1,
        "unverified": 1,
        "not_exercised": 0,
        "must_failed": 1,
        "must_unverified": 1,
    }
    assert data["results"][0] == {
        "api": "aithriving",
        "clause": "ait.seed.range",
        "level": "MUST",
        "status": "failed",
        "detail": "seed -1 accepted",
        "reproduce": "curl -X POST x",
        "evidence": {},
        "fix": None,
    }
    assert data["results"][2]["fix"] == "pass --credits-url URL"
    assert load_json(path) == report


def test_a_report_written_before_unverified_existed_reads_its_skipped_as_unverified(tmp_path):
    path = tmp_path / "old.json"
    old = {"api": "vyro", "clause": "vyro.rate.limit", "level": "MAY", "status": "skipped", "detail": "no 429"}
    path.write_text(json.dumps({"results": [old]}))
    (result,) = load_json(path).results
    assert result.status == "unverified" and result.fix is None


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no report at"),
        ("{not json", "is not JSON"),
        ('{"apis": []}', "expected a JSON object with a 'results' list"),
        ('{"results": [{"api": "vyro"}]}', "lacks clause, level, status, detail"),
        (
            '{"results": [{"api": "vyro", "clause": "x", "level": "MUST", "status": "green", "detail": ""}]}',
            "status must be one of",
        ),
    ],
)
def test_load_json_says_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ReportError, match=message):
        load_json(path)


def test_junit_has_a_testcase_per_clause_with_failures_and_skips(tmp_path):
    path = write_junit(report_with(MUST_FAILED, PASSED, UNVERIFIED, SHOULD_FAILED), tmp_path / "junit.xml")
    root = ET.parse(path).getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"inpaint-conformance.aithriving", "inpaint-conformance.vyro"}
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"ait.seed.range", "vyro.success.png", "ait.credits.success", "vyro.kept_pixels"}
    failure = cases["ait.seed.range"].find("failure")
    assert failure is not None and "curl -X POST x" in failure.text and failure.get("type") == "MUST"
    skipped = cases["ait.credits.success"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "unverified: credits are not observable (to verify it: pass --credits-url URL)"
    assert cases["vyro.success.png"].find("failure") is None
    assert suites["inpaint-conformance.vyro"].get("failures") == "1"


def console_text(report: RunReport, strict: bool = False) -> str:
    buffer = io.StringIO()
    print_console(report, Console(file=buffer, width=160), strict=strict)
    return buffer.getvalue()


def test_console_shows_tables_failures_and_summary():
    text = console_text(report_with(MUST_FAILED, PASSED, UNVERIFIED))
    assert "aithriving: 0 passed, 1 failed, 1 unverified, 0 not exercised" in text
    assert "vyro.success.png" in text and "curl -X POST x" in text
    lines = text.strip().splitlines()
    assert lines[-2] == "1 passed, 1 failed, 1 unverified, 0 not exercised"
    assert lines[-1] == "FAILED: 1 clause failed (1 MUST); 1 MUST clause not verified: pass --credits-url URL"


@pytest.mark.parametrize(
    "strict, last",
    [
        (False, "OK, but 1 MUST clause not verified: pass --credits-url URL"),
        (True, "FAILED (--strict): 1 MUST clause not verified: pass --credits-url URL"),
    ],
)
def test_the_last_line_says_how_many_must_clauses_were_not_verified_and_how_to_verify_them(strict, last):
    text = console_text(report_with(PASSED, UNVERIFIED, NOT_EXERCISED), strict=strict)
    assert text.strip().splitlines()[-1] == last
    assert "(to verify it: pass --credits-url URL)" in text  # the clause's row says it too


def test_the_last_line_of_a_fully_verified_run_says_ok():
    assert console_text(report_with(PASSED, NOT_EXERCISED)).strip().splitlines()[-1] == (
        "OK: every MUST clause was verified and none failed"
    )


def test_each_probe_spends_at_most_what_it_planned():
    target = EmbeddedTarget(inject_429=False)
    ledger, charges = target.provider.ledger, {}
    taking = ledger.try_charge
    runner = Runner(
        target, Api.AITHRIVING, examples=3, hypothesis_seed=0, reproducer=Reproducer("http://x", wrong_key=WRONG_KEY)
    )

    def counted(key, amount):  # every charge the fake takes, whichever key pays it, by the probe that caused it
        left = taking(key, amount)
        if left is not None:
            charges[runner.current_probe] = charges.get(runner.current_probe, 0) + amount // CREDITS_PER_SUCCESS
        return left

    ledger.try_charge = counted
    runner.run()
    planned = {p.name: p.planned_successes(3) for p in probes_for(Api.AITHRIVING)}
    # On the embedded fake the state machine is not capped: its credits cost nothing (remote runs cap it).
    over = {
        name: (n, planned[name]) for name, n in charges.items() if n > planned[name] and name != "credits_sequences"
    }
    assert over == {}
    # The fake refuses the four requests it may refuse (a 20,000-character prompt, a 20 MiB upload,
    # a prompt that is not UTF-8, an empty seed); the state machine plans a most, not a count.
    spent = sum(n for name, n in charges.items() if name != "credits_sequences")
    assert planned_successes(Api.AITHRIVING, 3) - 4 - sequence_successes(3) <= spent


def test_remote_run_prints_its_cost_first(tmp_path, live_fake, capsys):
    url, _ = live_fake
    assert (
        main(
            [
                "verify",
                "--base-url",
                url,
                "--api-key",
                "test-key",
                "--api",
                "aithriving",
                "--examples",
                "2",
                "--yes",
                "--max-credits",
                "100000",
            ]
        )
        == 0
    )
    planned = planned_successes(Api.AITHRIVING, 2) + 1  # the preflight's one valid request
    assert f"up to {planned} charged requests x 6 credits = {planned * 6} credits" in capsys.readouterr().err


def _exchange(spec: RequestSpec, api: Api = Api.AITHRIVING):
    target = EmbeddedTarget(inject_429=False)
    runner = Runner(target, api, examples=0, hypothesis_seed=0, reproducer=Reproducer("http://x", wrong_key=WRONG_KEY))
    runner.current_probe = "unit"
    return runner.send(spec)


def test_reproducer_uses_files_for_what_a_command_line_cannot_carry(tmp_path):
    reproducer = Reproducer("http://127.0.0.1:8000", tmp_path / "probes", wrong_key=WRONG_KEY)
    truncated = reproducer.command(_exchange(valid_spec().but(body="truncated")))
    assert "--data-binary @" in truncated and "content-type: multipart/form-data; boundary=" in truncated
    binary = reproducer.command(_exchange(valid_spec(prompt=b"\xff\xfe")))
    prompt_file = binary.split("prompt=<", 1)[1].split("'", 1)[0]
    with open(prompt_file, "rb") as saved:
        assert saved.read() == b"\xff\xfe"
    wrong = reproducer.command(_exchange(valid_spec().but(auth="wrong")))
    assert f"authorization: {WRONG_KEY}" in wrong
    none = reproducer.command(_exchange(valid_spec().but(auth="none")))
    assert "authorization" not in none
    bearer = reproducer.command(_exchange(valid_spec().but(auth="authorization-bearer"), Api.VYRO))
    assert '"Authorization: Bearer $VYRO_TOKEN"' in bearer


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("role", sorted(NEAR_MISSES))
@pytest.mark.parametrize("key", ["k", "Key-With-Letters_09", "1234"])
def test_a_near_miss_reproducer_expands_to_the_near_miss_it_sent_without_writing_the_key(role, key):
    """The curl line of a near-miss probe reads the key from $AIT_API_KEY and bends it in the shell."""
    expected = near_miss(role, key)
    if expected is None:  # no letters to swap the case of, nothing left once cut: no such probe is sent
        assert (role, key) in {("near-miss-case", "1234"), ("near-miss-truncated", "k")}
        return
    value = shell_value(Api.AITHRIVING, role, WRONG_KEY)
    assert key not in value
    echoed = subprocess.run(
        ["bash", "-c", f'printf %s "{value}"'], env={**os.environ, "AIT_API_KEY": key}, capture_output=True, text=True
    )
    assert echoed.stdout == expected


def test_reproducer_without_a_report_says_where_files_would_go():
    command = Reproducer("http://h", None, wrong_key=WRONG_KEY).command(_exchange(valid_spec()))
    assert "--json-report PATH" in command.splitlines()[-1]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_reproducer_replays_the_failure_with_curl(tmp_path, provider):
    """The curl command of a failure, run as printed, gets the same wrong answer from the server."""
    provider.faults.add(Fault(kind="seed_range_unchecked"))
    with serving(create_app(provider)) as server:
        report_path = tmp_path / "report.json"
        main(
            [
                "verify",
                "--base-url",
                server.url,
                "--api-key",
                "test-key",
                "--api",
                "aithriving",
                "--examples",
                "0",
                "--yes",
                "--json-report",
                str(report_path),
            ]
        )
        failed = [r for r in load_json(report_path).results if r.status == "failed"]
        assert [r.clause for r in failed] == ["ait.seed.range"]
        command = failed[0].reproduce.splitlines()[0]
        assert "test-key" not in command
        env = {**os.environ, "AIT_API_KEY": "test-key"}
        answer = subprocess.run(command, shell=True, capture_output=True, env=env, timeout=30, check=True)
    assert json.loads(answer.stdout)["code"] == 0  # the out-of-range seed was served, as verify said


def test_probe_modules_imported_again_do_not_run_twice():
    """pytester and plugin reloads import probe modules afresh; each probe still runs once."""
    import importlib
    import sys

    before = [p.name for p in probes_for(Api.VYRO)]
    sys.modules.pop("inpaint_conformance.harness.probes_vyro")
    importlib.import_module("inpaint_conformance.harness.probes_vyro")
    after = [p.name for p in probes_for(Api.VYRO)]
    assert after == before and len(set(after)) == len(after)

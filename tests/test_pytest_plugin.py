"""The harness pytest plugin, driven through pytester as a user's own session would be."""

from __future__ import annotations

import re
from importlib.metadata import entry_points

import pytest

from inpaint_conformance.contracts import Api, clauses
from inpaint_conformance.contracts.catalog import credit_clauses

pytest_plugins = ["pytester"]

AIT_CLAUSES = len(clauses("aithriving"))
# Installed packages load the plugin through its entry point; a bare checkout needs -p.
INSTALLED = any(ep.name == "inpaint_harness" for ep in entry_points(group="pytest11"))
PLUGIN = [] if INSTALLED else ["-p", "inpaint_conformance.harness.pytest_plugin"]
# One example: with none, no sequence is drawn and ait.credits.sequence is (rightly) unverified.
FAST = ["--inpaint-target", "embedded", "--inpaint-api", "aithriving", "--inpaint-examples", "1"]


@pytest.fixture
def session(pytester: pytest.Pytester):
    pytester.makepyfile(test_mine="def test_own():\n    assert True\n")

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest(*PLUGIN, "-p", "no:cacheprovider", *args)

    return run


def test_without_the_option_the_plugin_adds_nothing(session):
    result = session("-v")
    result.assert_outcomes(passed=1)
    assert "inpaint[" not in result.stdout.str()


def test_embedded_target_gives_one_passing_test_per_clause(session):
    result = session(*FAST, "-v")
    result.assert_outcomes(passed=AIT_CLAUSES + 1)  # the user's own test runs beside them
    result.stdout.fnmatch_lines(
        [
            f"collect* collected {AIT_CLAUSES + 1} items",
            "*::inpaint?ait.seed.range? PASSED*",
            "*::inpaint?ait.credits.success? PASSED*",
        ]
    )
    assert "inpaint[vyro." not in result.stdout.str()


def test_a_broken_must_clause_fails_its_test_with_detail_and_reproducer(session, monkeypatch):
    from inpaint_conformance.harness.commands import verify

    calls = []
    real_run = verify.run
    monkeypatch.setattr(verify, "run", lambda args: calls.append(args) or real_run(args))
    result = session(*FAST, "--inpaint-deviation", "seed_echo_wrong")

    # A misreported seed cannot be replayed either: ait.reproducible, a SHOULD, is an xfail.
    result.assert_outcomes(passed=AIT_CLAUSES - 1, failed=1, xfailed=1)
    assert len(calls) == 1  # the suite ran once for the whole session
    result.stdout.fnmatch_lines(
        [
            "*ait.seed.echo [[]MUST[]] failed: sent seed *, data.seed is *",
            "reproduce:",
            "*curl*",
            "FAILED *inpaint[[]ait.seed.echo[]]*",
        ]
    )


def test_an_app_is_verified_in_process_with_inpaint_app(session):
    from pathlib import Path

    from servers.hosting import MAIN

    root = Path(__file__).resolve().parents[1]
    app = "tests.servers.inprocess_apps:seed_mutant"  # tests/servers/fastapi_server.py with one MUST bug
    result = session(
        *["--inpaint-app", app, "--inpaint-app-dir", str(root), "--inpaint-key", MAIN, "--inpaint-api", "aithriving"],
        *["--inpaint-credits-url", "/credits", "--inpaint-examples", "0", "-v"],
    )
    result.stdout.fnmatch_lines(["*::inpaint?ait.seed.range? FAILED*", "*::inpaint?ait.credits.success? PASSED*"])
    assert result.parseoutcomes()["failed"] == 1
    assert "seed 4294967295 is above the maximum 4294967294" in result.stdout.str()


def test_a_broken_should_clause_is_xfail_unless_strict(session):
    lenient = session(*FAST, "--inpaint-deviation", "kept_pixels_drift", "-rx")
    lenient.assert_outcomes(passed=AIT_CLAUSES, xfailed=1)
    lenient.stdout.fnmatch_lines(["XFAIL *inpaint[[]ait.kept_pixels[]]*SHOULD clause failed*PSNR*"])

    strict = session(*FAST, "--inpaint-deviation", "kept_pixels_drift", "--inpaint-strict")
    strict.assert_outcomes(passed=AIT_CLAUSES, failed=1)


def test_k_selects_among_the_clause_tests(session):
    result = session(*FAST, "-k", "seed", "-v")
    seed_clauses = [c for c in clauses("aithriving") if "seed" in c.id]
    result.assert_outcomes(passed=len(seed_clauses))


def test_an_unusable_target_fails_every_clause_test_with_the_reason(session):
    result = session(
        "--inpaint-target",
        "http://127.0.0.1:9",
        "--inpaint-api",
        "vyro",
        "--inpaint-key",
        "k-secret-123",
        "-k",
        "transport or auth",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 2 and "passed" not in outcomes
    text = result.stdout.str()
    assert "the inpaint-conformance suite could not run" in text and "127.0.0.1:9" in text
    assert "k-secret-123" not in text


def test_a_deviation_for_a_remote_target_is_refused_clearly(session):
    result = session(
        "--inpaint-target", "http://127.0.0.1:9", "--inpaint-deviation", "seed_echo_wrong", "-k", "ait.transport.post"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*--inpaint-deviation*cannot change a server at --inpaint-target*"])


CREDIT_CLAUSES = credit_clauses(Api.AITHRIVING)


def _plugin_options(session) -> set[str]:
    helptext = session("--help").stdout.str()
    return set(re.findall(r"(--inpaint-[a-z-]+)", helptext))


def _flags_in_reasons(result: pytest.RunResult) -> set[str]:
    reasons = [line for line in result.stdout.lines if line.startswith(("SKIPPED", "XFAIL", "FAILED", "E "))]
    assert reasons, result.stdout.str()
    return {flag for line in reasons for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line)}


def test_skip_reasons_name_the_plugins_own_options(session, live_fake):
    """A remote target without a credits URL: each credit clause is skipped, saying which plugin option enables it."""
    url, _ = live_fake
    result = session(
        "--inpaint-target", url, "--inpaint-api", "aithriving", "--inpaint-key", "test-key",
        "--inpaint-examples", "0", "-k", "credits", "-rsx",
    )  # fmt: skip
    result.assert_outcomes(skipped=len(CREDIT_CLAUSES))
    result.stdout.fnmatch_lines(["SKIPPED * unverified: credits are not observable*pass --inpaint-credits-url*"])
    flags = _flags_in_reasons(result)
    assert flags and flags <= _plugin_options(session), flags  # e.g. no `--credits-url`, `--api-key`


def test_every_credit_clause_can_be_verified_from_the_plugin(session, live_fake):
    url, provider = live_fake
    provider.add_key("second-key", 14)  # credits for two results: ait.credits.no_overdraft sends it more at once
    provider.add_key("low-key", 3)
    # One example: with none, no sequence is drawn and ait.credits.sequence is (rightly) unverified.
    base = ["--inpaint-target", url, "--inpaint-api", "aithriving", "--inpaint-examples", "1", "-rs", "-v"]
    without_keys = session(*base, "--inpaint-key", "test-key", "--inpaint-credits-url", f"{url}/__fake__/credits")
    without_keys.stdout.fnmatch_lines(["SKIPPED * unverified: *second key*--inpaint-key*"])
    without_keys.stdout.fnmatch_lines(["SKIPPED * unverified: *fewer than 6 credits*--inpaint-low-credit-key*"])
    assert _flags_in_reasons(without_keys) <= _plugin_options(session)

    result = session(
        *base, "--inpaint-key", "test-key", "--inpaint-key", "second-key",
        "--inpaint-low-credit-key", "low-key", "--inpaint-credits-url", f"{url}/__fake__/credits",
        "-k", "credits",
    )  # fmt: skip
    result.assert_outcomes(passed=len(CREDIT_CLAUSES))
    result.stdout.fnmatch_lines([f"*inpaint?{clause}? PASSED*" for clause in CREDIT_CLAUSES], consecutive=False)
    assert provider.ledger.balance("low-key") == 3  # refused, never charged, never negative


def test_max_credits_guards_a_paid_run(session, live_fake):
    url, _ = live_fake
    result = session(
        "--inpaint-target", url, "--inpaint-api", "aithriving", "--inpaint-key", "test-key",
        "--inpaint-max-credits", "6", "-k", "ait.seed.range",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*over --inpaint-max-credits 6*"])


def test_a_verdict_that_is_not_passed_or_failed_is_never_a_pass(monkeypatch):
    """Statuses other than passed/failed (skipped, unverified, ...) are skips with the reason."""
    from types import SimpleNamespace

    from inpaint_conformance.harness import pytest_plugin

    # A status a newer verify may give; the item only reads status, level and detail.
    unverified = SimpleNamespace(status="unverified", level="SHOULD", detail="needs --credits-url here")
    item = SimpleNamespace(
        clause=SimpleNamespace(id="ait.kept_pixels"), suite=SimpleNamespace(result=lambda _id: unverified)
    )
    with pytest.raises(pytest.skip.Exception, match=r"unverified: needs --inpaint-credits-url here"):
        pytest_plugin.ClauseItem.runtest(item)

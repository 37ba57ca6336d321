"""The harness pytest plugin, driven through pytester as a user's own session would be."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from inpaint_conformance.contracts import clauses

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

    result.assert_outcomes(passed=AIT_CLAUSES, failed=1)
    assert len(calls) == 1  # the suite ran once for the whole session
    result.stdout.fnmatch_lines(
        [
            "*ait.seed.echo [[]MUST[]] failed: sent seed *, data.seed is *",
            "reproduce:",
            "*curl*",
            "FAILED *inpaint[[]ait.seed.echo[]]*",
        ]
    )


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
    result.stdout.fnmatch_lines(["*--deviation*cannot change a server at --base-url*"])

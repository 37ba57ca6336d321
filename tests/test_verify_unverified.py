"""Unverified is not passed: a clause `verify` could not judge says so, why, and which flag would let it.

Against the embedded fake (every key it needs, credits observable) every clause of the
catalog is verified. Against a server without --credits-url the seven MUST credit
clauses are not: the last line, summary.must_unverified, JUnit and the HTML report say
so, and --strict fails the run.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from inpaint_conformance.contracts import CATALOG, Api, Level, clauses
from inpaint_conformance.harness.cli import main

CREDIT_MUSTS = {
    f"ait.credits.{name}"
    for name in ("success", "failure", "insufficient", "isolation", "concurrent", "no_overdraft", "sequence")
}


def test_the_embedded_fake_verifies_every_clause_of_the_catalog(tmp_path, capsys):
    report_path = tmp_path / "r.json"
    assert main(["verify", "--json-report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    statuses = {r["clause"]: r["status"] for r in report["results"]}
    assert sorted(statuses) == sorted(c.id for c in CATALOG)  # one verdict per clause
    not_passed = {c: s for c, s in statuses.items() if s != "passed"}
    assert not_passed == {}
    must = len(clauses(level=Level.MUST))
    assert report["summary"] == {
        "passed": len(CATALOG),
        "failed": 0,
        "unverified": 0,
        "not_exercised": 0,
        "must_failed": 0,
        "must_unverified": 0,
    }
    assert must == sum(1 for r in report["results"] if r["level"] == "MUST" and r["status"] == "passed")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "OK: every MUST clause was verified and none failed"


@pytest.fixture(scope="module")
def without_credits(tmp_path_factory):
    """One remote run of the fake's server door with one key and no --credits-url, in every format."""
    from inpaint_conformance.fakes import FakeProvider
    from inpaint_conformance.fakes.app import create_app
    from inpaint_conformance.fakes.server import serving

    folder = tmp_path_factory.mktemp("unverified")
    provider = FakeProvider()
    provider.add_key("only-key", 100_000)
    paths = {"json": folder / "r.json", "xml": folder / "r.xml", "html": folder / "r.html"}
    runs = {}
    with serving(create_app(provider)) as server:
        base = ["verify", "--base-url", server.url, "--api-key", "only-key", "--examples", "0", "--yes"]
        for strict in (False, True):
            outputs = ["--json-report", str(paths["json"]), "--junit-xml", str(paths["xml"])]
            outputs += ["--html-report", str(paths["html"])]
            runs[strict] = main(base + outputs + (["--strict"] if strict else []))
    return runs, paths


def test_without_credits_url_the_summary_counts_the_must_clauses_not_verified(without_credits):
    runs, paths = without_credits
    report = json.loads(paths["json"].read_text())
    unverified = {r["clause"]: r for r in report["results"] if r["status"] == "unverified"}
    assert set(unverified) == CREDIT_MUSTS
    assert report["summary"]["must_unverified"] == len(CREDIT_MUSTS) == 7
    assert report["summary"]["failed"] == 0
    for result in unverified.values():
        assert result["detail"] == "credits are not observable"
        assert result["fix"].startswith("pass --credits-url URL")
    assert runs[False] == 0  # nothing failed: OK, but...
    assert runs[True] == 1  # ...--strict fails a run whose MUST clauses were not all verified


def test_without_credits_url_the_last_line_says_how_many_and_how_to_verify_them(tmp_path, live_fake, capsys):
    url, _ = live_fake
    assert main(["verify", "--base-url", url, "--api-key", "test-key", "--examples", "0", "--yes"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("OK, but 7 MUST clauses not verified: pass --credits-url URL")


def test_junit_marks_unverified_clauses_skipped_with_the_reason_and_the_flag(without_credits):
    _, paths = without_credits
    cases = {c.get("name"): c for c in ET.parse(paths["xml"]).getroot().iter("testcase")}
    for clause_id in CREDIT_MUSTS:
        skipped = cases[clause_id].find("skipped")
        assert skipped is not None
        assert "credits are not observable" in skipped.get("message") and "--credits-url" in skipped.get("message")


def test_the_html_report_shows_a_banner_for_the_must_clauses_not_verified(without_credits):
    _, paths = without_credits
    page = paths["html"].read_text(encoding="utf-8")
    start = page.index('data-testid="unverified"')
    banner = page[start : page.index("</p>", start)]
    assert "7 MUST clauses not verified" in banner and "pass --credits-url URL" in banner


def test_an_unused_behaviour_is_not_exercised_never_passed(without_credits):
    """The fake's server door sends no 429 here: the rate clauses had nothing to judge."""
    _, paths = without_credits
    report = json.loads(paths["json"].read_text())
    status = {r["clause"]: r["status"] for r in report["results"]}
    for api in Api:
        assert status[f"{api.prefix}.rate.retry_after"] == "not_exercised"
        assert status[f"{api.prefix}.rate.limit"] == "not_exercised"

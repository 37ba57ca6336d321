"""verify --baseline / --write-baseline / --strict-baseline against mutant servers.

The mutants are the embedded fake with named deviations (fakes/faults.py): each breaks
one clause, so a server with "2 known failing clauses" is two deviations, a regression
a third, and a fix one taken away.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from inpaint_conformance.harness.baseline import apply_baseline, load_baseline
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.html_report import render_html
from inpaint_conformance.harness.results import ClauseResult, RunReport

# Each deviation breaks exactly this clause of aithriving (checked by the first test).
TWO_KNOWN = {"success_message_wrong": "ait.success.code", "prompt_optional": "ait.prompt.required"}
REGRESSION = ("size_rounded", "ait.output.size")


def verify(tmp_path, deviations, *extra: str) -> tuple[int, dict]:
    report = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    argv = ["verify", "--api", "aithriving", "--examples", "2", "--json-report", str(report)]
    for name in deviations:
        argv += ["--deviation", name]
    code = main(argv + list(extra))
    return code, json.loads(report.read_text())


def last_line(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def baseline_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("baseline")
    path = folder / "known.json"
    code, report = verify(folder, TWO_KNOWN, "--write-baseline", str(path))
    assert code == 1  # the run itself fails: two MUST clauses do
    assert sorted(r["clause"] for r in report["results"] if r["status"] == "failed") == sorted(TWO_KNOWN.values())
    return path


def test_write_baseline_records_the_failing_clauses_with_their_reasons(baseline_file):
    data = json.loads(baseline_file.read_text())
    entries = {e["clause"]: e for e in data["known_failures"]}
    assert sorted(entries) == sorted(TWO_KNOWN.values())
    assert entries["ait.success.code"]["level"] == "MUST"
    assert entries["ait.success.code"]["status"] == "failed"
    assert entries["ait.success.code"]["api"] == "aithriving"
    assert "message" in entries["ait.success.code"]["reason"]
    assert data["tool_version"] and data["strict"] is False


def test_the_same_failures_against_their_baseline_exit_0(tmp_path, baseline_file, capsys):
    code, report = verify(tmp_path, TWO_KNOWN, "--baseline", str(baseline_file))
    assert code == 0
    assert last_line(capsys) == f"OK: no new failure (2 known failures in {baseline_file})"
    marks = {r["clause"]: r.get("baseline") for r in report["results"] if r.get("baseline")}
    assert marks == dict.fromkeys(TWO_KNOWN.values(), "known")
    assert report["baseline"] | {"not_judged": None} == {
        "path": str(baseline_file),
        "strict": False,
        "known": 2,
        "new": 0,
        "fixed": 0,
        "not_judged": None,
    }


def test_a_third_failure_exits_1_naming_only_it(tmp_path, baseline_file, capsys):
    name, clause = REGRESSION
    junit = tmp_path / "junit.xml"
    code, report = verify(tmp_path, [*TWO_KNOWN, name], "--baseline", str(baseline_file), "--junit-xml", str(junit))
    assert code == 1
    line = last_line(capsys)
    assert line == f"FAILED: 1 new failure not in the baseline: {clause} (MUST); 2 known failures in {baseline_file}"
    for known in TWO_KNOWN.values():
        assert known not in line
    assert {r["clause"] for r in report["results"] if r.get("baseline") == "new"} == {clause}
    # JUnit: the regression is a failure, the known ones are skipped as expected failures.
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases[clause].find("failure") is not None
    assert "new failure" in cases[clause].find("failure").get("message")
    for known in TWO_KNOWN.values():
        skipped = cases[known].find("skipped")
        assert skipped is not None and skipped.get("message").startswith("known failure (baseline)")
    assert ET.parse(junit).getroot().get("failures") == "1"


def test_a_fixed_clause_is_reported_and_fails_only_strict_baseline(tmp_path, baseline_file, capsys):
    still_broken = ["prompt_optional"]  # success_message_wrong is fixed
    code, report = verify(tmp_path, still_broken, "--baseline", str(baseline_file))
    out = capsys.readouterr().out
    assert code == 0
    assert "1 clause of the baseline now passes (fixed): ait.success.code" in out
    assert f"--write-baseline {baseline_file}" in out
    assert out.strip().splitlines()[-1].endswith("1 fixed: update the baseline)")
    assert {r["clause"]: r.get("baseline") for r in report["results"] if r.get("baseline")} == {
        "ait.success.code": "fixed",
        "ait.prompt.required": "known",
    }
    code, report = verify(tmp_path, still_broken, "--baseline", str(baseline_file), "--strict-baseline")
    assert code == 1
    assert last_line(capsys).startswith(
        "FAILED (--strict-baseline): 1 clause of the baseline now passes: ait.success.code"
    )


def test_html_report_shows_each_clause_standing_against_the_baseline(tmp_path, baseline_file):
    _, data = verify(tmp_path, [*TWO_KNOWN, REGRESSION[0]], "--baseline", str(baseline_file))
    page = render_html(RunReport.from_dict(data))
    assert 'data-clause="ait.output.size" data-status="failed" data-baseline="new"' in page
    assert 'data-clause="ait.success.code" data-status="failed" data-baseline="known"' in page
    assert "1 new failure (ait.output.size)" in page


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"known_failures": [{"clause": "ait.no_such_clause"}]}', "'ait.no_such_clause' is not a clause of this tool"),
        ("{not json", "is not JSON"),
        ('{"clauses": []}', "is not a baseline"),
        ('{"known_failures": [{"clause": "ait.seed.echo", "api": "vyro"}]}', "is a aithriving clause"),
    ],
)
def test_a_bad_baseline_is_exit_2_with_the_fix_before_anything_runs(tmp_path, capsys, content, expected):
    path = tmp_path / "known.json"
    path.write_text(content)
    assert main(["verify", "--baseline", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "--write-baseline" in err or "fix the entry" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--baseline", "missing.json"], "no baseline at missing.json: write one first"),
        (["--strict-baseline"], "--strict-baseline needs --baseline"),
        (["--write-baseline", "k.json", "--only", "ait.seed.*"], "--write-baseline records a whole run"),
    ],
)
def test_baseline_flag_mistakes_are_exit_2(tmp_path, monkeypatch, capsys, argv, expected):
    monkeypatch.chdir(tmp_path)
    assert main(["verify", *argv]) == 2
    assert expected in capsys.readouterr().err


def _result(clause: str, status: str, level: str = "MUST") -> ClauseResult:
    return ClauseResult("aithriving", clause, level, status, "why")  # type: ignore[arg-type]


def test_a_known_failure_not_judged_this_time_stays_known_and_unverified_is_never_fixed(tmp_path):
    path = tmp_path / "known.json"
    path.write_text(json.dumps({"known_failures": [{"clause": "ait.credits.success"}, {"clause": "ait.seed.echo"}]}))
    report = RunReport(
        ["aithriving"],
        "t",
        [_result("ait.credits.success", "unverified"), _result("ait.seed.echo", "passed")],
        "",
        "1",
    )
    apply_baseline(report, load_baseline(path), strict=True, strict_baseline=False)
    assert [r.baseline for r in report.results] == ["known", "fixed"]
    assert report.exit_code(strict=True) == 0  # the unverified MUST is a known problem, not a new one


def test_an_unverified_must_clause_is_new_only_under_strict(tmp_path):
    path = tmp_path / "known.json"
    path.write_text(json.dumps({"known_failures": []}))
    for strict, mark, code in ((False, None, 0), (True, "new", 1)):
        report = RunReport(["aithriving"], "t", [_result("ait.credits.success", "unverified")], "", "1")
        apply_baseline(report, load_baseline(path), strict=strict, strict_baseline=False)
        assert report.results[0].baseline == mark
        assert report.exit_code(strict=strict) == code

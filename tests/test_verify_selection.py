"""verify --only / --skip: a quick rerun of a few clauses, with their probes only."""

from __future__ import annotations

import json

import pytest

from inpaint_conformance.contracts import Api, clauses
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.probes import planned_successes, probes_for
from inpaint_conformance.harness.selection import judged_by, select

AIT = Api.AITHRIVING


def run(tmp_path, *argv: str) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    code = main(["verify", "--examples", "2", "--json-report", str(report), *argv])
    return code, json.loads(report.read_text())


def test_only_one_failing_clause_reruns_it_with_its_probes_and_leaves_the_rest_not_selected(tmp_path, capsys):
    code, report = run(tmp_path, "--deviation", "seed_echo_wrong", "--only", "ait.seed.echo")
    assert code == 1
    assert report["apis"] == ["aithriving"]  # no vyro clause selected: vyro is not run at all
    status = {r["clause"]: r["status"] for r in report["results"]}
    assert status.pop("ait.seed.echo") == "failed"
    assert set(status.values()) == {"not_selected"}  # never "passed": nothing was said about them
    ran = report["selection"]["probes"]["aithriving"]
    assert "output_formats" in ran and "seed_edges" in ran
    assert "credentials" not in ran and "mask_refusals" not in ran  # they judge no seed echo
    assert report["summary"]["not_selected"] == len(status)
    assert capsys.readouterr().out.strip().splitlines()[-1] == "FAILED: 1 clause failed (1 MUST)"


def test_skip_drops_clauses_and_an_unselected_failure_does_not_fail_the_run(tmp_path, capsys):
    code, report = run(
        tmp_path,
        "--api",
        "aithriving",
        "--deviation",
        "seed_echo_wrong",
        "--skip",
        "ait.seed.*",
        "--skip",
        "ait.reproducible",
    )
    assert code == 0
    status = {r["clause"]: r["status"] for r in report["results"]}
    assert {c for c, s in status.items() if s == "not_selected"} == {
        c.id for c in clauses(AIT) if c.id.startswith("ait.seed.") or c.id == "ait.reproducible"
    }
    assert "failed" not in status.values()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("OK: every selected MUST clause was verified")


def test_every_probe_chosen_judges_a_selected_clause_and_the_cost_shrinks():
    selection = select(["ait.seed.random_differs"], [], [AIT])
    assert selection is not None
    chosen = selection.probes(AIT)
    assert [p.name for p in chosen] == ["random_seeds"]
    assert "ait.seed.random_differs" in judged_by(AIT)["random_seeds"]
    selected_cost = sum(p.planned_successes(10) for p in chosen)
    assert 0 < selected_cost < planned_successes(AIT, 10)
    # Each selected clause is judged by at least one chosen probe, for every clause of the catalog.
    for clause in clauses(AIT):
        one = select([clause.id], [], [AIT])
        assert one is not None
        assert any(clause.id in judged_by(AIT).get(p.name, ()) for p in one.probes(AIT)) or len(one.probes(AIT)) == len(
            probes_for(AIT)
        ), clause.id


def test_max_credits_refuses_a_whole_run_and_accepts_a_selected_one(tmp_path, capsys):
    assert main(["verify", "--api", "aithriving", "--max-credits", "30"]) == 2
    assert "over --max-credits 30" in capsys.readouterr().err
    code, report = run(tmp_path, "--max-credits", "30", "--only", "ait.seed.random_differs")
    assert code == 0
    assert [r["status"] for r in report["results"] if r["clause"] == "ait.seed.random_differs"] == ["passed"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--only", "ait.seed.ech"], "--only 'ait.seed.ech' matches no clause; did you mean ait.seed.echo"),
        (["--only", "ait.seed"], "did you mean ait.seed.*"),
        (["--skip", "vyro.nope*"], "--skip 'vyro.nope*' matches no clause"),
        (["--api", "vyro", "--only", "ait.seed.echo"], "matches only clauses of an API this run does not verify"),
        (["--only", "ait.seed.echo", "--skip", "ait.*"], "leave no clause to verify"),
    ],
)
def test_a_pattern_that_selects_nothing_is_exit_2_naming_close_matches(capsys, argv, expected):
    assert main(["verify", *argv]) == 2
    assert expected in capsys.readouterr().err

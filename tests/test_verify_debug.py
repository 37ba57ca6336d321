"""A probe that crashes is a harness bug: verify exits 2 and says so; --debug keeps the traceback."""

from __future__ import annotations

import pytest

from inpaint_conformance.contracts import Api
from inpaint_conformance.harness import ci_options, runner
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.probes import ProbeDef


def _crashes_deep_inside(ctx) -> None:
    raise KeyError("a harness bug")


@pytest.fixture
def crashing_probe(monkeypatch):
    crash = [ProbeDef("crashes", Api.VYRO, _crashes_deep_inside)]
    monkeypatch.setattr(runner, "probes_for", lambda api: crash)
    monkeypatch.setattr(ci_options, "probes_for", lambda api: crash)


@pytest.mark.parametrize("debug", [False, True])
def test_a_crashed_probe_is_reported_with_its_traceback_under_debug(crashing_probe, capsys, debug):
    code = main(["verify", "--api", "vyro", "--examples", "0", *(["--debug"] if debug else [])])
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert code == 2
    assert "probe crashes (vyro) crashed: KeyError: 'a harness bug'" in err
    if debug:
        assert "Traceback (most recent call last)" in err and "_crashes_deep_inside" in err
    else:
        assert "Traceback" not in err and "(--debug shows where)" in err

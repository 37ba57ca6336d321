"""A13: an empty `seed` field is the server's choice, served as if omitted or refused, never a 5xx
or a charged refusal; a blank one (" ") and anything else that is no integer is still refused."""

from __future__ import annotations

import pytest
from test_contracts_requests import AIT, spec
from test_contracts_responses import JSON, ait_fail, ait_ok

from inpaint_conformance.contracts import (
    Expectation,
    HttpResponse,
    Level,
    Outcome,
    validate_request,
    validate_response,
)
from inpaint_conformance.contracts.sequences import UNCHARGED_WHEN_REFUSED
from inpaint_conformance.contracts.strategies import invalid_requests
from inpaint_conformance.harness.probes import valid_spec
from inpaint_conformance.harness.reproduce import Reproducer
from inpaint_conformance.harness.runner import Runner
from inpaint_conformance.harness.target import WRONG_KEY, EmbeddedTarget


def test_an_empty_seed_leaves_either_answer_open():
    verdict = validate_request(AIT, spec(AIT, fields={"seed": ""}).build())
    assert [(v.clause, v.level) for v in verdict.violations] == [("ait.seed.empty", Level.MAY)]
    assert verdict.request.seed is None
    assert Expectation.from_request(verdict).outcome is Outcome.ANY
    assert "ait.seed.empty" in UNCHARGED_WHEN_REFUSED


@pytest.mark.parametrize("seed", [" ", "1.5", "abc"])
def test_a_blank_or_non_integer_seed_is_still_refused(seed):
    verdict = validate_request(AIT, spec(AIT, fields={"seed": seed}).build())
    assert [v.clause for v in verdict.violations] == ["ait.seed.integer"]
    assert Expectation.from_request(verdict).outcome is Outcome.FAILURE


def judge(answer):
    verdict = validate_request(AIT, spec(AIT, fields={"seed": ""}).build())
    return validate_response(AIT, verdict, answer(verdict), Expectation.from_request(verdict))


def test_served_as_omitted_the_reported_seed_is_a_random_one():
    served = judge(ait_ok(seed=987654))
    assert served.outcome is Outcome.SUCCESS and served.violations == []
    assert {"ait.seed.empty", "ait.seed.random_range"} <= served.held()
    unreplayable = judge(ait_ok(seed=0))  # as omitted: the seed the server picked must be replayable (A15)
    assert [v.clause for v in unreplayable.violations] == ["ait.seed.random_range"]


def test_refused_it_holds_and_a_server_error_breaks_it_and_the_floor():
    refused = judge(ait_fail())
    assert refused.outcome is Outcome.FAILURE and "ait.seed.empty" in refused.held()
    crashed = judge(lambda v: HttpResponse(500, JSON, b'{"code": -1, "message": "boom", "data": null}'))
    assert {"ait.seed.empty", "ait.robust.malformed"} <= {v.clause for v in crashed.violations}


def test_an_empty_seed_refused_by_the_fake_is_judged_on_its_charge():
    """The embedded fake refuses it; the runner reads the key's balance around it like any request."""
    runner = Runner(
        EmbeddedTarget(inject_429=False),
        AIT,
        examples=0,
        hypothesis_seed=0,
        reproducer=Reproducer("http://x", wrong_key=WRONG_KEY),
    )
    runner.current_probe = "unit"
    exchange = runner.send(valid_spec(seed=""))
    assert exchange.outcome is Outcome.FAILURE and exchange.credits is not None
    before, after = exchange.credits
    assert before == after
    results = {r.clause: r for r in runner.tally.results(runner.reproducer.command)}
    assert results["ait.seed.empty"].status == "passed"
    assert "charged 0 credits" in results["ait.seed.empty"].detail


def test_the_strategies_never_draw_an_empty_seed_as_a_refusal():
    from hypothesis import given, settings

    @settings(max_examples=60, deadline=None, database=None)
    @given(invalid_requests(AIT, clauses=["ait.seed.integer"]))
    def check(labelled):
        request, _ = labelled
        verdict = validate_request(AIT, request)
        assert "ait.seed.empty" not in {v.clause for v in verdict.violations}

    check()

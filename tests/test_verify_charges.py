"""The "not charged" half of failure clauses is judged where credits are observable (A2, A13, A17).

`Runner.send(..., watch_balance=ROLE)` reads a key's balance around a request; a failure
that moved it breaks ait.credits.failure and every clause of the request that says the
refused request is not charged (ait.auth.invalid for a near miss of the key, ...).
"""

from __future__ import annotations

from inpaint_conformance.contracts import Api, Expectation, Violation
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS
from inpaint_conformance.harness.probes import valid_spec
from inpaint_conformance.harness.reproduce import Reproducer
from inpaint_conformance.harness.runner import Runner
from inpaint_conformance.harness.target import EMBEDDED_KEYS, WRONG_KEY, EmbeddedTarget

UNKNOWN = Violation("ait.auth.invalid", "the key is unknown to the server")


def runner_for(target: EmbeddedTarget) -> Runner:
    runner = Runner(
        target, Api.AITHRIVING, examples=0, hypothesis_seed=0, reproducer=Reproducer("http://x", wrong_key=WRONG_KEY)
    )
    runner.current_probe = "unit"
    return runner


def status(runner: Runner, clause_id: str) -> str:
    return runner.tally.status(clause_id)


def test_a_near_miss_charged_to_the_main_key_breaks_the_auth_clause_and_the_failure_credit_clause():
    target = EmbeddedTarget(inject_429=False)
    main = EMBEDDED_KEYS["main"]
    served = target.provider.handle

    def charges_the_look_alike(request):  # refuses the near miss, but bills the key it resembles
        if request.headers.get("authorization") == main + "x":
            target.provider.ledger.try_charge(main, CREDITS_PER_SUCCESS)
        return served(request)

    target.provider.handle = charges_the_look_alike
    runner = runner_for(target)
    exchange = runner.send(
        valid_spec().but(auth="near-miss-suffixed"), expect=Expectation.failure(UNKNOWN), watch_balance="main"
    )
    assert exchange.credits is not None and exchange.credits[0] - exchange.credits[1] == CREDITS_PER_SUCCESS
    assert status(runner, "ait.auth.invalid") == status(runner, "ait.credits.failure") == "failed"
    message = runner.tally.violations("ait.auth.invalid")[0]
    assert "charged 6 credits" in message and "on the main key, which did not send it" in message


def test_a_near_miss_left_uncharged_passes_both_halves_of_the_auth_clause():
    runner = runner_for(EmbeddedTarget(inject_429=False))
    runner.send(valid_spec().but(auth="near-miss-case"), expect=Expectation.failure(UNKNOWN), watch_balance="main")
    assert status(runner, "ait.auth.invalid") == "passed"
    assert any("charged 0 credits on the main key" in seen for seen in runner.tally.observed("ait.auth.invalid"))


def test_a_charged_refusal_breaks_the_clause_that_says_not_charged():
    runner = runner_for(EmbeddedTarget(["charge_on_failure"], inject_429=False))
    runner.send(valid_spec(seed="-1"))
    assert status(runner, "ait.seed.range") == status(runner, "ait.credits.failure") == "failed"


def test_without_observable_credits_nothing_about_charges_is_claimed():
    target = EmbeddedTarget(inject_429=False)
    target.credits_observable = lambda api: False  # as a remote server without --credits-url
    runner = runner_for(target)
    exchange = runner.send(valid_spec().but(auth="none"), watch_balance="main")
    assert exchange.credits is None
    assert all("charged" not in seen for seen in runner.tally.observed("ait.auth.missing"))


def test_near_miss_roles_are_only_those_that_differ_from_the_key():
    target = EmbeddedTarget(inject_429=False)
    target.keys[Api.AITHRIVING]["main"] = "1234"  # no letters: its case cannot be swapped
    assert "near-miss-case" not in runner_for(target).near_miss_roles()
    assert {"near-miss-suffixed", "near-miss-prefixed", "near-miss-truncated"} <= set(
        runner_for(target).near_miss_roles()
    )


def test_every_auth_role_sends_what_it_names():
    target = EmbeddedTarget(inject_429=False)
    main = EMBEDDED_KEYS["main"]
    runner = runner_for(target)
    assert runner.key("authorization-bearer") == main
    assert runner.key("authorization-bearer-wrong") == runner.key("wrong") == WRONG_KEY
    assert runner.key("near-miss-suffixed") == main + "x" and runner.key("near-miss-case") == main.swapcase()
    assert runner.key("none") is None
    vyro = Runner(
        target, Api.VYRO, examples=0, hypothesis_seed=0, reproducer=Reproducer("http://x", wrong_key=WRONG_KEY)
    )
    vyro.current_probe = "unit"
    exchange = vyro.send(valid_spec().but(auth="authorization-bearer-wrong"), expect="any")
    assert (
        exchange.request.headers["authorization"] == f"Bearer {WRONG_KEY}" and "bearer" not in exchange.request.headers
    )
    assert exchange.response is not None and exchange.response.status == 401

"""Clauses judged across several exchanges, through `inpaint_conformance.contracts.sequences`: random seeds
that differ, reproducible pictures, and credits (a balance read before and after).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from test_contracts_requests import AIT, BASE, spec
from test_contracts_responses import JSON, ait_fail, ait_ok

from inpaint_conformance.contracts import Api, HttpResponse, Outcome, validate_request, validate_response
from inpaint_conformance.contracts.credits import LedgerModel, check_double_spend, check_overlap
from inpaint_conformance.contracts.envelopes import ait_success
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS, RANDOM_SEED_MIN, SEED_MAX
from inpaint_conformance.contracts.sequences import (
    check_charge,
    check_random_seeds,
    check_reproducible,
    check_seed_sensitivity,
    expected_charge,
)

SEEDS = Path(__file__).resolve().parents[1] / "contracts" / "seeds"
SEEDED = spec(AIT, fields={"seed": "7"})
MASK = validate_request(AIT, SEEDED.build()).request.strength_mask()


def answered(answer, request=SEEDED):
    verdict = validate_request(AIT, request.build())
    return validate_response(AIT, verdict, answer(verdict))


# (clause, conforming sequence, violating sequence): each a function returning the violations found.
SEQUENCE_CASES = [
    (
        "ait.seed.random_differs",
        lambda: check_random_seeds([RANDOM_SEED_MIN, 99, SEED_MAX]),
        lambda: check_random_seeds([4242, 4242, 4242]),
    ),
    (
        "ait.reproducible",
        lambda: [check_reproducible(Api.AITHRIVING, answered(ait_ok(seed=7)), answered(ait_ok(seed=7)), 7)],
        lambda: [
            check_reproducible(Api.AITHRIVING, answered(ait_ok(seed=7)), answered(ait_ok(seed=7, invert=True)), 7)
        ],
    ),
    # Different seeds repaint differently (A21); the same picture for both means the seed is ignored.
    (
        "ait.seed.sensitivity",
        lambda: [
            check_seed_sensitivity(AIT, answered(ait_ok(seed=7)), answered(ait_ok(seed=8, invert=True)), MASK, (7, 8))
        ],
        lambda: [check_seed_sensitivity(AIT, answered(ait_ok(seed=7)), answered(ait_ok(seed=8)), MASK, (7, 8))],
    ),
    (
        "ait.credits.success",
        lambda: [check_charge(100, 100 - CREDITS_PER_SUCCESS, succeeded=True)],
        lambda: [check_charge(100, 100 - 2 * CREDITS_PER_SUCCESS, succeeded=True)],
    ),
    (
        "ait.credits.failure",
        lambda: [check_charge(100, 100, succeeded=False)],
        lambda: [check_charge(100, 100 - CREDITS_PER_SUCCESS, succeeded=False)],
    ),
    # A key with 4 credits: refused and not charged; charging it anyway overdraws it.
    (
        "ait.credits.insufficient",
        lambda: [check_charge(4, 4, succeeded=False, clause="ait.credits.insufficient")],
        lambda: [check_charge(4, 4 - CREDITS_PER_SUCCESS, succeeded=True)],
    ),
    # The second key's balance around a success paid by the first: it must not move.
    (
        "ait.credits.isolation",
        lambda: [check_charge(50, 50, succeeded=False, clause="ait.credits.isolation")],
        lambda: [check_charge(50, 50 - CREDITS_PER_SUCCESS, succeeded=False, clause="ait.credits.isolation")],
    ),
    # A 429 is never charged (B5); the runner checks its balance as a failure's.
    (
        "ait.rate.limit",
        lambda: [check_charge(30, 30, succeeded=False, clause="ait.rate.limit")],
        lambda: [check_charge(30, 30 - CREDITS_PER_SUCCESS, succeeded=False, clause="ait.rate.limit")],
    ),
    # 8 requests at once, 5 served: charged 30. A ledger that read, waited and wrote charged 6.
    (
        "ait.credits.concurrent",
        lambda: check_overlap(1000, 1000 - 5 * CREDITS_PER_SUCCESS, successes=5, sent=8, unanswered=0),
        lambda: check_overlap(1000, 1000 - CREDITS_PER_SUCCESS, successes=5, sent=8, unanswered=0),
    ),
    # A key holding 14 credits (2 results) gets 8 requests at once: 2 served, 2 left. Serving all 8 overdraws it.
    (
        "ait.credits.no_overdraft",
        lambda: check_double_spend(14, 2, successes=2, sent=8, lowest=2),
        lambda: check_double_spend(14, 14 - 8 * CREDITS_PER_SUCCESS, successes=8, sent=8),
    ),
    # A success then a failure on the main key: charged 6 once. A refund of 12 for the failure gives 6 back.
    (
        "ait.credits.sequence",
        lambda: ledger_after([("main", True), ("main", False), ("second", False)], {"main": 94, "second": 20}),
        lambda: ledger_after([("main", True), ("main", False)], {"main": 100, "second": 20}),
    ),
]


def ledger_after(answers: list[tuple[str, bool]], observed: dict[str, int]) -> list:
    """The ledger model of main (100) and second (20) after these answers, against the observed balances."""
    model = LedgerModel({"main": 100, "second": 20})
    found = [model.answered(key, succeeded) for key, succeeded in answers]
    return found + model.compare(observed)


@pytest.mark.parametrize(("clause_id", "good", "bad"), SEQUENCE_CASES, ids=[c[0] for c in SEQUENCE_CASES])
def test_sequence_clause(clause_id, good, bad):
    assert [v for v in good() if v is not None] == []
    found = [v for v in bad() if v is not None]
    assert clause_id in {v.clause for v in found}, [str(v) for v in found]
    assert all(v.message.strip() for v in found)


def test_reproducible_accepts_the_same_picture_in_other_bytes():
    """A16: byte-identical PNGs, or the same picture within 40 dB (B6: PNG compression is free)."""
    first = answered(ait_ok(seed=7))
    recompressed = io.BytesIO()
    first.image.save(recompressed, "PNG", compress_level=9)
    second = answered(lambda v: HttpResponse(200, JSON, ait_success(recompressed.getvalue(), 7)))
    assert first.image_bytes != second.image_bytes
    assert check_reproducible(Api.AITHRIVING, first, second, 7) is None


def test_random_seeds_out_of_range_are_flagged():
    found = check_random_seeds([0, 5, SEED_MAX + 1])
    assert [v.clause for v in found] == ["ait.seed.random_range", "ait.seed.random_range"]


def test_a_429_is_a_refusal_not_a_failure():
    result = answered(ait_fail(429, headers={"retry-after": "1"}), BASE[AIT])
    assert (result.outcome, result.violations) == (Outcome.REFUSED, [])


def test_expected_charge_is_the_documented_price():
    text = (SEEDS / "aithriving-inpaint.txt").read_text(encoding="utf-8")
    price = int(re.search(r"uses (\d+) credits per successful result", text).group(1))
    assert (expected_charge(True), expected_charge(False)) == (price, 0)


def test_overlap_wants_one_answer_per_request():
    found = check_overlap(100, 100 - 2 * CREDITS_PER_SUCCESS, successes=2, sent=8, unanswered=1)
    assert [v.clause for v in found] == ["ait.credits.concurrent"] and "got no answer" in found[0].message


def test_double_spend_names_each_way_the_money_went_wrong():
    """Charged after the work, then refused below 0: 2 served, 6 refused but charged: -34."""
    found = check_double_spend(14, 14 - 8 * CREDITS_PER_SUCCESS, successes=2, sent=8)
    messages = " | ".join(v.message for v in found)
    assert {v.clause for v in found} == {"ait.credits.no_overdraft"}
    assert "below 0 (to -34)" in messages and "expected 2" in messages
    assert check_double_spend(5, 5, successes=0, sent=8) == []  # a key that cannot pay for one: nothing served


def test_the_ledger_model_flags_a_key_served_without_the_credits():
    model = LedgerModel({"low": 5})
    broke = model.answered("low", succeeded=True)
    assert broke is not None and "held 5 credits" in broke.message
    assert model.answered(None, succeeded=True) is None and model.answered("unknown", succeeded=True) is None
    assert model.compare({"low": -1}) == []  # booked as served: the balance followed the (broken) success

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
]


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

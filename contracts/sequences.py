"""Rules that need more than one exchange: reproducibility, random seeds, credits."""

from __future__ import annotations

from .clauses import Api
from .images import region_psnr
from .response_validation import ResponseVerdict
from .rules import CREDITS_PER_SUCCESS, KEPT_PSNR_DB, RANDOM_SEED_MIN, SEED_MAX, kept_and_repainted
from .violations import Violation


def check_reproducible(api: Api, first: ResponseVerdict, second: ResponseVerdict, seed: int) -> Violation | None:
    """A16: same inputs and non-zero seed give identical bytes, or pictures within 40 dB."""
    if first.image_bytes is not None and first.image_bytes == second.image_bytes:
        return None
    if first.image is None or second.image is None:
        return Violation(f"{api.prefix}.reproducible", "one of the two answers carried no image to compare")
    if first.image.size != second.image.size:
        return Violation(
            f"{api.prefix}.reproducible", f"same seed {seed}, sizes {first.image.size} and {second.image.size}"
        )
    import numpy as np

    everywhere = np.ones((first.image.size[1], first.image.size[0]), dtype=bool)
    db = region_psnr(first.image, second.image, everywhere)
    if db < KEPT_PSNR_DB:
        return Violation(
            f"{api.prefix}.reproducible",
            f"same seed {seed} gave different pictures: PSNR {db:.1f} dB, expected >= {KEPT_PSNR_DB:.0f}",
        )
    return None


def check_seed_sensitivity(
    api: Api, first: ResponseVerdict, second: ResponseVerdict, mask, seeds: tuple[int, int]
) -> Violation | None:
    """A21: two non-zero seeds, all else equal, repaint differently (where the mask is 255)."""
    clause = f"{api.prefix}.seed.sensitivity"
    if first.image is None or second.image is None or first.image.size != second.image.size:
        return Violation(clause, "one of the two answers carried no image of the input's size to compare")
    _, repainted = kept_and_repainted(mask)
    if not repainted.any():
        return None
    db = region_psnr(first.image, second.image, repainted)
    if db >= KEPT_PSNR_DB:
        shown = "identical" if db == float("inf") else f"PSNR {db:.1f} dB apart"
        return Violation(
            clause,
            f"seeds {seeds[0]} and {seeds[1]} repainted the same picture ({shown} where the mask is 255): "
            "the seed is ignored",
        )
    return None


def check_random_seeds(seeds: list[int]) -> list[Violation]:
    """A15: server-picked seeds are in [1, 4294967294] and not all the same."""
    found = [
        Violation("ait.seed.random_range", f"random seed {s} is outside [{RANDOM_SEED_MIN}, {SEED_MAX}]")
        for s in seeds
        if not RANDOM_SEED_MIN <= s <= SEED_MAX
    ]
    if len(seeds) >= 2 and len(set(seeds)) == 1:
        found.append(
            Violation("ait.seed.random_differs", f"{len(seeds)} requests with seed 0 all reported seed {seeds[0]}")
        )
    return found


# Clauses whose own statement says the request they refuse is not charged (A2, A13, A17, B1, B5):
# a charged failure of such a request breaks them as well as ait.credits.failure.
UNCHARGED_WHEN_REFUSED = frozenset(
    {
        "ait.auth.missing",
        "ait.auth.invalid",
        "ait.seed.range",
        "ait.seed.integer",
        "ait.seed.empty",
        "ait.credits.insufficient",
        "ait.robust.malformed",
        "ait.text.non_utf8",
        "ait.rate.limit",
    }
)


def expected_charge(succeeded: bool) -> int:
    """A17: what one AIThriving request costs."""
    return CREDITS_PER_SUCCESS if succeeded else 0


def check_charge(before: int, after: int, succeeded: bool, clause: str | None = None) -> Violation | None:
    """A17: the balance moved by exactly the price of the outcome, and is not negative."""
    charged = before - after
    wanted = expected_charge(succeeded)
    clause = clause or ("ait.credits.success" if succeeded else "ait.credits.failure")
    if after < 0:
        return Violation("ait.credits.insufficient", f"balance went negative: {before} -> {after}")
    if charged != wanted:
        outcome = "a success" if succeeded else "a failure"
        return Violation(clause, f"{outcome} charged {charged} credits ({before} -> {after}), expected {wanted}")
    return None

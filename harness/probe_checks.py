"""Judgments a probe makes across its own exchanges: a replayed seed, a resized mask.

A single answer cannot show these broken: the seed a server reported is only proven
by sending it back (A15, at A16's level), and a mask of another size is only shown
ignored next to a same-size mask the server honours (A8, V9).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from inpaint_conformance.contracts import ResponseVerdict, Violation
from inpaint_conformance.contracts.rules import KEPT_PSNR_DB, RANDOM_SEED_MIN, SEED_MAX
from inpaint_conformance.contracts.sequences import check_reproducible

from .probes import RequestSpec

if TYPE_CHECKING:
    from .exchanges import Exchange
    from .runner import Runner


def pictured(exchange: Exchange) -> ResponseVerdict | None:
    """The answer of a success whose image decoded (what pictures are compared on), or None."""
    success = exchange.success
    return success if success is not None and success.image is not None else None


def replay_reported_seed(ctx: Runner, first: Exchange, spec: RequestSpec, *, label: str) -> None:
    """Send the seed a random-seed answer reported back with the same request: the same picture (A15, A16).

    A15 keeps a reported seed in range "so it can be replayed"; how alike the replay
    must be is A16's reproducibility (identical bytes or PSNR >= 40 dB, a SHOULD).
    """
    clause = f"{ctx.p}.reproducible"
    answer = pictured(first)
    seed = answer.seed if answer is not None else None
    if answer is None or seed is None or not RANDOM_SEED_MIN <= seed <= SEED_MAX:
        ctx.skip(clause, "no random-seed request succeeded with a decodable image and a replayable data.seed")
        return
    replay = ctx.send(spec.but(seed=str(seed)), label=label)
    again = pictured(replay)
    if again is None:
        ctx.skip(clause, f"the replay of the reported seed {seed} did not succeed with a decodable image")
        return
    violation = check_reproducible(ctx.api, answer, again, seed)
    if violation is not None:
        message = (
            f"the seed data.seed reported for a random-seed request ({seed}), sent back with the same request, "
            f"did not give the same picture: {violation.message}"
        )
        ctx.violate(Violation(clause, message), replay)
    else:
        ctx.exercise(
            clause, f"reported random seed replayed ({answer.observations.get('format')}): same picture", first, replay
        )


def ignored_other_size_mask(control: ResponseVerdict, other: ResponseVerdict) -> str | None:
    """Why a mask of another size was not applied as the server applies a same-size one, or None.

    Judged only relative to the control: a server whose same-size masks already change
    kept pixels (a SHOULD failure of its own) is not judged here again at a MUST.
    """
    c_kept, c_painted = _db(control, "psnr_kept"), _db(control, "psnr_repainted")
    o_kept, o_painted = _db(other, "psnr_kept"), _db(other, "psnr_repainted")
    if None in (c_kept, c_painted, o_kept, o_painted):
        return None
    assert c_kept is not None and c_painted is not None and o_kept is not None and o_painted is not None
    if c_kept >= KEPT_PSNR_DB and o_kept < KEPT_PSNR_DB:
        return (
            f"pixels the mask keeps changed (PSNR {_shown(o_kept)} where the resized mask is 0) though a same-size "
            f"mask keeps them (PSNR {_shown(c_kept)}): the mask of another size was ignored, not resized"
        )
    if c_kept > c_painted and not o_kept > o_painted:
        return (
            f"the region the resized mask keeps is not closer to the input (PSNR {_shown(o_kept)}) than the region "
            f"it repaints (PSNR {_shown(o_painted)}), though a same-size mask's is ({_shown(c_kept)} vs "
            f"{_shown(c_painted)}): the mask of another size was ignored, not resized"
        )
    return None


def _db(verdict: ResponseVerdict, name: str) -> float | None:
    value = verdict.observations.get(name)
    if value is None:
        return None
    return math.inf if value == "inf" else float(value)


def _shown(value: float) -> str:
    return "inf dB (identical)" if math.isinf(value) else f"{value:.1f} dB"

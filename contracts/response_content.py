"""Judging what a success carries: the image (A4, A10, A11, V3), the seed (A14, A15) and the pixels (A8-A12, V7, V9).

Each check marks the clauses it evaluated on the context (`ctx.check`, `ctx.fail`) and
says which it could not judge and why (`ctx.cannot_judge`); see response_validation.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PIL import Image

from .base64_text import decode_base64
from .clauses import Api
from .images import ImageDecodeError, decode_image, describe_bytes, has_alpha, region_psnr, sniff_format, to_rgb
from .rules import KEPT_PSNR_DB, OUTPUT_FORMATS, RANDOM_SEED_MIN, SEED_MAX, kept_and_repainted

if TYPE_CHECKING:
    from .response_validation import _Context

# The clauses check_pixels may judge: a success alone says nothing about them.
_PIXEL_CLAUSES = {
    Api.AITHRIVING: frozenset(
        {
            "ait.kept_pixels",
            "ait.mask.meaning",
            "ait.mask.alpha",
            "ait.mask.wins",
            "ait.mask.resize",
            "ait.mask.colour",
        }
    ),
    Api.VYRO: frozenset({"vyro.kept_pixels", "vyro.mask.meaning", "vyro.mask.size"}),
}


def pixel_clauses(api: Api) -> frozenset[str]:
    return _PIXEL_CLAUSES[api]


def check_image(ctx: _Context) -> None:
    """A4/A10/A11, V3: the image is there, in the right format, at the input's size."""
    request = ctx.verdict.request
    duplicated = set(request.duplicated) if request else set()
    wanted = request.response_format if request else "png"
    if ctx.api is Api.AITHRIVING:
        data = ctx.body.get("data") if isinstance(ctx.body, dict) else None
        ctx.check("ait.success.data")
        if not isinstance(data, dict) or not isinstance(data.get("image"), str):
            shape = "a bare string" if isinstance(data, str) else type(data).__name__
            ctx.fail("ait.success.data", f'expected data {{"image": <base64>, "seed": <int>}}, got {shape}')
            return
        ctx.check("ait.success.image")
        decoded = decode_base64(data["image"])
        if decoded.data is None:
            ctx.fail("ait.success.image", f"data.image is not valid base64: {decoded.error}")
            return
        ctx.check("ait.success.base64")
        if decoded.line_broken:
            ctx.fail(
                "ait.success.base64",
                "data.image has line breaks or spaces inside its base64: RFC 4648 base64 has none "
                "unless a specification asks for them (Python's b64decode and atob accept them)",
            )
        raw = decoded.data
        format_clause = (
            "ait.output_format.honoured" if request and request.output_format else "ait.output_format.default"
        )
        decode_clause = "ait.success.image"
    else:
        raw = ctx.response.body
        media = ctx.response.headers.media_type()
        ctx.check("vyro.success.content_type")
        if media != "image/png":
            ctx.fail("vyro.success.content_type", f"expected Content-Type image/png, got {media or 'none'}")
        format_clause = decode_clause = "vyro.success.png"
    fmt = sniff_format(raw)
    ctx.result.observations["format"] = fmt
    ctx.result.image_bytes = raw
    if "output_format" in duplicated:
        ctx.cannot_judge(format_clause, "output_format was sent twice: B6 leaves free which one a server reads")
    else:
        ctx.check(format_clause)
        if fmt != wanted:
            ctx.fail(format_clause, f"expected {wanted.upper()} bytes, got {describe_bytes(raw)}")
    ctx.check(decode_clause)
    try:
        image = decode_image(raw, frozenset(OUTPUT_FORMATS))
    except ImageDecodeError as exc:
        ctx.fail(decode_clause, f"the output image does not decode: {exc}")
        return
    ctx.result.image = image
    ctx.result.observations["size"] = list(image.size)
    if request is None or request.image is None:
        return
    if "image" in duplicated:
        ctx.cannot_judge(f"{ctx.p}.output.size", "image was sent twice: B6 leaves free which one a server reads")
        return
    ctx.check(f"{ctx.p}.output.size")
    if image.size != request.image.size:
        (w, h), (iw, ih) = image.size, request.image.size
        ctx.fail(f"{ctx.p}.output.size", f"output is {w}x{h}, expected the input's {iw}x{ih}")


def check_seed(ctx: _Context) -> None:
    """A14/A15: a given seed is echoed; a random one is reported and replayable."""
    if ctx.api is not Api.AITHRIVING or not isinstance(ctx.body, dict) or not isinstance(ctx.body.get("data"), dict):
        return
    seed = ctx.body["data"].get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        ctx.fail("ait.success.data", f"expected data.seed an int, got {seed!r}")
        return
    ctx.result.observations["seed"] = seed
    request = ctx.verdict.request
    if request is not None and "seed" in request.duplicated:
        ctx.cannot_judge("ait.seed.echo", "seed was sent twice: B6 leaves free which one a server reads")
        return
    sent = request.seed if request else None
    if not sent and any(v.clause in ("ait.seed.range", "ait.seed.integer") for v in ctx.verdict.violations):
        return  # a seed sent out of range or not an integer is no random seed: ait.seed.range judges the answer
    if sent:
        ctx.check("ait.seed.echo")
        if seed != sent:
            ctx.fail("ait.seed.echo", f"sent seed {sent}, data.seed is {seed}")
        return
    ctx.check("ait.seed.random_range")
    if not RANDOM_SEED_MIN <= seed <= SEED_MAX:
        ctx.fail(
            "ait.seed.random_range",
            f"random seed {seed} is outside [{RANDOM_SEED_MIN}, {SEED_MAX}]: it cannot be replayed",
        )


def check_pixels(ctx: _Context) -> None:
    """A8/A9/A12, V7/V9: kept pixels are kept, repainted ones are not (lossless output only).

    Whether the mask means what it should is judged at the clause that gives the mask its
    meaning here: the alpha channel (A9), a mask part that must win over alpha (A9), besides
    the mask's own clause. A resized mask (A8, V9) or a colour one (A8) held when the meaning
    holds; when it does not, one answer cannot tell a resize (or a grey reading) gone wrong
    from a mask read wrongly everywhere, so only the mask's own clause fails: a probe that
    compares the answer with the same request's same-size (or grey) mask judges them.
    """
    request, image = ctx.verdict.request, ctx.result.image
    if request is None or request.image is None or image is None:
        return
    meaning, context = _meaning_clauses(ctx)
    if not meaning:
        return
    judged = (*meaning, *context, f"{ctx.p}.kept_pixels")
    why = _why_not_judged(ctx, image)
    if why:
        for clause_id in judged:
            ctx.cannot_judge(clause_id, why)
        return
    mask = request.strength_mask()
    assert mask is not None  # _meaning_clauses found a mask part or an alpha channel
    resized = request.mask is not None and request.mask.size != request.image.size
    kept, repainted = kept_and_repainted(mask, margin=2 if resized else 0)
    original = to_rgb(request.image)
    kept_db = region_psnr(original, image, kept) if kept.any() else None
    repaint_db = region_psnr(original, image, repainted) if repainted.any() else None
    ctx.result.observations.update(psnr_kept=_db(kept_db), psnr_repainted=_db(repaint_db))
    if kept_db is not None:
        ctx.check(f"{ctx.p}.kept_pixels")
        ctx.result.pictured.add(f"{ctx.p}.kept_pixels")
        if kept_db < KEPT_PSNR_DB:
            ctx.fail(
                f"{ctx.p}.kept_pixels",
                f"kept pixels changed: PSNR {kept_db:.1f} dB where the mask is 0, expected >= {KEPT_PSNR_DB:.0f} dB",
            )
    if kept_db is None or repaint_db is None:
        for clause_id in (*meaning, *context):
            ctx.cannot_judge(clause_id, "the mask has no pixel at exactly 0 or no pixel at exactly 255")
        return
    ctx.result.pictured.update((*meaning, *context))
    if kept_db > repaint_db:
        ctx.check(*meaning, *context)
        return
    for clause_id in meaning:
        ctx.fail(
            clause_id,
            f"the region the mask keeps (PSNR {_db(kept_db)} dB) is not closer to the input than the region it "
            f"repaints (PSNR {_db(repaint_db)} dB): {_meaning_hint(clause_id)}",
        )
    for clause_id in context:
        ctx.cannot_judge(
            clause_id, f"the mask's meaning failed on this answer ({meaning[0]}): one answer cannot tell why"
        )


def _meaning_clauses(ctx: _Context) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The clauses that say what this request's mask means, and those of the form it came in."""
    request = ctx.verdict.request
    assert request is not None and request.image is not None
    if request.mask is None:
        # Vyro requires a mask (V4): a served request without one has no meaning to check.
        return (("ait.mask.alpha",) if ctx.api is Api.AITHRIVING and has_alpha(request.image) else ()), ()
    meaning, context = [f"{ctx.p}.mask.meaning"], []
    if ctx.api is Api.AITHRIVING:
        if has_alpha(request.image):
            meaning.append("ait.mask.wins")
        if request.mask.mode == "P" or len(request.mask.getbands()) >= 3:
            context.append("ait.mask.colour")
    if request.mask.size != request.image.size:
        context.append("ait.mask.resize" if ctx.api is Api.AITHRIVING else "vyro.mask.size")
    return tuple(meaning), tuple(context)


def _why_not_judged(ctx: _Context, image: Image.Image) -> str | None:
    request = ctx.verdict.request
    assert request is not None and request.image is not None
    duplicated = {"image", "mask"} & set(request.duplicated)
    if duplicated:
        return f"{' and '.join(sorted(duplicated))} sent twice: B6 leaves free which one a server reads"
    if image.size != request.image.size:
        return "the output is not the input's size, so no pixel can be compared"
    fmt = ctx.result.observations.get("format")
    if fmt != "png":
        return f"the output is {(fmt or 'not a known format').upper()}: pixels are judged on PNG output only (A12)"
    return None


def _meaning_hint(clause_id: str) -> str:
    if clause_id.endswith(".mask.alpha"):
        return "the alpha channel was not read as the mask (transparent repaints, opaque keeps)"
    if clause_id.endswith(".mask.wins"):
        return "with both a mask part and an alpha channel, the mask part must win"
    return "mask read inverted or ignored?"


def _db(value: float | None) -> float | str | None:
    if value is None:
        return None
    return "inf" if math.isinf(value) else round(value, 2)

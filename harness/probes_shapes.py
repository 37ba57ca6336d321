"""Probes of both APIs about the pictures themselves: every common input mode, the largest
size a success probe may use, and masks of another size than the image.

Where the decisions fix the answer the pixels are judged (L, P, LA inputs: every
library converts them alike); where libraries differ (CMYK with or without an ICC
profile, how 16 bits become 8) a mask that repaints everything leaves no input pixel
to judge, so only what A6/A10 and V3/V5 make certain is: served, at the input's size.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from PIL import Image

from inpaint_conformance.contracts import Api, Outcome, Violation
from inpaint_conformance.contracts.response_validation import allowed_failure_statuses

from .probe_checks import ignored_other_size_mask
from .probe_images import LARGE_SIZE, ROUND_SIZE, encode, full_mask, half_mask, in_mode, patterned, png16
from .probes import FIXED_SEED, probe, upload, valid_spec
from .runner import Runner

BOTH = (Api.AITHRIVING, Api.VYRO)

# (label, the image's bytes from an RGB picture, whether its pixels can be judged)
INPUT_MODES: tuple[tuple[str, Callable[[Image.Image], bytes], bool], ...] = (
    ("L-png", lambda image: encode(in_mode(image, "L"), "png"), True),
    ("L-jpeg", lambda image: encode(in_mode(image, "L"), "jpeg"), True),
    ("P-png", lambda image: encode(in_mode(image, "P"), "png"), True),
    ("LA-png", lambda image: encode(in_mode(image, "LA"), "png"), True),  # opaque: the mask part decides
    ("CMYK-jpeg", lambda image: encode(in_mode(image, "CMYK"), "jpeg"), False),
    ("16bit-grey-png", lambda image: png16(image, grey=True), False),
    ("16bit-rgb-png", lambda image: png16(image, grey=False), False),
)
# Masks of another size than the 128x96 image: smaller, and larger by a factor that is not whole.
OTHER_MASK_SIZES = (("half-size", (64, 48), "right"), ("1.5x-size", (192, 144), "left"))


@probe(*BOTH, successes=len(INPUT_MODES))
def input_modes(ctx: Runner) -> None:
    """Grey, grey+alpha, palette, CMYK JPEG and 16-bit PNG inputs are JPEG or PNG like any other (A6, V5)."""
    for label, _, judged in INPUT_MODES:
        mask = half_mask(ROUND_SIZE) if judged else full_mask(ROUND_SIZE)
        files = {"image": upload(_mode_image(label), label.rsplit("-", 1)[1]), "mask": upload(mask, name="mask")}
        ctx.send(valid_spec().but(files=files), focus=(f"{ctx.p}.image.formats",), label=label)


@functools.cache
def _mode_image(label: str) -> bytes:
    """Encoded once per process: both APIs and every run send the same files."""
    encoded = next(encode for name, encode, _ in INPUT_MODES if name == label)
    return encoded(patterned(ROUND_SIZE))


@probe(*BOTH, successes=1)
def large_size(ctx: Runner) -> None:
    """1024 px a side (the most B4 lets a success probe use), the other side odd: the output keeps both."""
    size = LARGE_SIZE if ctx.api is Api.AITHRIVING else LARGE_SIZE[::-1]
    ctx.send(valid_spec(size), focus=(f"{ctx.p}.output.size",), label="x".join(map(str, size)))


@probe(*BOTH, successes=1 + len(OTHER_MASK_SIZES))
def mask_other_size(ctx: Runner) -> None:
    """A mask of another size is resized to the image (A8 SHOULD; V9: or refused with 400, never a 5xx).

    Served, it must mean what it says once resized: a server that ignores it (repaints
    everything, or nothing) breaks A8's "0 keeps" (MUST) and its resize (SHOULD), or V9's
    "resized" (MUST), judged against a same-size mask in the same run so a server's general
    way with masks is not blamed here a second time.
    """
    ait = ctx.api is Api.AITHRIVING
    seeded = (lambda spec: spec.but(seed=FIXED_SEED)) if ait else (lambda spec: spec)  # one fill to compare
    control = ctx.send(seeded(valid_spec()), label="same-size")
    for label, size, repaint in OTHER_MASK_SIZES:
        mask = upload(half_mask(size, repaint), name="mask")
        spec = seeded(valid_spec(repaint=repaint)).but(files={"mask": mask})
        if ait:
            exchange = ctx.send(spec, focus=("ait.mask.resize",), label=label)
        else:
            exchange = ctx.send(spec, expect="any", focus=("vyro.mask.size",), label=label)
            _refused_with_400(ctx, exchange)
        one, other = control.success, exchange.success
        why = ignored_other_size_mask(one, other) if one is not None and other is not None else None
        if why is None:
            continue
        # The same-size control shows the resize is what went wrong: the resize clause fails, and
        # the mask's meaning (A8's MUST) unless the answer alone already failed it.
        clauses = ("ait.mask.resize", "ait.mask.meaning") if ait else ("vyro.mask.size",)
        broken = {v.clause for v in other.violations} if other is not None else set()
        for clause in clauses:
            if clause not in broken:
                ctx.violate(Violation(clause, why), exchange)


def _refused_with_400(ctx: Runner, exchange) -> None:
    """V9: a refusal of a mask of another size is a 400 (any 5xx fails the floor already)."""
    status = exchange.response.status if exchange.response is not None else None
    allowed = allowed_failure_statuses(ctx.api, (Violation("vyro.mask.size", "mask size differs"),))
    if exchange.outcome is Outcome.FAILURE and status is not None and status < 500 and status not in allowed:
        wanted = " or ".join(map(str, sorted(allowed)))
        ctx.violate(
            Violation(
                "vyro.mask.size",
                f"a mask of another size was refused with HTTP {status}: expected {wanted} (or resizing)",
            ),
            exchange,
        )

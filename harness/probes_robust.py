"""B1/B2/B4 probes for both APIs: malformed and oversized input never gets a 5xx, a hang or a charge.

Where the decisions let a server choose (a 20,000-character prompt, a 16x16 image,
an upload over the size limit: refuse or serve), only the floor is judged.
"""

from __future__ import annotations

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.images import encode_image
from inpaint_conformance.contracts.rules import MAX_PROMPT_CHARS, MAX_UPLOAD_BYTES

from .probe_context import ProbeContext
from .probe_images import ROUND_SIZE, padded, patterned, png_claiming
from .probes import probe, upload, valid_spec

BOTH = (Api.AITHRIVING, Api.VYRO)
BOMB_SIDE = 50_000  # 2.5 gigapixels claimed by a 1x1 image's data
SMALL_SIDE = 16  # under the 64 px a server may insist on (B4)


def _malformed(ctx: ProbeContext) -> str:
    return f"{ctx.p}.robust.malformed"


@probe(*BOTH, successes=1)  # non-UTF-8 text may be served (B1)
def malformed_input(ctx: ProbeContext) -> None:
    """Refused by the contracts (non-UTF-8 text: either answer), never a 5xx, a hang or a charged failure."""
    spec, focus = valid_spec(), (_malformed(ctx),)
    ctx.send(spec.but(body="truncated"), focus=focus, label="truncated-multipart")
    ctx.send(spec.but(body="urlencoded"), focus=focus, label="urlencoded")
    # B1: a server may refuse it (not charged) or serve it as it decoded it (charged like any success).
    ctx.send(spec.but(prompt=b"\xff\xfe not \xc3\x28 utf-8"), focus=focus, label="non-utf8-prompt")
    bomb = upload(png_claiming(BOMB_SIDE, BOMB_SIDE), "png")
    ctx.send(spec.but(files={"image": bomb}), focus=focus, label="bomb-header")
    empty = upload(png_claiming(0, 0), "png")
    ctx.send(spec.but(files={"image": empty}), focus=focus, label="0x0-header")


@probe(*BOTH, successes=2)
def limits(ctx: ProbeContext) -> None:
    """B4: a server may refuse or serve these; it must answer, and never with a 5xx."""
    focus = (_malformed(ctx), f"{ctx.p}.limits.dimensions")
    huge_prompt = "a boat on a lake " * (2 * MAX_PROMPT_CHARS // 17 + 1)
    ctx.send(valid_spec(prompt=huge_prompt), expect="any", focus=focus, label=f"prompt-{len(huge_prompt)}-chars")
    ctx.send(valid_spec((SMALL_SIDE, SMALL_SIDE)), expect="any", focus=focus, label=f"{SMALL_SIDE}x{SMALL_SIDE}")


@probe(*BOTH, successes=1)
def upload_limit(ctx: ProbeContext) -> None:
    """B2: an upload just over the fake's limit (a small PNG padded with zeros) may get 413, or be served."""
    image = padded(encode_image(patterned(ROUND_SIZE), "png"), MAX_UPLOAD_BYTES + 1024)
    spec = valid_spec().but(files={"image": upload(image, "png")})
    ctx.send(spec, expect="any", focus=(f"{ctx.p}.limits.size", _malformed(ctx)), label=f"{len(image) // 1024} KiB")

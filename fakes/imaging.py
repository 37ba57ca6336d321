"""Pixel work the HTTP layer does around any engine: compositing and encoding."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from inpaint_conformance.contracts.images import to_rgb

# B6 leaves encoder settings free; these favour speed where the bytes do not matter.
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {  # keyword arguments of Image.save
    "png": {"format": "PNG", "compress_level": 1},
    "jpeg": {"format": "JPEG", "quality": 90},
    "webp": {"format": "WEBP", "quality": 80, "method": 0},
}


def composite(original: Image.Image, generated: Image.Image, mask: Image.Image) -> Image.Image:
    """Generated where the mask is 255, the original where it is 0, blended in between.

    This is what makes kept pixels exact for every engine, whatever it returned there.
    """
    base = to_rgb(original)
    if generated.size != base.size:
        generated = generated.resize(base.size, Image.Resampling.BICUBIC)
    return Image.composite(to_rgb(generated), base, mask)


def composite_into(base: Image.Image, generated: Image.Image, mask: Image.Image) -> Image.Image:
    """`composite`, painted into ``base`` (an RGB image the caller owns and no longer needs).

    The same pixels (Image.composite is a copy of the original and this paste), without
    a third full-size picture: at 4096 px that copy is 64 MB per request.
    """
    if generated.size != base.size:
        generated = generated.resize(base.size, Image.Resampling.BICUBIC)
    base.paste(to_rgb(generated), (0, 0), mask)
    return base


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, **_SAVE_OPTIONS[fmt])
    return buffer.getvalue()


def add_noise(image: Image.Image, where: Image.Image, amplitude: int, seed: int) -> Image.Image:
    """Perturb pixels where ``where`` is 0 (the kept_pixels_drift deviation)."""
    pixels = np.asarray(image, dtype=np.int16).copy()
    noise = np.random.default_rng(seed).integers(-amplitude, amplitude + 1, pixels.shape, dtype=np.int16)
    kept = (np.asarray(where) == 0)[..., None]
    pixels = np.where(kept, np.clip(pixels + noise, 0, 255), pixels)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


THUMBNAIL_SIDE = 96
THUMBNAIL_QUALITY = 80


def thumbnail_uri(image: Image.Image, side: int = THUMBNAIL_SIDE) -> str:
    """A small JPEG as a data: URI, so pages and reports need no second request.

    This runs three times per request the fake serves, so it is built for speed
    (bench/hotpath.py): a nearest-neighbour pick at twice the size and a 2x2 box
    average make the small picture at a cost that does not grow with the input's
    size, and JPEG encodes a 96 px picture ten times faster than PNG, in a sixth of
    the bytes. A thumbnail is for recognising a picture, not for judging pixels.
    """
    import base64

    scale = min(side / image.width, side / image.height, 1.0)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    if (width, height) != image.size:
        picked = image.resize((min(2 * width, image.width), min(2 * height, image.height)), Image.Resampling.NEAREST)
        small = picked.reduce(2) if picked.width >= 2 * width and picked.height >= 2 * height else picked
        image = small if small.size == (width, height) else small.resize((width, height), Image.Resampling.NEAREST)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

"""Pixel work the HTTP layer does around any engine: compositing and encoding."""

from __future__ import annotations

import io
import zlib
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


def thumbnail_uri(image: Image.Image, side: int = THUMBNAIL_SIDE) -> str:
    """A small PNG as a data: URI, so pages and reports need no second request."""
    import base64

    # This runs three times per request: resize() makes the small picture without copying
    # the large one first (as thumbnail() needs), and reducing_gap=1 lets a cheap box
    # reduction do most of the shrinking: a third cheaper than thumbnail(), the same look.
    scale = min(side / image.width, side / image.height, 1.0)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0) if size != image.size else image
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", compress_level=1, compress_type=zlib.Z_RLE)  # fastest deflate on small pictures
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

"""Pixel work around the model: working size, resizing in and out, pasting originals back.

Pure Pillow/numpy, no torch, so it runs in the caller threads (in parallel) while the
worker thread keeps the model busy, and it can be tested without the reference extra.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Latent diffusion works on pixels / 8 (the VAE factor); sides must be multiples of it.
SIDE_MULTIPLE = 8


def working_size(size: tuple[int, int], native_size: int, multiple: int = SIDE_MULTIPLE) -> tuple[int, int]:
    """The (width, height) the model paints at for an input of ``size``.

    Keeps the aspect ratio, caps the long side at the model's native resolution (larger
    costs memory and, for SD, paints repeated subjects), never upscales beyond rounding,
    and snaps each side to the nearest multiple of 8 (at least 8).
    """
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"image size must be at least 1x1 pixels, got {width}x{height}")
    if native_size < multiple:
        raise ValueError(f"native_size must be at least {multiple} pixels, got {native_size}")
    scale = min(1.0, native_size / max(width, height))

    def snap(side: int) -> int:
        snapped = int(round(side * scale / multiple)) * multiple
        return min(max(multiple, snapped), native_size - native_size % multiple)

    return snap(width), snap(height)


def to_working(image: Image.Image, mask: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, Image.Image]:
    """Resize image and mask to the working size; the mask becomes strictly 0/255.

    Any repaint strength above 0 counts as "paint here" at working size, so the model
    generates content under feathered edges and thin strokes too; the partial strength
    is applied afterwards at full resolution by ``paste_back``. (Pipelines binarise the
    mask at 0.5 themselves, which would silently drop faint or thin mask regions.)
    """
    image = image.convert("RGB")
    mask = mask.convert("L")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    if mask.size != size:
        # BOX averages every source pixel a target pixel covers, so no stroke vanishes.
        mask = mask.resize(size, Image.Resampling.BOX)
    return image, mask.point(lambda value: 255 if value > 0 else 0)


def paste_back(original: Image.Image, mask: Image.Image, generated: Image.Image) -> Image.Image:
    """Resize ``generated`` to the original's size and keep the original where the mask is 0.

    out = original * (1 - m) + generated * m with m = mask / 255, so mask 0 is exactly the
    original pixel, 255 exactly the generated one, and values between blend.
    """
    original = original.convert("RGB")
    if generated.size != original.size:
        generated = generated.resize(original.size, Image.Resampling.LANCZOS)
    return Image.composite(generated.convert("RGB"), original, mask.convert("L"))


def float_to_image(pixels: np.ndarray) -> Image.Image:
    """A pipeline's float HxWx3 output in [0, 1] as an RGB picture (rounded, not truncated)."""
    return Image.fromarray(np.clip(np.round(pixels * 255.0), 0, 255).astype(np.uint8), "RGB")

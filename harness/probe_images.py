"""Images and masks the probes upload, built with Pillow.

Inputs are patterned (smooth gradients plus blocks), never a flat colour, so a
region returned as-is, inverted or repainted shows in the pixels. Masks hold exact
0 and 255 values (grey, R = G = B) where a probe judges pixels (A8). Hostile files
(a header claiming 0x0 or a billion pixels) patch a valid PNG's header.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image

ROUND_SIZE = (128, 96)
ODD_SIZE = (101, 77)  # not a multiple of 8: a server rounding sizes shows
LARGE_SIZE = (1024, 683)  # the largest side a success probe may use (B4), the other side odd
TRANSPARENT_INDEX = 255  # the palette entry a paletted probe image marks transparent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SAVE: dict[str, dict[str, Any]] = {  # keyword arguments of Image.save
    "png": {"format": "PNG", "compress_level": 1},  # B6: any level is a PNG; 1 keeps big probes cheap
    # 4:4:4: decoders differ in how they upsample chroma; without subsampling they agree to +-1.
    "jpeg": {"format": "JPEG", "quality": 95, "subsampling": 0},
    "webp": {"format": "WEBP", "lossless": True},
    "gif": {"format": "GIF"},
    "bmp": {"format": "BMP"},
}
MEDIA = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif", "bmp": "image/bmp"}
EXTENSION = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif", "bmp": "bmp"}


def patterned(size: tuple[int, int] = ROUND_SIZE, variant: int = 0) -> Image.Image:
    """RGB: gradients along x and y, plus a block pattern; ``variant`` shifts it."""
    width, height = size
    xs = np.linspace(0, 1, width, dtype=np.float32)
    ys = np.linspace(0, 1, height, dtype=np.float32)
    blocks = (np.arange(width)[None, :] // 12 + np.arange(height)[:, None] // 12 + variant) % 2
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    # Each channel varies along one axis only: filled by broadcasting, no full-size float arrays.
    pixels[..., 0] = np.clip(30 + 200 * xs, 0, 255).astype(np.uint8)[None, :]
    pixels[..., 1] = np.clip(220 - 180 * ys, 0, 255).astype(np.uint8)[:, None]
    pixels[..., 2] = np.where(blocks == 1, 210, 60).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def with_alpha(image: Image.Image, transparent: str, mode: str = "RGBA") -> Image.Image:
    """RGBA (or LA) copy whose ``transparent`` half ("left" or "right") has alpha 0, the rest 255."""
    copy = image.convert(mode)
    copy.putalpha(half_mask(image.size, repaint=transparent, inverted=True))
    return copy


def with_palette_alpha(image: Image.Image, transparent: str) -> Image.Image:
    """A palette ("P") copy whose ``transparent`` half uses a palette entry marked transparent (PNG tRNS).

    The opaque half keeps up to 255 colours of the picture; which colour sits under the
    transparent entry is not judged (that half is repainted).
    """
    quantized = image.convert("RGB").quantize(255, method=Image.Quantize.FASTOCTREE)
    indices = np.asarray(quantized).copy()
    indices[np.asarray(half_mask(image.size, repaint=transparent)) == 255] = TRANSPARENT_INDEX
    palette = (quantized.getpalette() or [])[: 3 * TRANSPARENT_INDEX]
    palette += [0] * (3 * TRANSPARENT_INDEX - len(palette)) + [0, 0, 0]
    paletted = Image.fromarray(indices, "P")
    paletted.putpalette(palette)
    paletted.info["transparency"] = TRANSPARENT_INDEX
    return paletted


def in_mode(image: Image.Image, mode: str) -> Image.Image:
    """The picture in another Pillow mode: "L", "LA" (opaque), "P" (up to 256 colours, no transparency), "CMYK"."""
    if mode == "P":
        return image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
    return image.convert(mode)


def png16(image: Image.Image, *, grey: bool) -> bytes:
    """A 16-bit PNG (grey, or RGB with 48 bits a pixel) of an 8-bit picture: each sample v becomes v * 257.

    Pillow writes 16-bit grey but not 16-bit RGB, so the file is built here: filter 0
    on every row, one IDAT chunk. Decoders that drop the low byte get the picture back.
    """
    samples = np.asarray(image.convert("L" if grey else "RGB"), dtype=">u2") * 257
    height, width = samples.shape[:2]
    raw = b"".join(b"\0" + samples[row].tobytes() for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 0 if grey else 2, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def half_mask(size: tuple[int, int], repaint: str = "right", *, inverted: bool = False, mode: str = "L") -> Image.Image:
    """255 on the ``repaint`` half ("left" or "right"), 0 on the other; ``inverted`` swaps them."""
    width, height = size
    values = np.zeros((height, width), dtype=np.uint8)
    cut = width // 2
    if repaint == "right":
        values[:, cut:] = 255
    else:
        values[:, :cut] = 255
    if inverted:
        values = 255 - values
    mask = Image.fromarray(values, "L")
    return mask.convert(mode) if mode != "L" else mask


def full_mask(size: tuple[int, int]) -> Image.Image:
    """255 everywhere: every pixel is repainted, so no pixel of the input is judged."""
    return Image.new("L", size, 255)


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """255 inside ``box`` (left, top, right, bottom), 0 elsewhere."""
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


def partial_mask(size: tuple[int, int]) -> Image.Image:
    """0 on the left third, a ramp of in-between strengths, 255 on the right third."""
    width, height = size
    ramp = np.clip((np.arange(width, dtype=np.float32) - width / 3) / (width / 3), 0, 1) * 255
    return Image.fromarray(np.repeat(ramp.astype(np.uint8)[None, :], height, axis=0), "L")


def encode(image: Image.Image, fmt: str) -> bytes:
    if fmt == "jpeg" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, **SAVE[fmt])
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` over a 1x1 image's data (a bomb, or 0x0)."""
    data = bytearray(encode(Image.new("RGB", (1, 1), (9, 9, 9)), "png"))
    # Signature (8) + IHDR length (4) + type (4): width and height are the next 8 bytes.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def corrupt_png() -> bytes:
    """PNG magic followed by bytes that are no PNG."""
    return PNG_SIGNATURE + bytes(range(256)) * 4


def padded(data: bytes, total: int) -> bytes:
    """The image followed by zero bytes up to ``total`` (decoders stop at the end of the image)."""
    return data + b"\0" * max(0, total - len(data))

"""Images as the contracts see them: format from magic bytes, bounded decoding, PSNR.

Formats are decided from the bytes only (decision V5: the Vyro SDK labels
every upload image/jpeg). Decoding checks the pixel count from the header before
any pixel is decompressed, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import math
import re
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

# Dimension limits any server MAY enforce (B4); the fake and the validators use them.
MIN_SIDE = 1
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE
# Probes that expect success use no side under this (B4 allows refusing smaller images;
# the drawn sides stay far under its 1024 px upper bound).
SAFE_MIN_SIDE = 64

ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageDecodeError(ValueError):
    """Bytes that are not a usable image; the message says what was wrong.

    ``kind`` is "format" (not an allowed format), "corrupt" (does not decode) or
    "dimensions" (over the size limits a server may enforce, bombs included).
    """

    def __init__(self, message: str, kind: str = "corrupt") -> None:
        super().__init__(message)
        self.kind = kind


def sniff_format(data: bytes) -> str | None:
    """'jpeg', 'png', 'webp', 'gif', 'bmp', 'tiff' from magic numbers; None if unknown."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def describe_bytes(data: bytes) -> str:
    """What the bytes look like, for error messages: 'empty', 'a GIF', '12 bytes of unknown data'."""
    if not data:
        return "empty bytes"
    fmt = sniff_format(data)
    return f"a {fmt.upper()} image" if fmt else f"{len(data)} bytes that are not an image"


def decode_image(data: bytes, allowed: frozenset[str] | set[str], *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode bytes whose sniffed format is in ``allowed``; fully loaded, bounded in size."""
    fmt = sniff_format(data)
    if fmt is None or fmt not in allowed:
        wanted = ", ".join(sorted(f.upper() for f in allowed))
        raise ImageDecodeError(f"expected {wanted}, got {describe_bytes(data)}", "format")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt.upper()])
            width, height = image.size
            if width < MIN_SIDE or height < MIN_SIDE:
                raise ImageDecodeError(f"image is {width}x{height}: no pixels")
            if width * height > max_pixels or max(width, height) > MAX_SIDE:
                raise ImageDecodeError(
                    f"image is {width}x{height}; at most {MAX_SIDE} px a side is accepted", "dimensions"
                )
            untouched = _prefill_last_row(image) if fmt == "png" else None
            if fmt == "png" and untouched is None:
                _check_png_rows(data)
            image.load()
            if untouched is not None and _last_row(image) == untouched:
                _check_png_rows(data)  # the last row may just look like the filler: count the rows to be sure
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(f"image header claims too many pixels (over {max_pixels})", "dimensions") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"{fmt.upper()} bytes do not decode: the header is not a readable {fmt.upper()}"
        ) from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for corrupt data
        raise ImageDecodeError(f"{fmt.upper()} bytes do not decode: {_plain(exc)}") from None
    return image


def _plain(exc: Exception) -> str:
    """An exception's message without Python object reprs (`<_io.BytesIO object at 0x7f...>`)."""
    text = _OBJECT_REPR.sub("the upload", str(exc)).strip()
    return text or type(exc).__name__


_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


@dataclass(frozen=True)
class PixelFootprint:
    """What an image's header says its pixels take once decoded."""

    width: int
    height: int
    bands: int
    bytes_per_band: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        return self.pixels * self.bands * self.bytes_per_band


# PNG colour type -> bands (ISO 15948 11.2.2); bit depths below 8 still take a byte a band decoded.
_PNG_BANDS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PIL_BYTES_PER_BAND = {"I": 4, "F": 4, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


def pixel_footprint(data: bytes) -> PixelFootprint | None:
    """Width, height, bands and bytes per band from the header alone (no pixel decoded); None if unreadable."""
    if sniff_format(data) == "png" and len(data) >= 33 and data[12:16] == b"IHDR":
        width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
        if colour in _PNG_BANDS:
            return PixelFootprint(width, height, _PNG_BANDS[colour], 2 if depth == 16 else 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            return PixelFootprint(width, height, len(image.getbands()), _PIL_BYTES_PER_BAND.get(image.mode, 1))
    except Exception:  # not an image Pillow reads: nothing will be decoded
        return None


def _prefill_last_row(image: Image.Image) -> bytes | None:
    """Give the image memory a filler before the PNG decoder writes into it; the filler's last row.

    Pillow stops quietly when the zlib stream ends early and leaves the missing rows as
    they were: if the last row still holds the filler afterwards, rows may be missing.
    Counting the rows costs a second inflate of the whole stream, so it is done only then.
    Interlaced PNGs fill the last row early; they are counted up front (None).
    """
    if image.info.get("interlace"):
        return None
    bands = len(image.getbands())
    filler: float | tuple[int, ...] = 37 if bands == 1 else tuple(37 + 71 * band for band in range(bands))
    try:
        filled = Image.core.fill(image.mode, image.size, filler)
        row = Image.new(image.mode, (image.width, 1), filler).tobytes()
    except (ValueError, TypeError):  # a mode Pillow cannot fill: count the rows instead
        return None
    image.im = filled
    return row


def _last_row(image: Image.Image) -> bytes:
    return image.crop((0, image.height - 1, image.width, image.height)).tobytes()


def _check_png_rows(data: bytes) -> None:
    """A6: every row the header promises is in the compressed data.

    Pillow stops quietly when the zlib stream ends early and leaves the missing rows
    blank; a PNG holding 10 of its 4096 rows is corrupt, not a picture with a black band.
    The stream is inflated into a small window and counted, never kept.
    """
    reader = _PngChunks(data)
    width, height, depth, colour, interlace = reader.header()
    bits = depth * _PNG_BANDS.get(colour, 1)
    expected = sum(rows * (1 + (cols * bits + 7) // 8) for cols, rows in _passes(width, height, interlace) if cols)
    inflater, produced = zlib.decompressobj(), 0
    for chunk in reader.idat():
        pending = chunk
        while pending and produced < expected:
            produced += len(inflater.decompress(pending, _INFLATE_WINDOW))
            pending = inflater.unconsumed_tail
        if produced >= expected or inflater.eof:
            break
    if produced < expected:
        rows = produced // (1 + (width * bits + 7) // 8) if not interlace else None
        held = f"{rows} of its {height} rows" if rows is not None else f"{produced} of {expected} bytes of pixel data"
        raise ImageDecodeError(f"PNG bytes do not decode: the data holds {held} (truncated)")


_INFLATE_WINDOW = 1 << 20
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _passes(width: int, height: int, interlace: int) -> list[tuple[int, int]]:
    """(columns, rows) of each pass: one for a plain PNG, seven for Adam7."""
    if not interlace:
        return [(width, height)]
    return [
        ((width - x0 + dx - 1) // dx if width > x0 else 0, (height - y0 + dy - 1) // dy if height > y0 else 0)
        for x0, y0, dx, dy in _ADAM7
    ]


class _PngChunks:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def header(self) -> tuple[int, int, int, int, int]:
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", self.data[16:29])
        return width, height, depth, colour, interlace

    def idat(self):
        """The IDAT chunks' payloads, in order (as memoryviews: nothing is copied)."""
        view, at = memoryview(self.data), 8
        while at + 8 <= len(self.data):
            (length,) = struct.unpack(">I", self.data[at : at + 4])
            kind = self.data[at + 4 : at + 8]
            if kind == b"IDAT":
                yield view[at + 8 : at + 8 + length]
            elif kind == b"IEND":
                return
            at += 12 + length


def has_alpha(image: Image.Image) -> bool:
    """True when the image carries transparency: an alpha band or a palette/tRNS transparency."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def alpha_channel(image: Image.Image) -> Image.Image:
    """The alpha band as "L" (255 opaque)."""
    if image.mode in ("RGBA", "LA", "PA"):
        return image.getchannel("A")  # no full-size RGBA copy first
    return image.convert("RGBA").getchannel("A")


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB view of any mode (16-bit, CMYK, palette...) without surprising channel math."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits instead of clipping everything above 255 to white.
        array = np.asarray(image, dtype=np.uint32) >> 8
        return Image.fromarray(array.astype(np.uint8), "L").convert("RGB")
    if image.mode == "RGBA":
        return image.convert("RGB")  # one conversion: an RGBA -> RGBA copy first would double the peak
    return image.convert("RGBA").convert("RGB") if has_alpha(image) else image.convert("RGB")


def psnr(expected: np.ndarray, actual: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 arrays of one shape (inf when equal).

    Summed in chunks: a float64 copy of a 4096x4096 RGB difference would take 400 MB.
    """
    if expected.size == 0:
        return math.inf
    a, b = expected.reshape(-1), actual.reshape(-1)
    squared = 0
    for start in range(0, a.size, _PSNR_CHUNK):
        diff = a[start : start + _PSNR_CHUNK].astype(np.int64) - b[start : start + _PSNR_CHUNK]
        squared += int(np.dot(diff, diff))
    mse = squared / a.size
    return math.inf if mse == 0 else 10 * math.log10(255.0 * 255.0 / mse)


_PSNR_CHUNK = 1 << 20


def region_psnr(expected: Image.Image, actual: Image.Image, region: np.ndarray) -> float:
    """PSNR over the pixels where ``region`` (an HxW bool array) is True, RGB channels.

    Strip by strip (whole-picture arrays and their masked copies took ~50 MB a call at 2300 px),
    and within a strip the squared errors are summed per pixel in integers before the region is
    picked: the same number as `psnr` over the region's pixels, several times faster than picking
    RGB triples out by the mask first.
    """
    a, b = to_rgb(expected), to_rgb(actual)
    count = int(np.count_nonzero(region)) * 3  # RGB
    if count == 0:
        return math.inf
    squared = 0
    for top in range(0, a.height, _STRIP_ROWS):
        bottom = min(a.height, top + _STRIP_ROWS)
        rows = region[top:bottom]
        if not rows.any():
            continue
        box = (0, top, a.width, bottom)
        diff = np.subtract(np.asarray(a.crop(box)), np.asarray(b.crop(box)), dtype=np.int32)
        per_pixel = np.einsum("ijk,ijk->ij", diff, diff)  # at most 3 * 255**2 per pixel: fits int32
        squared += int(per_pixel[rows].sum(dtype=np.int64))
    mse = squared / count
    return math.inf if mse == 0 else 10 * math.log10(255.0 * 255.0 / mse)


_STRIP_ROWS = 256

"""B1/B2 through the live server: no input yields a 5xx, a hang, or a charge for a failure."""

from __future__ import annotations

import io
import struct
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image
from test_fake_support import image_bytes, mask_bytes

from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS, MAX_PROMPT_CHARS, MAX_UPLOAD_BYTES

BOUNDARY = "fake-test-boundary"
APIS = ["aithriving", "vyro"]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming width x height pixels, with almost no data behind it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def odd_image(kind: str) -> bytes:
    buffer = io.BytesIO()
    if kind == "cmyk-jpeg":
        Image.new("CMYK", (96, 64), (10, 200, 30, 5)).save(buffer, "JPEG")
    elif kind == "16-bit-png":
        Image.fromarray(np.full((64, 96), 40000, dtype=np.uint16)).save(buffer, "PNG")
    elif kind == "palette-transparency-png":
        image = Image.new("P", (96, 64), 1)
        image.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
        image.paste(0, (48, 0, 96, 64))  # palette index 0 is transparent: the right half is repainted
        image.save(buffer, "PNG", transparency=0)
    return buffer.getvalue()


def multipart(fields: list[tuple[str, bytes, str | None]], *, close: bool = True) -> bytes:
    """A multipart body by hand: (name, value, filename or None) per part, in order, repeats allowed."""
    out = b""
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def send(
    server, api: str, body: bytes, content_type: str = f"multipart/form-data; boundary={BOUNDARY}"
) -> httpx.Response:
    url, header = (server.ait_url, "authorization") if api == "aithriving" else (server.vyro_url, "bearer")
    return httpx.post(url, content=body, headers={header: server.key, "content-type": content_type}, timeout=20)


def judge(server, api: str, response: httpx.Response, before: int, *, succeeds: bool) -> None:
    """The rules every answer keeps: never 5xx; a failure is not charged; a success costs 6 (AIThriving)."""
    assert response.status_code < 500, response.text[:300]
    if api == "aithriving":
        envelope = response.json()
        assert envelope["code"] == (0 if succeeds else -1), envelope.get("message")
        assert server.balance() == before - (CREDITS_PER_SUCCESS if succeeds else 0)
    else:
        assert (response.status_code == 200) is succeeds, response.text[:300]
        assert (response.headers["content-type"] == "image/png") is succeeds
        assert server.balance() == before


def valid_fields(image: bytes | None = None, prompt: bytes = b"a cat") -> list:
    return [
        ("image", image if image is not None else image_bytes(), "image.png"),
        ("mask", mask_bytes(), "mask.png"),
        ("prompt", prompt, None),
    ]


BAD_INPUTS = {
    "decompression bomb": valid_fields(bomb_png()),
    "empty image": valid_fields(b""),
    "corrupt png": valid_fields(image_bytes()[:40]),
    "random bytes": valid_fields(bytes(range(256)) * 4),
    "gif image": valid_fields(image_bytes("GIF")),
    "non-utf-8 prompt": valid_fields(prompt=b"caf\xe9 \xff\xfe"),
    "prompt over the limit": valid_fields(prompt=b"x" * (MAX_PROMPT_CHARS + 1)),
    "5 MB prompt": valid_fields(prompt=b"y" * 5_000_000),
    "no parts at all": [],
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_failure_never_a_5xx_nor_a_charge(inpaint_server, api, case):
    before = inpaint_server.balance()
    judge(inpaint_server, api, send(inpaint_server, api, multipart(BAD_INPUTS[case])), before, succeeds=False)
    entry = inpaint_server.journal()[-1]
    assert entry["violations"], "the journal must say which clause the client broke"


@pytest.mark.parametrize("api", APIS)
def test_truncated_multipart_is_a_failure(inpaint_server, api):
    body = multipart(valid_fields(), close=False)[:-10]
    before = inpaint_server.balance()
    judge(inpaint_server, api, send(inpaint_server, api, body), before, succeeds=False)
    assert any(
        "truncated" in v["message"] or "malformed" in v["clause"] for v in inpaint_server.journal()[-1]["violations"]
    )


@pytest.mark.parametrize("api", APIS)
def test_a_body_that_is_not_multipart_is_a_failure(inpaint_server, api):
    before = inpaint_server.balance()
    judge(
        inpaint_server, api, send(inpaint_server, api, b'{"prompt": "x"}', "application/json"), before, succeeds=False
    )


@pytest.mark.parametrize("api", APIS)
def test_upload_over_the_limit_is_refused_with_413_unread_and_uncharged(inpaint_server, api):
    before = inpaint_server.balance()
    response = send(inpaint_server, api, multipart(valid_fields(b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD_BYTES))))
    assert response.status_code == 413
    judge(inpaint_server, api, response, before, succeeds=False)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("kind", ["cmyk-jpeg", "16-bit-png"])
def test_odd_image_modes_are_painted(inpaint_server, api, kind):
    before = inpaint_server.balance()
    judge(
        inpaint_server, api, send(inpaint_server, api, multipart(valid_fields(odd_image(kind)))), before, succeeds=True
    )


def test_palette_transparency_is_the_mask_when_none_is_sent(inpaint_server):
    fields = [("image", odd_image("palette-transparency-png"), "image.png"), ("prompt", b"a cat", None)]
    before = inpaint_server.balance()
    response = send(inpaint_server, "aithriving", multipart(fields))
    judge(inpaint_server, "aithriving", response, before, succeeds=True)


@pytest.mark.parametrize("api", APIS)
def test_duplicate_fields_take_the_first_and_charge_once(inpaint_server, api):
    fields = valid_fields() + [("prompt", b"second prompt", None), ("image", b"not an image", "again.png")]
    before = inpaint_server.balance()
    judge(inpaint_server, api, send(inpaint_server, api, multipart(fields)), before, succeeds=True)
    assert inpaint_server.journal()[-1]["request"]["prompt"] == "a cat"

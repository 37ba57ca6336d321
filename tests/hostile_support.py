"""Helpers of the hostile-input tests (no tests here): crafted images and arbitrary requests.

`hostile_requests()` draws what an attacker or a broken client can put on the wire:
any method and path, arbitrary header names and values, multipart bodies with any
boundary (empty, 300 characters, quoted, with odd bytes), parts with any names,
filenames, Content-Types and charsets, values that are huge numbers, real images,
truncated images or random bytes; or a body of random bytes.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zlib

from hypothesis import strategies as st
from PIL import Image

from inpaint_conformance.contracts import Api, HttpRequest
from inpaint_conformance.contracts.rules import AUTH_HEADER, PATHS

KEY = "test-key"


# -- crafted images ----------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def deep_png(width: int, height: int, *, rows: int | None = None) -> bytes:
    """A zero-filled 16-bit RGBA PNG (tiny on the wire, width x height x 8 bytes decoded).

    ``rows``: how many of its rows the data holds (all of them by default).
    """
    row = b"\x00" * (1 + width * 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height if rows is None else rows)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def interlaced_png(pixels, *, missing_bytes: int = 0) -> bytes:
    """An Adam7-interlaced 8-bit RGB PNG of an (h, w, 3) uint8 array (Pillow writes none).

    ``missing_bytes``: how many bytes of pixel data the (well-formed) zlib stream lacks at its end.
    """
    height, width = pixels.shape[:2]
    raw = b""
    for x0, y0, dx, dy in (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ):
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    data = zlib.compress(raw[: len(raw) - missing_bytes])
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def png(size: tuple[int, int] = (64, 48), mode: str = "RGBA", colour=None) -> bytes:
    if colour is None:
        colour = {"RGBA": (20, 120, 220, 0), "L": 255}.get(mode, (20, 120, 220))
    image = Image.new(mode, size, colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def multipart(parts: list[tuple[str, bytes, str | None]], boundary: str = "hostile-boundary") -> bytes:
    """(name, value, filename or None) per part, written by hand."""
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


# -- arbitrary requests ----------------------------------------------------------------------
_SMALL_PNG = png((16, 12))
_TEXT = st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=40)
_TOKEN = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\;'), min_size=1, max_size=20)
_BOUNDARIES = st.one_of(
    st.just("b"),
    st.just(""),
    st.just("x" * 300),
    st.just("x" * 257),
    st.just('"quoted boundary"'),
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=80),
)
_CHARSETS = st.sampled_from(["utf-8", "latin-1", "rot13", "base64", "undefined", "utf-16", "idna", "nope", "a\x01b"])
_VALUES = st.one_of(
    st.binary(max_size=64),
    _TEXT.map(str.encode),
    st.sampled_from(
        [
            b"9" * 5000,  # over Python's int-string limit
            b"-" + b"1" * 4400,
            b" 42 ",
            b"+5",
            b"-0",
            b"007",
            b"4294967295",
            b"\xff\xfe",
            _SMALL_PNG,
            _SMALL_PNG[: len(_SMALL_PNG) // 2],
            deep_png(64, 64, rows=3),
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
            b"\xff\xd8\xff" + b"\x00" * 40,
            b"RIFF\x00\x00\x00\x00WEBP",
            b"GIF89a",
        ]
    ),
)
_PART_NAMES = st.one_of(
    st.sampled_from(["image", "mask", "prompt", "seed", "output_format", "model_version", "negative_prompt"]), _TEXT
)


@st.composite
def _part(draw) -> bytes:
    name = draw(_PART_NAMES)
    lines = []
    if draw(st.booleans()):
        disposition = f'form-data; name="{name}"'
        if draw(st.booleans()):
            disposition += f'; filename="{draw(_TEXT)}"'
        lines.append(f"Content-Disposition: {disposition}")
    else:
        lines.append(f"{draw(_TEXT)}: {draw(_TEXT)}")
    if draw(st.booleans()):
        charset = f"; charset={draw(_CHARSETS)}" if draw(st.booleans()) else ""
        lines.append(f"Content-Type: {draw(st.sampled_from(['text/plain', 'image/png', 'a/b', '']))}{charset}")
    head = "\r\n".join(lines).encode("latin-1")
    return head + b"\r\n\r\n" + draw(_VALUES)


@st.composite
def _multipart_body(draw, boundary: str) -> bytes:
    delimiter = b"--" + boundary.encode("latin-1")
    parts = draw(st.lists(_part(), max_size=6))
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts)
    ending = draw(st.sampled_from([delimiter + b"--\r\n", b"", delimiter, delimiter + b"--", b"garbage"]))
    return draw(st.sampled_from([b"", b"preamble\r\n"])) + body + ending


@st.composite
def hostile_requests(draw, api: Api | None = None) -> HttpRequest:
    """An arbitrary request, mostly aimed at an inpaint endpoint; never one any server must serve."""
    target = api or draw(st.sampled_from(list(Api)))
    path = draw(
        st.one_of(
            st.just(PATHS[target]),
            st.just(PATHS[target] + "/"),
            st.sampled_from(["/", "/api/edit/inpainting", "/__fake__/credits", "/__fake__/nothing"]),
            _TEXT.map(lambda t: "/" + t.replace("?", "").replace("#", "").replace(" ", "")),
        )
    )
    method = draw(st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
    boundary = draw(_BOUNDARIES)
    headers = []
    if draw(st.integers(0, 3)):
        headers.append((AUTH_HEADER[target], draw(st.one_of(st.just(KEY), st.just("Bearer " + KEY), _TEXT))))
    if draw(st.integers(0, 3)):
        content_type = draw(
            st.one_of(
                st.just(f"multipart/form-data; boundary={boundary}"),
                st.just(f'multipart/form-data; boundary="{boundary}"'),
                st.just("multipart/form-data"),
                st.sampled_from(["application/json", "text/plain", "image/png", "multipart/mixed; boundary=b"]),
                _TEXT,
            )
        )
        headers.append(("content-type", content_type))
    headers += draw(st.lists(st.tuples(_TOKEN, _TEXT), max_size=4))
    body = draw(st.one_of(_multipart_body(boundary), st.binary(max_size=200), st.just(b"")))
    return HttpRequest(method, f"http://127.0.0.1:8000{path}", headers, body)


# -- calling an ASGI app directly (arbitrary header bytes, no client library to refuse them) --
class AsgiCaller:
    """Runs requests through an ASGI app on one event loop; returns (status, headers, body)."""

    def __init__(self, app) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.close()

    def __call__(self, request: HttpRequest) -> tuple[int, dict[str, str], bytes]:
        return self.loop.run_until_complete(self._call(request))

    async def _call(self, request: HttpRequest) -> tuple[int, dict[str, str], bytes]:
        path = request.path
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode("utf-8", "surrogateescape"),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in [("host", "127.0.0.1:8000"), *_pairs(request)]
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = {"body": False}
        messages: list[dict] = []

        async def receive() -> dict:
            if not sent["body"]:
                sent["body"] = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await asyncio.sleep(3600)  # the client never leaves on its own
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            messages.append(message)

        await self.app(scope, receive, send)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
        return start["status"], headers, body


def _pairs(request: HttpRequest) -> list[tuple[str, str]]:
    # HttpRequest joins repeated headers; the app sees them as one, as it would through uvicorn.
    return [(k, v) for k, v in request.headers.items() if k != "host"]


def is_failure_shape(api: Api, status: int, body: bytes) -> bool:
    """The API's own failure answer: AIThriving's envelope (code -1), Vyro's 4xx with a JSON error."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    if api is Api.AITHRIVING:
        return isinstance(data, dict) and data.get("code") == -1 and "message" in data
    return 400 <= status < 500 and isinstance(data, dict)

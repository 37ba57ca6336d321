"""Reading multipart/form-data from raw bytes, with limits, into parts.

python-multipart does the parsing; this module turns its callbacks into a plain
structure and its failures into one exception with a readable reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:  # a TypedDict the library declares for type checkers only
    from python_multipart.multipart import MultipartCallbacks

# python-multipart logs each malformed byte it meets; the FormError below says it once.
logging.getLogger("python_multipart").setLevel(logging.ERROR)
logging.getLogger("python_multipart.multipart").setLevel(logging.ERROR)


class FormError(ValueError):
    """The body is not readable multipart/form-data; the message says why.

    ``kind``: "content_type" (not multipart/form-data at all), "boundary" (the
    Content-Type names no boundary), "truncated" (no closing delimiter) or "malformed".
    """

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def is_file(self) -> bool:
        return self.filename is not None


@dataclass
class Form:
    parts: list[Part] = field(default_factory=list)

    def get(self, name: str) -> Part | None:
        """The first part with this name (a client sending a field twice gets the first)."""
        return next((p for p in self.parts if p.name == name), None)

    def count(self, name: str) -> int:
        return sum(1 for p in self.parts if p.name == name)

    def names(self) -> list[str]:
        return list(dict.fromkeys(p.name for p in self.parts))


def boundary_of(content_type: str) -> bytes:
    media, params = parse_options_header(content_type or "")
    if media != b"multipart/form-data":
        shown = media.decode("latin-1") or "no Content-Type"
        raise FormError(f"expected Content-Type multipart/form-data, got {shown}", "content_type")
    boundary = params.get(b"boundary")
    if not boundary:
        raise FormError("Content-Type multipart/form-data without a boundary parameter", "boundary")
    return boundary


def parse_form(content_type: str, body: bytes, *, max_parts: int = 64) -> Form:
    """Parse a whole multipart body. Raises FormError on anything unreadable."""
    boundary = boundary_of(content_type)
    form = Form()
    state: dict = {"headers": {}, "name": b"", "value": b"", "chunks": []}

    def on_part_begin() -> None:
        state["headers"] = {}
        state["chunks"] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["name"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["name"].decode("latin-1").lower()] = state["value"]
        state["name"], state["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["chunks"].append(data[start:end])

    def on_part_end() -> None:
        if len(form.parts) >= max_parts:
            raise FormError(f"more than {max_parts} parts")
        disposition, params = parse_options_header(state["headers"].get("content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise FormError("a part has no Content-Disposition: form-data; name=...")
        filename = params.get(b"filename")
        ctype = state["headers"].get("content-type")
        form.parts.append(
            Part(
                name=params[b"name"].decode("utf-8", errors="replace"),
                data=b"".join(state["chunks"]),
                filename=filename.decode("utf-8", errors="replace") if filename is not None else None,
                content_type=ctype.decode("latin-1") if ctype is not None else None,
            )
        )

    callbacks: MultipartCallbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    body = _without_preamble(body, boundary)
    parser = MultipartParser(boundary, callbacks)
    try:
        parser.write(body)
        parser.finalize()
    except FormError:
        raise
    except Exception as exc:  # python-multipart raises several types for malformed input
        raise FormError(f"malformed multipart body: {exc}") from None
    # python-multipart tolerates a body that stops before the closing boundary; a
    # truncated upload must not pass as complete. An epilogue after it is legal (RFC 2046).
    if not _closed(body, boundary):
        raise FormError("multipart body is truncated: no closing boundary", "truncated")
    return form


def _without_preamble(body: bytes, boundary: bytes) -> bytes:
    """The body from its first delimiter on: RFC 2046 5.1.1 allows a preamble before it,
    which python-multipart does not skip (a client's MIME library may write one)."""
    if body.lstrip(b"\r\n").startswith(b"--" + boundary):
        return body
    first = body.find(b"\r\n--" + boundary)
    return body[first + 2 :] if first >= 0 else body


def _closed(body: bytes, boundary: bytes) -> bool:
    """Whether the close delimiter `--boundary--` ends a line of its own (an epilogue may follow)."""
    close = b"--" + boundary + b"--"
    at = body.rfind(close)
    while at >= 0:
        if at == 0 or body[:at].endswith(b"\r\n"):
            rest = body[at + len(close) :].lstrip(b" \t")  # transport padding, then CRLF and an epilogue
            return not rest.strip(b"\r\n") or rest.startswith(b"\r\n")
        at = body.rfind(close, 0, at)
    return False

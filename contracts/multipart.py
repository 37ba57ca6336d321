"""Reading multipart/form-data from raw bytes, with limits, into parts.

python-multipart does the parsing; this module turns its callbacks into a plain
structure and its failures into one exception with a readable reason.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from python_multipart.multipart import MultipartParser, parse_options_header

from .exchange import is_secret_name, redact_secret

if TYPE_CHECKING:  # a TypedDict the library declares for type checkers only
    from python_multipart.multipart import MultipartCallbacks

# RFC 2046 says 70; python-multipart accepts up to 256, and so does this module.
MAX_BOUNDARY = 256


class FormError(ValueError):
    """The body is not readable multipart/form-data; the message says why.

    ``kind``: "content_type" (not multipart/form-data at all), "boundary" (the
    Content-Type names no boundary), "boundary_length" (a boundary longer than any parser
    reads), "truncated" (no closing delimiter) or "malformed".
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
    if len(boundary) > MAX_BOUNDARY:
        # RFC 2046 5.1.1: 1 to 70 characters; python-multipart reads up to 256.
        raise FormError(
            f"the multipart boundary has {len(boundary)} characters; RFC 2046 allows at most 70", "boundary_length"
        )
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
    try:
        parser = MultipartParser(boundary, callbacks)  # refuses some boundaries (over 256 bytes) itself
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


def redact_form_fields(content_type: str, body: bytes, secrets: Collection[str]) -> bytes:
    """The body with each form field that carries a credential reduced to the key's hint (B3).

    A field carries one when its name looks like a credential (`api_key`, `token`...) or its
    value is one of ``secrets`` (the keys the request sent in its headers). Multipart and
    URL-encoded forms are rebuilt field by field; anything else, or a form with nothing to
    hide, comes back as it was.
    """
    media = parse_options_header(content_type or "")[0]
    if media == b"application/x-www-form-urlencoded":
        return _redact_urlencoded(body, secrets)
    try:
        form = parse_form(content_type, body)
    except FormError:
        return body
    if not any(_carries_secret(part.name, part.data, secrets) for part in form.parts):
        return body
    boundary = boundary_of(content_type)
    out = []
    for part in form.parts:
        data = part.data
        if _carries_secret(part.name, data, secrets):
            data = redact_secret(data.decode("latin-1")).encode("utf-8")
        disposition = f'form-data; name="{_quoted(part.name)}"'
        if part.filename is not None:
            disposition += f'; filename="{_quoted(part.filename)}"'
        head = f"Content-Disposition: {disposition}\r\n"
        if part.content_type is not None:
            head += f"Content-Type: {part.content_type}\r\n"
        out.append(b"--" + boundary + b"\r\n" + head.encode("utf-8") + b"\r\n" + data + b"\r\n")
    return b"".join(out) + b"--" + boundary + b"--\r\n"


def _carries_secret(name: str, data: bytes, secrets: Collection[str]) -> bool:
    if is_secret_name(name):
        return True
    if len(data) > _LONGEST_KEY:
        return False
    value = data.decode("latin-1").strip()
    return bool(value) and value in secrets


def _redact_urlencoded(body: bytes, secrets: Collection[str]) -> bytes:
    try:
        fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return body
    if not any(_carries_secret(k, v.encode("latin-1", "replace"), secrets) for k, v in fields):
        return body
    kept = [
        (k, redact_secret(v) if _carries_secret(k, v.encode("latin-1", "replace"), secrets) else v) for k, v in fields
    ]
    return urlencode(kept).encode("ascii")


def _quoted(text: str) -> str:
    """A name as the HTML form encoding writes it inside quotes."""
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


_LONGEST_KEY = 4096

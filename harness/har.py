"""Reading HAR 1.2 files (browsers, mitmproxy, Charles...) into neutral requests.

A HAR keeps a request body as text (`postData.text`, sometimes base64 with
`encoding`) or as form fields (`postData.params`). Tools disagree on how they turn
binary multipart bodies into text, so this module rebuilds the bytes as faithfully
as it can and says when it could not (the entry is then `lossy`: its image bytes
are not judged).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from inpaint_conformance.contracts import HttpRequest
from inpaint_conformance.contracts.multipart import FormError, parse_form

# Signatures of the image formats either API takes, as a tool decoding bytes as
# latin-1 would show them in postData.text: their presence means the text is bytes.
_LATIN1_IMAGE_MAGICS = ("\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "WEBP")
# Some tools put the file name where the content should be, or nothing at all.
_REPLACEMENT = "\ufffd"


class HarError(ValueError):
    """The file is not a HAR 1.2 document; the message says what was expected."""


@dataclass(frozen=True)
class HarRequest:
    index: int  # position in log.entries, 0-based
    started: str  # startedDateTime as the HAR has it ("" when absent)
    request: HttpRequest
    lossy: bool = False  # file bytes were lost by the tool that wrote the HAR
    note: str = ""


def is_har(document: object) -> bool:
    return isinstance(document, dict) and isinstance(document.get("log"), dict) and "entries" in document["log"]


def har_requests(document: dict) -> list[HarRequest]:
    """Every entry's request, rebuilt as an HttpRequest (all URLs; callers pick theirs)."""
    if not is_har(document):
        raise HarError("expected a HAR document: a JSON object with log.entries (HAR 1.2)")
    entries = document["log"]["entries"]
    if not isinstance(entries, list):
        raise HarError(f"expected log.entries to be a list, got {type(entries).__name__}")
    found = []
    for index, entry in enumerate(entries):
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or not request.get("url") or not request.get("method"):
            raise HarError(f"log.entries[{index}] has no request with a method and url")
        headers = [
            (h["name"], h.get("value", ""))
            for h in request.get("headers", [])
            if isinstance(h, dict) and h.get("name") and not h["name"].startswith(":")
        ]
        body, lossy, note, content_type = _body(request, _header(headers, "content-type"))
        headers = [(n, v) for n, v in headers if n.lower() != "content-type"]
        headers += [("content-type", content_type)] if content_type else []
        found.append(
            HarRequest(
                index,
                str(entry.get("startedDateTime", "")),
                HttpRequest(request["method"], request["url"], headers, body),
                lossy,
                note,
            )
        )
    return found


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _body(request: dict, content_type: str | None) -> tuple[bytes, bool, str, str | None]:
    """The body bytes, whether bytes were lost, why, and the Content-Type that goes with them.

    Browsers list Content-Type among the headers; some tools only give postData.mimeType.
    """
    post = request.get("postData")
    if not isinstance(post, dict):
        return b"", False, "", content_type
    content_type = content_type or post.get("mimeType") or None
    text = post.get("text")
    if isinstance(text, str) and text:
        if str(post.get("encoding", "")).lower() == "base64":
            try:
                return base64.b64decode(text, validate=True), False, "", content_type
            except (binascii.Error, ValueError):
                return (
                    text.encode("utf-8", "surrogateescape"),
                    True,
                    "postData.text says base64 but is not",
                    content_type,
                )
        body = _text_bytes(text)
        if _REPLACEMENT in text:
            return body, True, "the HAR tool replaced binary bytes with U+FFFD", content_type
        dropped = _empty_file_parts(content_type, body)
        if dropped:
            # Chrome's DevTools (and tools built on it) write the multipart text with every
            # upload left empty: an empty file there says nothing about what was sent.
            return body, True, f"the HAR keeps no bytes for file part(s) {', '.join(dropped)}", content_type
        return body, False, "", content_type
    params = post.get("params")
    if isinstance(params, list) and params and "urlencoded" in (content_type or ""):
        # A form the client sent urlencoded stays urlencoded: that is the violation to see.
        pairs = [(str(p.get("name")), str(p.get("value", ""))) for p in params if isinstance(p, dict)]
        return urlencode(pairs).encode("ascii"), False, "", content_type
    if isinstance(params, list) and params:
        boundary = _boundary(content_type or "") or f"har-{secrets.token_hex(8)}"
        body, lossy, note = _multipart_from_params(params, boundary)
        return body, lossy, note, f"multipart/form-data; boundary={boundary}"
    return b"", False, "", content_type


def _text_bytes(text: str) -> bytes:
    """The bytes a tool most likely decoded into `text`.

    Tools that keep binary bodies decode them as latin-1 (byte for byte); tools that
    keep text bodies decode them as UTF-8. An image signature seen as latin-1 text
    tells the first kind; anything beyond latin-1 tells the second.
    """
    if all(ord(ch) < 256 for ch in text) and any(magic in text for magic in _LATIN1_IMAGE_MAGICS):
        return text.encode("latin-1")
    return text.encode("utf-8", "surrogateescape")


def _empty_file_parts(content_type: str | None, body: bytes) -> list[str]:
    """Names of the file parts when every one of them (with a filename) is empty; [] otherwise.

    A tool that drops uploads drops them all; one empty file beside a full one was sent empty.
    """
    if "multipart/form-data" not in (content_type or "").lower():
        return []
    try:
        form = parse_form(content_type or "", body)
    except FormError:
        return []
    files = [part for part in form.parts if part.is_file]
    return [part.name for part in files] if files and not any(part.data for part in files) else []


def _multipart_from_params(params: list, boundary: str) -> tuple[bytes, bool, str]:
    """Rebuild a multipart body from postData.params (the boundary the HAR names, if any)."""
    chunks: list[bytes] = []
    lossy_fields = []
    for param in params:
        if not isinstance(param, dict) or not param.get("name"):
            continue
        name, value = str(param["name"]), str(param.get("value", ""))
        disposition = f'form-data; name="{name}"'
        head = ""
        if param.get("fileName") is not None:
            disposition += f'; filename="{param["fileName"]}"'
            head = f"Content-Type: {param.get('contentType') or 'application/octet-stream'}\r\n"
            if not value or _REPLACEMENT in value:
                lossy_fields.append(name)
        data = _text_bytes(value)
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n{head}\r\n".encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    note = f"the HAR does not keep the bytes of file part(s) {', '.join(lossy_fields)}" if lossy_fields else ""
    return b"".join(chunks), bool(lossy_fields), note


def _boundary(mime_type: str) -> str | None:
    for piece in mime_type.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        if key.lower() == "boundary" and value:
            return value.strip('"')
    return None

"""A neutral HTTP exchange: what validators read, whatever produced it.

The fake server, the in-process mocks, the harness and the proxy each convert their
own objects (Starlette, httpx, requests, HAR) into these, so a rule is checked by
one function whichever door the bytes came through.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

REDACTED = "[redacted]"
# Header names that carry credentials, by pattern rather than by list: `api-key`, `x-auth-token`,
# `x-goog-api-key`, `proxy-authorization`, `cookie`, `set-cookie` and Vyro's own `bearer` all match.
_SECRET_NAME = re.compile(r"key|token|secret|auth|cookie|bearer|passw|credential|session|signature", re.IGNORECASE)
# Keys at least this long show their first characters; shorter ones only a fingerprint.
_HINT_MIN_LENGTH = 12
_HINT_PREFIX = 4


# What each door hands over: a mapping, or (name, value) pairs, as text or (ASGI, raw
# HTTP, requests) as latin-1 bytes.
HeaderItems = Mapping[str, str | bytes] | Iterable[tuple[str | bytes, str | bytes]]


def is_secret_name(name: str) -> bool:
    """Whether a header (or form field) of this name carries a credential."""
    return bool(_SECRET_NAME.search(name))


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only headers; repeated headers are joined with ", "."""

    __slots__ = ("_items",)

    def __init__(self, items: HeaderItems | None = None) -> None:
        merged: dict[str, str] = {}
        pairs = items.items() if isinstance(items, Mapping) else (items or ())
        for name, value in pairs:
            key = name.lower() if isinstance(name, str) else name.decode("latin-1").lower()
            text = value if isinstance(value, str) else value.decode("latin-1")
            merged[key] = f"{merged[key]}, {text}" if key in merged else text
        self._items = merged

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({redact_headers(self)!r})"

    def media_type(self) -> str:
        """The Content-Type without parameters, lower-cased ("" when absent)."""
        return self.get("content-type", "").split(";", 1)[0].strip().lower()


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to log: every credential-looking header (by name) shows only a hint of its value."""
    return {name: (redact_secret(value) if is_secret_name(name) else value) for name, value in headers.items()}


def redact_secret(value: str) -> str:
    """A credential as it may be shown: an auth scheme ("Bearer ") kept, the key replaced by `key_hint`."""
    value = value.strip()
    scheme, _, token = value.partition(" ")
    if token.strip() and scheme.isalpha() and len(scheme) <= 10:
        return f"{scheme} {key_hint(token.strip())}"
    return key_hint(value)


def key_hint(key: str) -> str:
    """A stable, short stand-in for a key that tells keys apart and never gives one away.

    Long keys keep their first 4 characters (a provider's prefix, like `sk-p`) and say how
    many are hidden; every key gets a 16-bit fingerprint, so two keys that look alike
    still show differently: `sk-p…[20 chars]#3f9a`, `key#b01c`.
    """
    fingerprint = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:4]
    if len(key) >= _HINT_MIN_LENGTH:
        return f"{key[:_HINT_PREFIX]}…[{len(key) - _HINT_PREFIX} chars]#{fingerprint}"
    return f"key#{fingerprint}"


def _as_headers(items: HeaderItems | None) -> Headers:
    return items if isinstance(items, Headers) else Headers(items)


# init=False: the constructor takes headers in any form a door has them (HeaderItems) and
# stores them as Headers, which a generated __init__ could not state to a type checker.
@dataclass(frozen=True, init=False)
class HttpRequest:
    method: str
    url: str
    headers: Headers
    body: bytes

    def __init__(self, method: str, url: str, headers: HeaderItems | None = None, body: bytes = b"") -> None:
        object.__setattr__(self, "method", method.upper())
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "headers", _as_headers(headers))
        object.__setattr__(self, "body", body)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"


@dataclass(frozen=True, init=False)
class HttpResponse:
    status: int
    headers: Headers
    body: bytes

    def __init__(self, status: int, headers: HeaderItems | None = None, body: bytes = b"") -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "headers", _as_headers(headers))
        object.__setattr__(self, "body", body)

    def excerpt(self, limit: int = 300) -> str:
        """The body as evidence: text when it is text, a byte count otherwise."""
        if not self.body:
            return "(empty body)"
        media = self.headers.media_type()
        if media.startswith("image/") or b"\x00" in self.body[:64]:
            return f"({len(self.body)} bytes of {media or 'binary'})"
        text = self.body[:limit].decode("utf-8", errors="replace")
        return text + ("…" if len(self.body) > limit else "")

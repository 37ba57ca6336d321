"""A neutral HTTP exchange: what validators read, whatever produced it.

The fake server, the in-process mocks, the harness and the proxy each convert their
own objects (Starlette, httpx, requests, HAR) into these, so a rule is checked by
one function whichever door the bytes came through.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

REDACTED = "[redacted]"
# Headers that carry secrets in either API, or in the proxies and tools around them.
SECRET_HEADERS = frozenset(
    {"authorization", "bearer", "proxy-authorization", "x-admin-token", "cookie", "set-cookie", "x-api-key"}
)
# What each door hands over: a mapping, or (name, value) pairs, as text or (ASGI, raw
# HTTP, requests) as latin-1 bytes.
HeaderItems = Mapping[str, str | bytes] | Iterable[tuple[str | bytes, str | bytes]]


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
    """A copy safe to log: secret headers keep only a hint of their value."""
    return {
        name: (redact_secret(value) if name.lower() in SECRET_HEADERS else value) for name, value in headers.items()
    }


def redact_secret(value: str) -> str:
    """Keep a 4-character hint for keys long enough that it gives nothing away."""
    value = value.strip()
    scheme, _, token = value.partition(" ") if value.lower().startswith("bearer ") else ("", "", value)
    hint = f"{token[:4]}…" if len(token) >= 12 else ""
    return f"{scheme + ' ' if scheme else ''}{REDACTED}{' ' + hint if hint else ''}"


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

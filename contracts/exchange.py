"""A neutral HTTP exchange: what validators read, whatever produced it.

The fake server, the in-process mocks, the harness and the proxy each convert their
own objects (Starlette, httpx, requests, HAR) into these, so a rule is checked by
one function whichever door the bytes came through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

REDACTED = "[redacted]"
# Headers that carry secrets in either API, or in the proxies and tools around them.
SECRET_HEADERS = frozenset(
    {"authorization", "bearer", "proxy-authorization", "x-admin-token", "cookie", "set-cookie", "x-api-key"}
)


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only headers; repeated headers are joined with ", "."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
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

    def __iter__(self):
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


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))
        object.__setattr__(self, "method", self.method.upper())

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))

    def excerpt(self, limit: int = 300) -> str:
        """The body as evidence: text when it is text, a byte count otherwise."""
        if not self.body:
            return "(empty body)"
        media = self.headers.media_type()
        if media.startswith("image/") or b"\x00" in self.body[:64]:
            return f"({len(self.body)} bytes of {media or 'binary'})"
        text = self.body[:limit].decode("utf-8", errors="replace")
        return text + ("…" if len(self.body) > limit else "")

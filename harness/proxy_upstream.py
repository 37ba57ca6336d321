"""The proxy's side of the upstream: forwarding a request, reading the answer, and the
proxy's own answers when the upstream gives none a client could use (502, 504).

Every way an answer can be broken (unreachable, broken off, a bad or truncated gzip,
a status that is no HTTP status) becomes a 502 that says which, never a 500.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import TYPE_CHECKING

import httpx
from starlette.responses import Response

from inpaint_conformance.contracts import HttpRequest, HttpResponse
from inpaint_conformance.contracts.rules import MAX_UPLOAD_BYTES

if TYPE_CHECKING:
    from .proxy_exchange import Exchange

# RFC 9110 7.6.1: headers about one connection, never forwarded. Host and length are
# set again by the HTTP library for the next hop.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# An answer carries the image base64-encoded (AIThriving) or raw: allow for both, and then some.
MAX_RESPONSE_BYTES = 4 * MAX_UPLOAD_BYTES


class TooLarge(Exception):
    pass


class _Malformed(Exception):
    """The upstream's answer is no valid HTTP answer the client could use; the message says why."""


async def collect(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Read a stream whole, refusing (with TooLarge) as soon as it passes ``limit`` bytes."""
    kept, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge()
        kept.append(chunk)
    return b"".join(kept)


async def send_upstream(client: httpx.AsyncClient, http: HttpRequest, target: str, exchange: Exchange) -> Response:
    """Forward the request; the answer for the client, with `exchange.response` the upstream's (decoded) answer."""
    # As bytes: a header value with a non-ASCII byte (obs-text, RFC 9110 5.5) goes on as it came.
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in http.headers.items() if k not in HOP_BY_HOP]
    try:
        upstream_request = client.build_request(http.method, target, headers=headers, content=http.body)
        upstream = await client.send(upstream_request, stream=True)
        try:
            raw = await _read_raw(upstream)
        finally:
            await upstream.aclose()
        passed = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in HOP_BY_HOP]
        body = _decoded(upstream, raw)
    except TooLarge:
        exchange.error = f"the upstream answer is over {MAX_RESPONSE_BYTES} bytes, the most the proxy buffers"
        return plain(502, f"inpaint-conformance proxy: {exchange.error}")
    except httpx.InvalidURL as exc:  # the client's path or query: nothing the upstream did
        exchange.error = f"the request's URL cannot be forwarded: {exc}"
        return plain(400, f"inpaint-conformance proxy: {exchange.error}")
    except _Malformed as exc:
        exchange.error = f"the upstream's answer is malformed: {exc}"
        return plain(502, f"inpaint-conformance proxy: {exchange.error} ({_origin(target)})")
    except httpx.TimeoutException as exc:
        exchange.error = f"the upstream did not answer in time ({type(exc).__name__})"
        return plain(504, f"inpaint-conformance proxy: {exchange.error} at {_origin(target)}")
    except httpx.HTTPError as exc:
        exchange.error = f"the upstream is unreachable or broke off: {type(exc).__name__}: {exc}"
        return plain(
            502,
            f"inpaint-conformance proxy: {exchange.error} ({_origin(target)}); "
            "check --upstream and that the server is running",
        )
    except (ValueError, UnicodeError, OSError) as exc:  # what else a broken answer can raise in httpx and h11
        exchange.error = f"the upstream's answer could not be read: {type(exc).__name__}: {exc}"
        return plain(502, f"inpaint-conformance proxy: {exchange.error} ({_origin(target)})")
    exchange.response = HttpResponse(upstream.status_code, passed, body)
    # The client gets the bytes as they came (still compressed if they were); the judge read them decoded.
    response = Response(raw, status_code=upstream.status_code)
    response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in passed]
    response.raw_headers.append((b"content-length", str(len(raw)).encode()))
    return response


def _decoded(upstream: httpx.Response, raw: bytes) -> bytes:
    """The answer's body with its Content-Encoding undone; _Malformed when the answer cannot be passed on."""
    status = upstream.status_code
    if not 200 <= status <= 599:
        # 1xx cannot end an exchange, and nothing above 599 is an HTTP status: no client reads it.
        raise _Malformed(f"HTTP status {status} is no final HTTP status (expected 200 to 599)")
    encoding = upstream.headers.get("content-encoding", "").strip().lower()
    if encoding in _ZLIB_WBITS:
        # zlib directly: httpx passes a gzip stream that stops short as if it were whole.
        inflater = zlib.decompressobj(_ZLIB_WBITS[encoding])
        try:
            body = inflater.decompress(raw) + inflater.flush()
        except zlib.error as exc:
            raise _Malformed(f"its body does not decode as Content-Encoding {encoding} ({exc})") from None
        if not inflater.eof:
            raise _Malformed(f"its body does not decode as Content-Encoding {encoding}: the stream is truncated")
        return body
    try:
        # httpx decodes as the answer is built (content=), so a bad body raises here.
        return httpx.Response(status, headers=upstream.headers, content=raw).read()
    except httpx.DecodingError as exc:
        raise _Malformed(f"its body does not decode as Content-Encoding {encoding} ({exc})") from None


# Encodings checked for a stream that stops short; deflate and the others go through httpx.
_ZLIB_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}


async def _read_raw(response: httpx.Response) -> bytes:
    return await collect(response.aiter_raw(), MAX_RESPONSE_BYTES)


def plain(status: int, message: str, *, close: bool = False) -> Response:
    """The proxy's own answer (JSON), with the Date header uvicorn no longer adds."""
    headers = {"date": formatdate(usegmt=True)}
    if close:
        headers["connection"] = "close"
    return Response(json.dumps({"detail": message}), status_code=status, media_type="application/json", headers=headers)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"

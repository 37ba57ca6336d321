"""The validating proxy: forward to an upstream, judge both directions, pass the answer back.

A client points its base URL at the proxy; every request is forwarded as it came
(minus hop-by-hop headers) to `{upstream}{path}`, and the upstream's answer goes
back unchanged. On the way, the request is judged by `inpaint_conformance.contracts.validate_request`
and the answer by `inpaint_conformance.contracts.validate_response`, and one line per exchange says
what each side broke. Nothing the proxy judges changes what it forwards: it
observes, it never corrects.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio
import httpx
from rich.console import Console
from rich.markup import escape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inpaint_conformance.contracts import Api, HttpRequest, HttpResponse, Violation, validate_request, validate_response
from inpaint_conformance.contracts.rules import MAX_UPLOAD_BYTES, api_for_path, near_miss_api

from .recording import Recorder, exchange_record

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
DEFAULT_TIMEOUT = 300.0  # inpainting on a busy provider takes a while
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass
class Exchange:
    """One proxied exchange and its verdicts (violations of the client and of the upstream)."""

    api: Api | None  # None: a path outside the API, forwarded without judging
    request: HttpRequest
    response: HttpResponse | None
    request_violations: list[Violation] = field(default_factory=list)
    response_violations: list[Violation] = field(default_factory=list)
    error: str | None = None  # why the upstream gave no answer
    duration_ms: float = 0.0
    near_miss: bool = False  # a wrong inpaint path: the client is judged, the upstream's 404 is not


class _TooLarge(Exception):
    pass


def create_proxy_app(
    api: Api | str,
    upstream: str,
    recorder: Recorder | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    console: Console | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_exchange: Callable[[Exchange], None] | None = None,
    keep: int = 1000,
) -> Starlette:
    """The proxy as an ASGI app. `app.state.exchanges` keeps the last `keep` judged exchanges."""
    api = Api.parse(api)
    upstream = _check_upstream(upstream)
    console = console or Console(stderr=True, highlight=False)
    exchanges: deque[Exchange] = deque(maxlen=keep)
    client = httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False)

    async def forward(request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await _read_body(request)
        except _TooLarge:
            return _plain(
                413,
                f"inpaint-conformance proxy: the request body is over {MAX_UPLOAD_BYTES} bytes, "
                "the most the proxy buffers",
            )
        query = request.url.query
        http = HttpRequest(request.method, str(request.url), list(request.headers.items()), body)
        target = f"{upstream}{request.url.path}" + (f"?{query}" if query else "")
        on_path = api_for_path(http.path) is api
        near_miss = not on_path and near_miss_api(http.url, http.path, http.headers) is api
        exchange = Exchange(api if on_path or near_miss else None, http, None, near_miss=near_miss)
        answer = await _send(client, http, target, exchange)
        exchange.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        if exchange.api is not None:
            # Decoding images and comparing pixels takes CPU time: keep it off the event loop.
            await anyio.to_thread.run_sync(_judge, exchange)
        exchanges.append(exchange)
        _log(console, exchange)
        if recorder is not None:
            recorder.write(
                exchange_record(
                    exchange.api.value if exchange.api else None,
                    http,
                    exchange.response,
                    exchange.request_violations,
                    exchange.response_violations,
                    exchange.error,
                )
            )
        if on_exchange is not None:
            on_exchange(exchange)
        return answer

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = Starlette(routes=[Route("/{path:path}", forward, methods=METHODS)], lifespan=lifespan)
    app.state.exchanges = exchanges
    app.state.api, app.state.upstream = api, upstream
    return app


def _check_upstream(upstream: str) -> str:
    url = httpx.URL(upstream)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"--upstream must be an http(s) URL such as https://www.aithriving.com, got {upstream!r}")
    return upstream.rstrip("/")


async def _read_body(request: Request) -> bytes:
    return await _collect(request.stream(), MAX_UPLOAD_BYTES)


async def _collect(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Read a stream whole, refusing (with _TooLarge) as soon as it passes ``limit`` bytes."""
    kept, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        kept.append(chunk)
    return b"".join(kept)


async def _send(client: httpx.AsyncClient, http: HttpRequest, target: str, exchange: Exchange) -> Response:
    """Forward the request; the answer for the client, with `exchange.response` the upstream's (decoded) answer."""
    headers = [(k, v) for k, v in http.headers.items() if k not in HOP_BY_HOP]
    try:
        upstream_request = client.build_request(http.method, target, headers=headers, content=http.body)
        upstream = await client.send(upstream_request, stream=True)
        try:
            raw = await _read_raw(upstream)
        finally:
            await upstream.aclose()
    except _TooLarge:
        exchange.error = f"the upstream answer is over {MAX_RESPONSE_BYTES} bytes, the most the proxy buffers"
        return _plain(502, f"inpaint-conformance proxy: {exchange.error}")
    except httpx.TimeoutException as exc:
        exchange.error = f"the upstream did not answer in time ({type(exc).__name__})"
        return _plain(504, f"inpaint-conformance proxy: {exchange.error} at {_origin(target)}")
    except httpx.HTTPError as exc:
        exchange.error = f"the upstream is unreachable: {type(exc).__name__}: {exc}"
        return _plain(
            502,
            f"inpaint-conformance proxy: {exchange.error} ({_origin(target)}); "
            "check --upstream and that the server is running",
        )
    passed = [(k, v) for k, v in upstream.headers.multi_items() if k.lower() not in HOP_BY_HOP]
    # The client gets the bytes as they came (still compressed if they were); the judge reads them decoded.
    decoded = httpx.Response(upstream.status_code, headers=upstream.headers, content=raw)
    try:
        body = decoded.read()
    except httpx.DecodingError:
        body = raw
    exchange.response = HttpResponse(upstream.status_code, passed, body)
    response = Response(raw, status_code=upstream.status_code)
    response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in passed]
    response.raw_headers.append((b"content-length", str(len(raw)).encode()))
    return response


async def _read_raw(response: httpx.Response) -> bytes:
    return await _collect(response.aiter_raw(), MAX_RESPONSE_BYTES)


def _judge(exchange: Exchange) -> None:
    api = exchange.api
    assert api is not None, "only exchanges on an API path are judged"
    verdict = validate_request(api, exchange.request)
    exchange.request_violations = list(verdict.violations)
    if exchange.response is not None and not exchange.near_miss:
        exchange.response_violations = list(validate_response(api, verdict, exchange.response).violations)


def _plain(status: int, message: str) -> Response:
    return Response(json.dumps({"detail": message}), status_code=status, media_type="application/json")


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


def _log(console: Console, exchange: Exchange) -> None:
    """One line per exchange: what came back, and which clauses each side broke (no secrets: ids and statuses only)."""
    req = exchange.request
    status = f"{exchange.response.status}" if exchange.response is not None else "no answer"
    head = f"{req.method} {escape(req.path)} → {status} ({exchange.duration_ms:.0f} ms)"
    if exchange.api is None:
        console.print(f"[dim]{head}  not an inpaint request: forwarded, not judged[/]")
        return
    if exchange.near_miss:
        server = "server [dim]not judged (wrong path)[/]"
    else:
        server = (
            _side("server", exchange.response_violations)
            if exchange.response is not None
            else f"[bold red]upstream: {escape(exchange.error or 'no answer')}[/]"
        )
    console.print(f"{head}  {_side('client', exchange.request_violations)}  {server}")


def _side(who: str, violations: list[Violation]) -> str:
    if not violations:
        return f"{who} [green]ok[/]"
    ids = ", ".join(dict.fromkeys(f"{v.clause} [{v.level}]" for v in violations))
    colour = "red" if any(v.level.value == "MUST" for v in violations) else "yellow"
    return f"{who} [{colour}]{escape(ids)}[/]"

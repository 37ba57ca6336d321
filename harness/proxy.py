"""The validating proxy: forward to an upstream, judge both directions, pass the answer back.

A client points its base URL at the proxy; every request is forwarded as it came
(minus hop-by-hop headers) to `{upstream}{path}`, and the upstream's answer goes
back unchanged. On the way, the request is judged by `inpaint_conformance.contracts.validate_request`
and the answer by `inpaint_conformance.contracts.validate_response`, and one line per exchange says
what each side broke. Nothing the proxy judges changes what it forwards: it
observes, it never corrects.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import uvicorn
from rich.console import Console
from rich.markup import escape
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from inpaint_conformance.contracts import (
    Api,
    HttpRequest,
    validate_request,
    validate_response,
)
from inpaint_conformance.contracts.rules import INPUT_FORMATS, MAX_UPLOAD_BYTES, api_for_path, near_miss_api
from inpaint_conformance.fakes.connection_guard import ConnectionLimits, guarded_config
from inpaint_conformance.fakes.memory_budget import MemoryBudget, request_cost, return_freed_memory_promptly

from .proxy_exchange import Exchange
from .proxy_log import log_exchange
from .proxy_upstream import TooLarge, collect, plain, send_upstream
from .recording import Recorder, exchange_record

DEFAULT_TIMEOUT = 300.0  # inpainting on a busy provider takes a while
# The judge decodes the request's images and the answer's: at most this much at once.
DEFAULT_JUDGE_BUDGET = 192 * 1024 * 1024
SHUTDOWN_GRACE_S = 5
_COLLECT_ABOVE = 1024 * 1024
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


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
    memory_budget: MemoryBudget | None = None,
) -> Starlette:
    """The proxy as an ASGI app. `app.state.exchanges` keeps the last `keep` judged exchanges, without bodies.

    ``on_exchange`` sees each exchange whole (bodies included) before it is slimmed.
    ``memory_budget`` bounds the image decoding of the judge: an exchange that cannot get
    its share in time is forwarded unjudged, and says so.
    """
    api = Api.parse(api)
    upstream = _check_upstream(upstream)
    console = console or Console(stderr=True, highlight=False)
    exchanges: deque[Exchange] = deque(maxlen=keep)
    client = httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False)
    budget = memory_budget or MemoryBudget(DEFAULT_JUDGE_BUDGET)
    return_freed_memory_promptly()
    stopping = _Stopping()

    async def forward(request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await _read_body(request)
        except TooLarge:
            return plain(
                413,
                f"inpaint-conformance proxy: the request body is over {MAX_UPLOAD_BYTES} bytes, "
                "the most the proxy buffers",
                close=True,
            )
        except ClientDisconnect:
            console.print(f"[dim]{request.method} {escape(request.url.path)}  the client left during its upload[/]")
            return Response(status_code=400)  # nobody is there to read it
        query = request.url.query
        http = HttpRequest(request.method, str(request.url), list(request.headers.items()), body)
        del body
        # The path as the client wrote it (still percent-encoded), so it is forwarded as it came.
        raw_path = request.scope.get("raw_path") or request.url.path.encode("utf-8")
        target = f"{upstream}{raw_path.decode('latin-1')}" + (f"?{query}" if query else "")
        exchange = _exchange_for(api, http)
        answer = await _send_unless_client_leaves(request, client, http, target, exchange, stopping)
        exchange.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        if exchange.client_left:
            log_exchange(console, exchange)
            del http
            gc.collect()  # the cancelled upstream call's objects hold the body in cycles (see below)
            return Response(status_code=499)  # nobody is there to read it
        if exchange.api is not None:
            cost = request_cost(http.headers.get("content-type", ""), http.body, INPUT_FORMATS[exchange.api])
            # Decoding images and comparing pixels takes CPU time: keep it off the event loop.
            await anyio.to_thread.run_sync(_judge_within, budget, 2 * cost, exchange)
        log_exchange(console, exchange)
        if recorder is not None:
            record = exchange_record(
                exchange.api.value if exchange.api else None,
                http,
                exchange.response,
                exchange.request_violations,
                exchange.response_violations,
                exchange.error,
            )
            await anyio.to_thread.run_sync(recorder.write, record)
        if on_exchange is not None:
            on_exchange(exchange)
        exchanges.append(exchange.without_bodies())
        assert answer is not None  # None only when the client left, answered above
        if len(http.body) + len(exchange.response.body if exchange.response else b"") > _COLLECT_ABOVE:
            # httpx's request and response objects hold the bodies in reference cycles, freed
            # only by the cyclic GC, which big bytes do not prompt: a few uploads piled up 100s of MB.
            gc.collect()
        return answer

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = Starlette(routes=[Route("/{path:path}", forward, methods=METHODS)], lifespan=lifespan)
    app.state.exchanges = exchanges
    app.state.api, app.state.upstream = api, upstream
    app.state.stopping = stopping  # set by ProxyServer when it shuts down
    return app


class _Stopping:
    """Set once the server shuts down: exchanges in flight stop waiting for the upstream."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self.is_set = False

    def event(self) -> asyncio.Event:
        if self._event is None:  # made in the running loop
            self._event = asyncio.Event()
            if self.is_set:
                self._event.set()
        return self._event

    def set(self) -> None:
        self.is_set = True
        if self._event is not None:
            self._event.set()


class ProxyServer(uvicorn.Server):
    """uvicorn for the proxy: on shutdown, exchanges still waiting for the upstream are answered 503 at once."""

    def __init__(self, config: uvicorn.Config, app) -> None:
        super().__init__(config)
        self.proxy_app = app

    async def shutdown(self, sockets=None) -> None:
        self.proxy_app.state.stopping.set()
        await super().shutdown(sockets=sockets)


def proxy_server_config(app, host: str, port: int, limits: ConnectionLimits | None = None) -> uvicorn.Config:
    """How `proxy` runs ``app``: the connection guard, and no Date/Server of its own (the upstream's pass)."""
    return guarded_config(
        app,
        limits,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        # The upstream's Date and Server headers go through; uvicorn adding its own would send both twice.
        date_header=False,
        server_header=False,
        # SIGTERM: in-flight exchanges get this long, then they are cancelled (upstream calls included).
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


def _exchange_for(api: Api, http: HttpRequest) -> Exchange:
    """Which API judges this request: the proxy's, on its path or a near miss; else nobody (and why)."""
    on_path = api_for_path(http.path)
    near_miss = on_path is None and near_miss_api(http.url, http.path, http.headers) is api
    judged = api if on_path is api or near_miss else None
    other = on_path if on_path is not None and on_path is not api else None
    return Exchange(judged, http, None, near_miss=near_miss, other_api=other)


def _check_upstream(upstream: str) -> str:
    url = httpx.URL(upstream)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"--upstream must be an http(s) URL such as https://www.aithriving.com, got {upstream!r}")
    return upstream.rstrip("/")


async def _read_body(request: Request) -> bytes:
    return await collect(request.stream(), MAX_UPLOAD_BYTES)


async def _send_unless_client_leaves(
    request: Request, client: httpx.AsyncClient, http: HttpRequest, target: str, exchange: Exchange, stopping
) -> Response | None:
    """`_send`, cancelled (the upstream connection closed) as soon as the client disconnects,
    or answered 503 when the proxy shuts down.

    Plain asyncio tasks whose frames hold no body: a cancelled task's traceback keeps its
    frames alive until the cyclic GC runs, and a 15 MB body held that way per exchange
    grew the proxy by 30 MB an upload.
    """
    sending = asyncio.ensure_future(send_upstream(client, http, target, exchange))
    gone = asyncio.ensure_future(_client_gone(request.receive))
    stop = asyncio.ensure_future(stopping.event().wait())
    try:
        await asyncio.wait((sending, gone, stop), return_when=asyncio.FIRST_COMPLETED)
        client_left, stopped = gone.done(), stop.done()
    finally:
        for task in (gone, stop, sending):
            if not task.done():
                task.cancel()
    if sending.done() and not sending.cancelled():
        return sending.result()
    await asyncio.wait((sending,))  # let the cancelled call close its upstream connection
    if client_left and not stopped:
        exchange.client_left = True
        return None
    exchange.error = "the proxy shut down before the upstream answered"
    return plain(503, f"inpaint-conformance proxy: {exchange.error}", close=True)


async def _client_gone(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _judge_within(budget: MemoryBudget, cost: int, exchange: Exchange) -> None:
    with budget.admit(cost) as admission:
        if not admission.admitted:
            exchange.unjudged = "too many large images were being judged at once (the proxy's memory budget)"
            return
        try:
            _judge(exchange)
        except Exception as exc:  # a bug in the judge must not cost the client its answer
            exchange.unjudged = f"the judge failed: {type(exc).__name__}: {exc}"


def _judge(exchange: Exchange) -> None:
    api = exchange.api
    assert api is not None, "only exchanges on an API path are judged"
    verdict = validate_request(api, exchange.request)
    exchange.request_violations = list(verdict.violations)
    if exchange.response is not None and not exchange.near_miss:
        exchange.response_violations = list(validate_response(api, verdict, exchange.response).violations)

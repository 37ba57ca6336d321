"""The server door: a FastAPI app serving both APIs from one FakeProvider.

The two inpaint paths are raw ASGI endpoints so the fake can read the body with a
size limit, wait, drop the connection or send half a body when a fault says so;
everything they answer comes from `FakeProvider.handle`, run in a worker thread so
the event loop never blocks on image work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import anyio
from fastapi import FastAPI
from starlette.routing import Route

from inpaint_conformance.contracts import Api, Headers, HttpRequest, HttpResponse
from inpaint_conformance.contracts.rules import MAX_UPLOAD_BYTES, PATHS, near_miss_api

from .memory_budget import return_freed_memory_promptly
from .provider import Answer, FakeProvider

# Inpaint requests worked on at once (most wait for the memory budget, which bounds the work).
IMAGE_THREADS = 64
# How long a refused oversized body is still read (and dropped) so its client sees the 413.
DRAIN_SECONDS = 5.0


class _BodyTooLarge(Exception):
    pass


async def _read_body(receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def to_http_request(scope, body: bytes) -> HttpRequest:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    host = dict(headers).get("host", "localhost")
    query = scope.get("query_string", b"").decode("latin-1")
    url = f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{scope['path']}" + (
        f"?{query}" if query else ""
    )
    return HttpRequest(scope["method"], url, headers, body)


class InjectedDisconnect(Exception):
    """Raised by the app to make the server close the connection without a byte of answer."""


class _HideInjectedDisconnects(logging.Filter):
    """An injected drop is the fault working, not a server error: keep it out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDisconnect))


logging.getLogger("uvicorn.error").addFilter(_HideInjectedDisconnects())


async def _close_without_answer(send, why: str) -> None:
    # ASGI has no "close the socket" message, and an app that raises before starting
    # its response gets a 500 from uvicorn, which is an answer. uvicorn marks the
    # response started before it checks header values and closes the connection of
    # a started response when the app raises: an invalid header value therefore ends
    # the connection with nothing written (tests/test_fake_faults.py checks this).
    with contextlib.suppress(Exception):
        await send({"type": "http.response.start", "status": 500, "headers": [(b"x-fault", b"drop\r\n")]})
    raise InjectedDisconnect(f"fault: {why}")


async def send_answer(send, answer: Answer) -> None:
    if answer.delay:
        await asyncio.sleep(answer.delay)
    if answer.transport in ("drop", "timeout"):
        await _close_without_answer(send, answer.transport)
    response = answer.response
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items() if k != "content-length"]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _drain(receive, limit: int, seconds: float) -> None:
    """Read and drop what is left of a refused body, up to ``limit`` bytes or ``seconds``.

    A client still sending when the connection closes gets a reset instead of the 413;
    one that sends far more, or for ever, is cut off (the 413 closes the connection).
    """
    with anyio.move_on_after(seconds):
        dropped = 0
        while dropped <= limit:
            message = await receive()
            dropped += len(message.get("body", b""))
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                return


class HandlerSlots:
    """The worker threads of one app's inpaint endpoints: their own pool, so requests waiting for
    the memory budget never hold up the /__fake__/ routes (which use anyio's default pool).

    Its size is the engine's `max_concurrency` where it declares one (the fake engine: one per
    core, as more threads only contend for the same cores), else IMAGE_THREADS, most of which
    wait for the memory budget, which bounds the work.
    """

    def __init__(self, provider: FakeProvider) -> None:
        self.size: int = getattr(provider.engine, "max_concurrency", None) or IMAGE_THREADS
        self._limiter: anyio.CapacityLimiter | None = None

    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # made on first use: it belongs to the running event loop
            self._limiter = anyio.CapacityLimiter(self.size)
        return self._limiter


class InpaintEndpoint:
    """Raw ASGI endpoint for one API (a class, so Starlette passes every method through)."""

    def __init__(self, provider: FakeProvider, api: Api, slots: HandlerSlots | None = None) -> None:
        self.provider, self.api = provider, api
        self.slots = slots or HandlerSlots(provider)

    async def __call__(self, scope, receive, send) -> None:
        try:
            body = await _read_body(receive, MAX_UPLOAD_BYTES)
        except _BodyTooLarge:
            # B2: refuse without keeping the rest; the shape of the refusal is the provider's,
            # and the connection closes after it (the rest of the body is not read for ever).
            await _drain(receive, MAX_UPLOAD_BYTES, DRAIN_SECONDS)
            answer = self.provider.refuse_too_large(self.api, to_http_request(scope, b""))
            response = answer.response
            answer.response = HttpResponse(
                response.status, Headers({**response.headers, "connection": "close"}), response.body
            )
            await send_answer(send, answer)
            return
        except ConnectionResetError:
            return
        request = to_http_request(scope, body)
        del body
        answer = await anyio.to_thread.run_sync(self.provider.handle, request, limiter=self.slots.limiter())
        await send_answer(send, answer)


def create_app(
    provider: FakeProvider | None = None, *, admin_token: str | None = None, loopback_only: bool = True
) -> FastAPI:
    """The fake as an ASGI app. `provider` is its state: keep a reference to inspect it."""
    provider = provider or FakeProvider()
    return_freed_memory_promptly()
    app = FastAPI(title="inpaint-conformance fake provider", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.provider = provider
    slots = HandlerSlots(provider)
    for api, path in PATHS.items():
        # The path with a trailing slash is answered too, not redirected: the request's
        # verdict notes the slash (transport.post, not refused), so verdict and answer agree.
        for route in (path, path + "/"):
            app.router.routes.append(Route(route, endpoint=InpaintEndpoint(provider, api, slots), methods=None))
    from .inspection import install_inspection

    install_inspection(app, provider, admin_token=admin_token, loopback_only=loopback_only)
    _journal_near_misses(app, provider, slots)
    return app


def _journal_near_misses(app: FastAPI, provider: FakeProvider, slots: HandlerSlots) -> None:
    """Requests no route matched go to the provider when they look like an inpaint call to a
    wrong path (`/api/edit/inpainting`): it answers 404 naming the endpoint and journals them,
    so check-client sees the mistake. Anything else gets the router's own 404."""
    not_found = app.router.default

    async def default(scope, receive, send) -> None:
        if scope["type"] == "http":
            probe = to_http_request(scope, b"")
            api = near_miss_api(probe.url, probe.path, probe.headers)
            if api is not None:
                await InpaintEndpoint(provider, api, slots)(scope, receive, send)
                return
        await not_found(scope, receive, send)

    app.router.default = default


__all__ = ["create_app", "to_http_request", "send_answer", "HttpResponse"]

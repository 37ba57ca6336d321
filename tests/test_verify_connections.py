"""A dropped kept-alive connection after a server error is never blamed on the next probe.

uvicorn answers an unhandled exception with a 500 (Starlette's error middleware) and then
closes the connection, without a `Connection: close` header. A client that reuses the
pooled connection sometimes writes its next request into the closing socket and gets no
answer: a false "no answer" against an innocent probe. The target dials a fresh
connection after any 5xx (or `Connection: close`, or no answer), and never resends a
request that got no answer: a POST may have been processed and charged.
"""

from __future__ import annotations

import logging
import socket
import threading

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from inpaint_conformance.contracts import Api
from inpaint_conformance.fakes.server import serving
from inpaint_conformance.harness.target import RemoteTarget

ROUNDS = 200  # without the fresh connection about one round in ten lost its answer here


def _app() -> Starlette:
    async def crash(request: Request):
        await request.body()
        raise RuntimeError("an unhandled bug: uvicorn answers 500 and closes the connection")

    async def serve(request: Request):
        await request.body()
        client = request.client
        return JSONResponse({"port": client.port if client else None}, headers=_asked_headers(request))

    async def error(request: Request):
        await request.body()
        return JSONResponse({"error": "handled"}, status_code=503)  # the connection stays open

    def _asked_headers(request: Request) -> dict[str, str]:
        return {"connection": "close"} if request.query_params.get("close") else {}

    routes = [Route(f"/{name}", handler, methods=["POST"]) for name, handler in (("crash", crash), ("serve", serve))]
    return Starlette(routes=[*routes, Route("/error", error, methods=["POST"])])


@pytest.fixture(scope="module")
def server():
    logging.getLogger("uvicorn.error").disabled = True  # the crash's traceback is the point, not news
    try:
        with serving(_app()) as running:
            yield running
    finally:
        logging.getLogger("uvicorn.error").disabled = False


def target_for(url: str) -> RemoteTarget:
    return RemoteTarget(url, {Api.AITHRIVING: {"main": "k"}}, credits_url=None, timeout=10)


def post(target: RemoteTarget, url: str) -> httpx.Response:
    return target.send(httpx.Request("POST", url, content=b"x" * 2048))


def test_the_request_after_a_500_always_gets_its_answer(server):
    target = target_for(server.url)
    lost = []
    for n in range(ROUNDS):
        assert post(target, server.url + "/crash").status_code == 500
        try:
            assert post(target, server.url + "/serve").status_code == 200
        except httpx.TransportError as exc:
            lost.append(f"round {n}: {exc!r}")
    target.close()
    assert lost == []


def test_a_fresh_connection_only_after_a_server_error_or_connection_close(server):
    target = target_for(server.url)
    port = lambda query="": post(target, server.url + "/serve" + query).json()["port"]  # noqa: E731
    first = port()
    assert port() == first  # kept alive between answers that are fine: no needless dialling
    assert post(target, server.url + "/error").status_code == 503  # a 5xx on a connection left open
    after_error = port()
    assert after_error != first
    closing = port("?close=1")
    assert closing == after_error  # the answer that says close came on the kept connection...
    assert port() != closing  # ...and the next request dials anew
    target.close()


def test_a_request_without_an_answer_is_reported_not_resent():
    """A server that reads the request and hangs up: one request arrived, the error comes back."""
    received = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def hang_up() -> None:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                received.append(connection.recv(65536))

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    target = target_for(url)
    with pytest.raises(httpx.TransportError):
        post(target, url + "/inpaint")
    target.close()
    done.set()
    thread.join(timeout=10)
    listener.close()
    assert len(received) == 1 and received[0].startswith(b"POST /inpaint")

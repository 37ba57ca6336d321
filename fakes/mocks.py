"""In-process mocks of both providers for httpx (respx) and requests (responses).

Both answer from the same `FakeProvider.handle` as the server, so a test sees the
server's behaviour without a socket. They intercept the real provider hosts
(contracts.rules.PROVIDER_HOSTS, http and https, any port) and any extra base URLs
given, so the code under test needs no URL change:

    with mock_providers() as fake:          # the same object the `inpaint_fake` fixture gives
        requests.post("https://www.aithriving.com/api/edit/inpaint", headers={"authorization": fake.key}, ...)
        assert fake.balance() == 6000 - 6    # fake.key is TEST_KEY, "test-key", with 6000 credits
        fake.inject("timeout")               # the next request times out, the one after succeeds
        fake.assert_client_conformant()

    @mock_providers()                        # or as a decorator (sync or async)
    def test_client(): ...

Other hosts: loopback (127.0.0.1, localhost, ::1) passes through, so a live fake
server works beside the mocks; anything else fails the library's own way (respx:
AllMockedAssertionError, responses: ConnectionError), so a test never reaches the
network by accident. Transport faults become the exceptions a real socket gives:
"timeout" raises ReadTimeout at once (no 30 s wait), "drop" raises
httpx.RemoteProtocolError / requests ConnectionError. Latency is slept, capped at
``max_delay`` seconds; a latency longer than the client's read timeout raises
ReadTimeout at once, as the real client would after waiting.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import re
import time
from collections.abc import Iterable
from http.client import RemoteDisconnected

import anyio
import httpx
import requests
import responses
import respx

from inpaint_conformance.contracts import HttpRequest
from inpaint_conformance.contracts.rules import MAX_UPLOAD_BYTES, PROVIDER_HOSTS, api_for_path

from .provider import Answer, FakeProvider
from .testing import TEST_KEY, InpaintFake, default_provider

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_MAX_DELAY = 1.0
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_IN_ASYNC = contextvars.ContextVar("inpaint_fakes_async", default=False)


class FaultTimeout(Exception):
    """Internal: the answer never comes (converted to each library's ReadTimeout)."""


class FaultDrop(Exception):
    """Internal: the connection closes without an answer."""


class _Door:
    """The library-neutral part: run a request through the provider and honour faults."""

    def __init__(self, provider: FakeProvider, max_delay: float) -> None:
        self.provider, self.max_delay = provider, max_delay

    def answer(self, request: HttpRequest) -> Answer:
        api = api_for_path(request.path)
        if api is not None and len(request.body) > MAX_UPLOAD_BYTES:
            # The server stops reading at the limit; the mock refuses the same way (B2).
            return self.provider.refuse_too_large(api, HttpRequest(request.method, request.url, request.headers, b""))
        return self.provider.handle(request)

    def wait(self, answer: Answer, read_timeout: float | None) -> float:
        """Seconds to sleep before answering; raises for answers that never come."""
        if answer.transport == "timeout":
            raise FaultTimeout("injected fault: the fake never answered (timeout)")
        if answer.delay and read_timeout is not None and answer.delay > read_timeout:
            raise FaultTimeout(
                f"injected latency of {answer.delay:g} s is over the client's read timeout of {read_timeout:g} s"
            )
        return min(answer.delay, self.max_delay)

    @staticmethod
    def check_drop(answer: Answer) -> None:
        if answer.transport == "drop":
            raise FaultDrop("injected fault: the fake closed the connection without an answer")


# -- httpx through respx -------------------------------------------------------------
class _Router(respx.MockRouter):
    """Marks the async path, so the side effect can await instead of blocking the loop."""

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        token = _IN_ASYNC.set(True)
        try:
            return await super().async_handler(request)
        finally:
            _IN_ASYNC.reset(token)


def _httpx_timeout(request: httpx.Request) -> float | None:
    return (request.extensions.get("timeout") or {}).get("read")


def _to_httpx(request: httpx.Request, answer: Answer) -> httpx.Response:
    response = answer.response
    return httpx.Response(
        response.status, headers=list(response.headers.items()), content=response.body, request=request
    )


def _httpx_error(request: httpx.Request, error: Exception) -> Exception:
    if isinstance(error, FaultTimeout):
        return httpx.ReadTimeout(str(error), request=request)
    return httpx.RemoteProtocolError(str(error), request=request)


class _HttpxDoor(_Door):
    def side_effect(self, request: httpx.Request):
        if _IN_ASYNC.get():
            return self._answer_async(request)
        exchange = HttpRequest(request.method, str(request.url), request.headers.multi_items(), request.read())
        answer = self.answer(exchange)
        try:
            delay = self.wait(answer, _httpx_timeout(request))
            if delay:
                time.sleep(delay)
            self.check_drop(answer)
        except (FaultTimeout, FaultDrop) as error:
            raise _httpx_error(request, error) from None
        return _to_httpx(request, answer)

    async def _answer_async(self, request: httpx.Request) -> httpx.Response:
        exchange = HttpRequest(request.method, str(request.url), request.headers.multi_items(), await request.aread())
        # Image work runs in a thread, as in the server, so concurrent async requests overlap.
        answer = await anyio.to_thread.run_sync(self.answer, exchange)
        try:
            delay = self.wait(answer, _httpx_timeout(request))
            if delay:
                await anyio.sleep(delay)
            self.check_drop(answer)
        except (FaultTimeout, FaultDrop) as error:
            raise _httpx_error(request, error) from None
        return _to_httpx(request, answer)


def _respx_router(door: _HttpxDoor, base_urls: Iterable[str], pass_through: Iterable[str]) -> respx.MockRouter:
    router = _Router(assert_all_called=False, assert_all_mocked=True)
    router.route(host__in=tuple(PROVIDER_HOSTS.values())).mock(side_effect=door.side_effect)
    for base in base_urls:
        router.route(url__startswith=base.rstrip("/")).mock(side_effect=door.side_effect)
    hosts = tuple(pass_through)
    if hosts:
        router.route(host__in=hosts).pass_through()
    return router


# -- requests through responses ------------------------------------------------------
def _requests_timeout(request: requests.PreparedRequest) -> float | None:
    timeout = getattr(request, "req_kwargs", {}).get("timeout")
    if isinstance(timeout, tuple):
        timeout = timeout[1] if len(timeout) > 1 else timeout[0]
    timeout = getattr(timeout, "read_timeout", timeout)  # urllib3.Timeout
    return float(timeout) if isinstance(timeout, (int, float)) else None


def _requests_body(body: object) -> bytes:
    """The body requests will send, whatever shape it was given in (read with the upload limit)."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return body.read(MAX_UPLOAD_BYTES + 1)
    if not isinstance(body, Iterable):
        raise TypeError(f"requests cannot send a {type(body).__name__} body")
    chunks, size = [], 0
    for chunk in body:  # a generator: streamed upload
        chunk = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            break
    return b"".join(chunks)


class _RequestsDoor(_Door):
    def callback(self, request: requests.PreparedRequest):
        exchange = HttpRequest(
            request.method or "GET", request.url or "", list(request.headers.items()), _requests_body(request.body)
        )
        answer = self.answer(exchange)
        try:
            delay = self.wait(answer, _requests_timeout(request))
            if delay:
                time.sleep(delay)
            self.check_drop(answer)
        except FaultTimeout as error:
            raise requests.exceptions.ReadTimeout(str(error), request=request) from None
        except FaultDrop as error:
            reason = RemoteDisconnected(str(error))
            raise requests.exceptions.ConnectionError(("Connection aborted.", reason), request=request) from None
        response = answer.response
        return response.status, dict(response.headers.items()), response.body


def _responses_mock(
    door: _RequestsDoor, base_urls: Iterable[str], pass_through: Iterable[str]
) -> responses.RequestsMock:
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    patterns = [re.compile(rf"https?://{re.escape(host)}(:\d+)?(/|\?|$)") for host in PROVIDER_HOSTS.values()]
    patterns += [re.compile(re.escape(base.rstrip("/")) + r"(/|\?|$)") for base in base_urls]
    for pattern in patterns:
        for method in _METHODS:
            mock.add_callback(method, pattern, callback=door.callback, content_type=None)
    for host in pass_through:
        shown = f"[{host}]" if ":" in host else re.escape(host)
        mock.add_passthru(re.compile(rf"https?://{shown}(:\d+)?(/|\?|$)"))
    return mock


# -- the public face -----------------------------------------------------------------
class ProviderMock(contextlib.ContextDecorator):
    """Both mocks at once, as a context manager (yields an `InpaintFake`) or a decorator.

    provider: the state to answer from (default: a fresh fake with key TEST_KEY, "test-key",
    holding 6000 credits). key: the key the yielded object's ``.key`` and ``.balance()`` name.
    base_urls: more base URLs to answer for (e.g. "http://fake.test"), besides the provider hosts.
    httpx / requests: which libraries to mock. max_delay: cap on slept latency, seconds.
    pass_through: hosts left unmocked (default loopback, so a live fake still works).
    """

    def __init__(
        self,
        provider: FakeProvider | None = None,
        *,
        key: str = TEST_KEY,
        base_urls: Iterable[str] = (),
        httpx: bool = True,
        requests: bool = True,
        max_delay: float = DEFAULT_MAX_DELAY,
        pass_through: Iterable[str] = LOOPBACK_HOSTS,
    ) -> None:
        self.provider = provider or default_provider()
        self.key = key
        self.base_urls, self.pass_through = tuple(base_urls), tuple(pass_through)
        self.mock_httpx, self.mock_requests, self.max_delay = httpx, requests, max_delay
        self._stack: list[contextlib.ExitStack] = []

    def __enter__(self) -> InpaintFake:
        stack = contextlib.ExitStack()
        if self.mock_httpx:
            stack.enter_context(
                _respx_router(_HttpxDoor(self.provider, self.max_delay), self.base_urls, self.pass_through)
            )
        if self.mock_requests:
            stack.enter_context(
                _responses_mock(_RequestsDoor(self.provider, self.max_delay), self.base_urls, self.pass_through)
            )
        self._stack.append(stack)
        return InpaintFake(self.provider, self.key)

    def __exit__(self, *exc_info) -> None:
        self._stack.pop().close()

    def __call__(self, func):
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def wrapper(*args, **kwargs):
                with self:
                    return await func(*args, **kwargs)

            return wrapper
        return super().__call__(func)


def mock_providers(provider: FakeProvider | None = None, **options) -> ProviderMock:
    """Mock both provider hosts for httpx and requests; see ProviderMock for the options."""
    return ProviderMock(provider, **options)


__all__ = ["LOOPBACK_HOSTS", "InpaintFake", "ProviderMock", "TEST_KEY", "default_provider", "mock_providers"]

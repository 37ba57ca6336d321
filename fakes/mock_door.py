"""What every in-process mock door shares (fakes/mocks.py: httpx, requests; fakes/mocks_aiohttp.py):
run a request through the provider and turn its transport faults into a wait or an exception."""

from __future__ import annotations

from inpaint_conformance.contracts import HttpRequest
from inpaint_conformance.contracts.rules import MAX_UPLOAD_BYTES, api_for_path

from .provider import Answer, FakeProvider

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


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

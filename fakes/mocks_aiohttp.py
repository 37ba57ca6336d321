"""The in-process mock for aiohttp clients, through aioresponses (the `aiohttp` extra).

aioresponses answers `ClientSession` requests before anything is encoded, so the body the
fake judges is made here the way aiohttp makes it: FormData (multipart or urlencoded),
bytes, text or `json=` become aiohttp's own payload, read with `Payload.as_bytes()`, and
its Content-Type (with the multipart boundary) is sent unless the caller set one. The
answer comes from the same `FakeProvider.handle` as httpx's and requests' (mocks.py), so
the journal, faults and credits are shared. Faults become aiohttp's own exceptions:
"timeout" raises ServerTimeoutError (an asyncio.TimeoutError), "drop" ServerDisconnectedError.
"""

from __future__ import annotations

import contextlib
import functools
import re
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
from aiohttp import hdrs, payload
from aioresponses import CallbackResult, aioresponses
from multidict import CIMultiDict
from yarl import URL

from inpaint_conformance.contracts import HttpRequest
from inpaint_conformance.contracts.rules import PROVIDER_HOSTS

from .mock_door import _METHODS, FaultDrop, FaultTimeout, _Door


class AiohttpDoor(_Door):
    async def callback(self, method: str, url: URL, **kwargs: Any) -> CallbackResult:
        headers = CIMultiDict(kwargs.get("headers") or {})
        body = await _body(kwargs, headers)
        auth = kwargs.get("auth")
        if isinstance(auth, aiohttp.BasicAuth) and hdrs.AUTHORIZATION not in headers:
            headers[hdrs.AUTHORIZATION] = auth.encode()
        exchange = HttpRequest(method, str(url), list(headers.items()), body)
        # Image work runs in a thread, as in the server, so concurrent requests overlap.
        answer = await anyio.to_thread.run_sync(self.answer, exchange)
        try:
            delay = self.wait(answer, _read_timeout(kwargs.get("timeout")))
            if delay:
                await anyio.sleep(delay)
            self.check_drop(answer)
        except FaultTimeout as error:
            raise aiohttp.ServerTimeoutError(str(error)) from None
        except FaultDrop as error:
            raise aiohttp.ServerDisconnectedError(str(error)) from None
        response = answer.response
        answered = CIMultiDict(response.headers.items())
        # aioresponses always sends a Content-Type; an answer without one gets an empty one.
        content_type = answered.pop(hdrs.CONTENT_TYPE, "")
        return CallbackResult(
            status=response.status,
            body=response.body,
            headers=dict(answered),  # aioresponses takes a dict: one value per name
            content_type=content_type,
            response_class=_Response,
        )


class _Response(aiohttp.ClientResponse):
    """aioresponses (0.7.9) builds responses without the `stream_writer` aiohttp 3.14 requires; give it one."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", types.SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


async def _body(kwargs: dict[str, Any], headers: CIMultiDict) -> bytes:
    """What aiohttp would send for these request arguments; sets the payload's Content-Type when not given."""
    data, json_body = kwargs.get("data"), kwargs.get("json")
    if json_body is not None:
        body: payload.Payload = payload.JsonPayload(json_body)
    elif data is None:
        return b""
    elif isinstance(data, aiohttp.FormData):
        body = data()
    elif isinstance(data, (dict, list, tuple)):
        body = aiohttp.FormData(data)()
    elif isinstance(data, payload.Payload):
        body = data
    else:
        body = payload.get_payload(data)  # bytes, text, a file object
    if hdrs.CONTENT_TYPE not in headers and body.content_type:
        headers[hdrs.CONTENT_TYPE] = body.content_type
    return await body.as_bytes()


def _read_timeout(timeout: object) -> float | None:
    if isinstance(timeout, aiohttp.ClientTimeout):
        return timeout.sock_read or timeout.total
    return float(timeout) if isinstance(timeout, (int, float)) else None


@dataclass
class _Layer:
    door: AiohttpDoor
    patterns: list[re.Pattern[str]]
    pass_through: list[str]  # URL prefixes left to the network


# aioresponses patches ClientSession._request with autospec, which cannot be done twice: nested
# mocks (a `mock_providers()` inside the `inpaint_fake` fixture) share one patch, and each
# request goes to the innermost mock whose hosts it names.
_LAYERS: list[_Layer] = []
_PASS_THROUGH: list[str] = []  # the list the shared aioresponses reads at each request: the innermost's
_shared: list[aioresponses] = []


@contextlib.contextmanager
def aiohttp_mock(door: AiohttpDoor, base_urls: Iterable[str], pass_through: Iterable[str]) -> Iterator[None]:
    prefixes = [
        f"{scheme}://{f'[{host}]' if ':' in host else host}{end}"
        for host in pass_through
        for scheme in ("http", "https")
        for end in (":", "/")
    ]
    patterns = [re.compile(rf"https?://{re.escape(host)}(:\d+)?(/|\?|$)") for host in PROVIDER_HOSTS.values()]
    patterns += [re.compile(re.escape(base.rstrip("/")) + r"(/|\?|$)") for base in base_urls]
    layer = _Layer(door, patterns, prefixes)
    if not _LAYERS:
        mock = aioresponses(passthrough=_PASS_THROUGH)
        mock.start()  # starting it clears its routes: they are added after
        for method in _METHODS:
            mock.add(re.compile(".*"), method=method, callback=functools.partial(_dispatch, method), repeat=True)
        _shared.append(mock)
    _LAYERS.append(layer)
    _PASS_THROUGH[:] = prefixes
    try:
        yield
    finally:
        _LAYERS.remove(layer)
        if _LAYERS:
            _PASS_THROUGH[:] = _LAYERS[-1].pass_through
        else:
            _PASS_THROUGH.clear()
            _shared.pop().stop()


async def _dispatch(method: str, url: URL, **kwargs: Any) -> CallbackResult:
    for layer in reversed(_LAYERS):
        if any(pattern.match(str(url)) for pattern in layer.patterns):
            return await layer.door.callback(method, url, **kwargs)
    # Never the network by accident: aiohttp's own error for a host nobody answers.
    raise aiohttp.ClientConnectionError(f"Connection refused: {method} {url} (not a host the inpaint mocks answer)")


__all__ = ["AiohttpDoor", "aiohttp_mock"]

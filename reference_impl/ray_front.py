"""The front door of the Ray app: HTTP in, one ingress replica per request, and what a lost replica costs.

Serve's proxy hands every HTTP request to the front door (one replica, on the head
node, beside the proxy). The front door reads the request, gives it a request id and
forwards it to one of the N ingress replicas, which run the whole HTTP layer of
`serve` (fakes.app over a FakeProvider: validation, image work, ledger, journal,
faults) and send back the ASGI messages of their answer; the front door replays them.

Why a door at all: a node can die with an ingress replica on it while that replica
holds requests. Serve's proxy would answer those callers a plain-text 500 (not the
API's documented failure), and a replica that charged a success and died before its
answer left would have charged for nothing. The front door outlives the replicas
(the head node is the one Ray cannot lose), so it decides:

- each charge a replica makes is recorded under the request id (`RequestChargingLedger`),
- when the replica is lost, the door voids the request id in the shared store
  (the charge comes back; a charge the replica tries later is refused),
- then it sends the request to another replica (`attempts` in all) and, if none
  answers, answers the API's documented failure (500, in the API's shape) itself.

So a caller is charged exactly for the success it received. Voiding needs a store the
door can reach: the PostgreSQL store. On SQLite or in memory there is one ingress
replica whose store lives with it; the door then answers the failure without a retry.
Nothing here imports Ray: the tests drive it with stand-ins.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.envelopes import ait_failure, vyro_error
from inpaint_conformance.contracts.rules import MAX_UPLOAD_BYTES, api_for_path
from inpaint_conformance.fakes.app import InjectedDisconnect
from inpaint_conformance.fakes.ledger import SqlLedger

log = logging.getLogger("inpaint_conformance.ray")

# The parts of an ASGI scope an ingress replica needs (the rest is the door's own server's).
INGRESS_HEADER = "x-inpaint-ingress"  # extra headers are free (B6): which ingress replica answered
SCOPE_KEYS = ("type", "http_version", "method", "scheme", "path", "raw_path", "root_path", "query_string", "headers")
LOST_MESSAGE = "the server lost this request (an ingress replica went away); nothing was charged: send it again"


@dataclass
class ForwardedRequest:
    """One HTTP request as the door forwards it: picklable, the body already read."""

    scope: dict
    body: bytes
    request_id: str


@dataclass
class ForwardedAnswer:
    """The ASGI messages an ingress replica's app sent, and whether it then dropped the connection."""

    messages: list[dict] = field(default_factory=list)
    disconnect: str | None = None  # the reason, when the app closed the connection without an answer
    error: str | None = None  # the app raised something else


# -- the ingress replica's side ------------------------------------------------------------
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("forwarded_request_id", default=None)


class RequestChargingLedger(SqlLedger):
    """The shared ledger, charging under the forwarded request's id so the door can void it."""

    def try_charge(self, key: str, amount: int) -> int | None:
        request_id = _request_id.get()
        if request_id is None:  # not a forwarded request (a test, a tool): an ordinary charge
            return super().try_charge(key, amount)
        return self.charge_for_request(request_id, key, amount)


async def run_forwarded(app: Any, request: ForwardedRequest, replica: str = "") -> ForwardedAnswer:
    """Run ``app`` (ASGI) on a forwarded request; what it sent, for the door to replay.

    ``replica``: this ingress replica's id, named in the answer's `x-inpaint-ingress` header.
    """
    answer = ForwardedAnswer()
    delivered = False
    never = asyncio.Event()

    async def receive() -> dict:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await never.wait()  # the caller stays connected (the door holds it) until the answer is sent
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start" and replica:
            message = {**message, "headers": [*message.get("headers", []), (INGRESS_HEADER.encode(), replica.encode())]}
        answer.messages.append(message)

    token = _request_id.set(request.request_id)
    try:
        await app({**request.scope, "asgi": {"version": "3.0"}}, receive, send)
    except InjectedDisconnect as exc:
        answer.disconnect = str(exc)
    except Exception as exc:  # the app's own 500 (if it sent one) is in the messages
        answer.error = f"{type(exc).__name__}: {exc}"
    finally:
        _request_id.reset(token)
    return answer


# -- the door ------------------------------------------------------------------------------
class _TooLarge(Exception):
    pass


async def _read_body(receive, limit: int) -> bytes:
    """The body, or its first limit + 1 bytes (the ingress refuses an oversized upload by itself)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client went away")
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit or not message.get("more_body", False):
            return b"".join(chunks)[: limit + 1]


def lost_answer(path: str, message: str = LOST_MESSAGE) -> list[dict]:
    """The API's documented failure (500; AIThriving: the failure envelope), or a 503 elsewhere."""
    api = api_for_path(path)
    if api is Api.AITHRIVING:
        status, body = 500, ait_failure(message)
    elif api is Api.VYRO:
        status, body = 500, vyro_error(500, message)
    else:
        status, body = 503, ('{"detail": "' + message + '"}').encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


class FrontDoor:
    """The door's ASGI app. ``forward(request)`` awaits one ingress replica's answer.

    ``lost``: the exception types meaning the replica went away (Ray's RayActorError);
    ``void(request_id)``: gives back what that request was charged (None: no shared store,
    so no retry); ``timeout_s``: longest wait for one replica's answer.
    """

    def __init__(
        self,
        forward: Callable[[ForwardedRequest], Awaitable[ForwardedAnswer]],
        *,
        lost: tuple[type[BaseException], ...],
        void: Callable[[str], int] | None,
        timeout_s: float,
        attempts: int = 3,
    ) -> None:
        self.forward, self.lost, self.void = forward, lost, void
        self.timeout_s, self.attempts = timeout_s, max(1, attempts)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # lifespan and websockets: nothing to do at the door
            return
        try:
            body = await _read_body(receive, MAX_UPLOAD_BYTES)
        except ConnectionResetError:
            return
        shown = {key: scope[key] for key in SCOPE_KEYS if key in scope}
        shown["headers"] = [(bytes(k), bytes(v)) for k, v in scope.get("headers", [])]
        answer = await self._answer(shown, body)
        # A drop or timeout fault: the replica's messages are the start of an answer no server can
        # send (fakes.app), so replaying them closes the caller's connection without a byte, as there.
        for message in answer.messages if answer is not None else lost_answer(scope["path"]):
            await send(message)

    async def _answer(self, scope: dict, body: bytes) -> ForwardedAnswer | None:
        """One replica's complete answer, or None when every attempt was lost (and voided)."""
        for attempt in range(1, self.attempts + 1):
            request = ForwardedRequest(scope, body, uuid.uuid4().hex)
            try:
                answer = await asyncio.wait_for(self.forward(request), self.timeout_s)
            except self.lost as exc:
                refunded = await self._void(request.request_id)
                log.warning(
                    "%s %s: ingress replica lost (%s); attempt %d of %d%s",
                    scope.get("method"),
                    scope.get("path"),
                    type(exc).__name__,
                    attempt,
                    self.attempts,
                    f", {refunded} credits given back" if refunded else "",
                )
                if self.void is None:
                    return None  # its charge cannot be voided: a retry could charge twice
                continue
            except Exception as exc:  # a timeout, or the replica's method raised
                await self._void(request.request_id)
                log.warning("%s %s: no answer (%s)", scope.get("method"), scope.get("path"), type(exc).__name__)
                return None
            if answer.messages or answer.disconnect is not None:
                return answer
            await self._void(request.request_id)  # the app raised before answering
            log.warning("%s %s: the ingress failed: %s", scope.get("method"), scope.get("path"), answer.error)
            return None
        return None

    async def _void(self, request_id: str) -> int:
        if self.void is None:
            return 0
        with contextlib.suppress(Exception):  # the store is unreachable: nothing more the door can do
            return await asyncio.to_thread(self.void, request_id)
        log.error("could not void request %s: its charge, if any, stands", request_id)
        return 0

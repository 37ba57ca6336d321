"""Bounded waits and a connection cap for the uvicorn servers (`serve`, `proxy`).

uvicorn closes an idle keep-alive connection (`timeout_keep_alive`), but waits for
ever on a client that dribbles its request headers or its body, and accepts
connections until the process runs out of file descriptors, after which nobody
gets in. `GuardedProtocol` (uvicorn's own HTTP protocol, a few hooks added) bounds:

- the request headers: complete within `header_timeout` seconds of their first byte
  (or of the connection), and at most `max_header_bytes`; else 408 / 431 and close;
- the body: each chunk within `body_timeout` seconds of the previous one, while the
  app is reading; else 408 and close;
- the answer: a client that stops reading it for `body_timeout` seconds is cut off;
- the connections: at most `max_connections`, and never more than the open-file limit
  allows. A new connection beyond the cap closes the connection that has waited
  longest for headers (a slow client, or an idle keep-alive one), else the upload
  slower than `SLOW_UPLOAD_BYTES_PER_S`; when every connection is busy with real
  work, the newcomer is answered 503 with Retry-After.

Timed-out and refused connections are answered in plain text: no request was read,
so there is no API to shape the answer for.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import resource
import time
from dataclasses import dataclass

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

# File descriptors kept for everything but client connections: listening sockets,
# logs, the SQLite ledger, recordings, the upstream connections of the proxy.
RESERVED_FDS = 64
# At the cap, an upload this slow (bytes a second, after a second) gives its slot to a newcomer.
SLOW_UPLOAD_BYTES_PER_S = 16 * 1024


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000
    max_header_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name.replace('_', ' ')} must be more than 0 seconds, got {getattr(self, name)}")
        if self.max_connections < 1:
            raise ValueError(f"max connections must be at least 1, got {self.max_connections}")

    def connection_cap(self) -> int:
        """`max_connections`, lowered to what the open-file limit leaves for clients."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - RESERVED_FDS))


def guarded_config(app, limits: ConnectionLimits | None = None, **options) -> uvicorn.Config:
    """A uvicorn.Config that serves ``app`` with GuardedProtocol under ``limits``."""
    limits = limits or ConnectionLimits()
    keep_alive = max(1, math.ceil(limits.keep_alive_timeout))  # uvicorn counts whole seconds
    config = uvicorn.Config(app, http=GuardedProtocol, timeout_keep_alive=keep_alive, **options)
    # Read by each connection; travels with the config into `--workers` processes.
    config.connection_limits = limits  # type: ignore[attr-defined]
    return config


class GuardedProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol (httptools, or h11) with the bounds of ConnectionLimits."""

    def __init__(self, config, server_state, app_state, _loop=None) -> None:
        super().__init__(config=config, server_state=server_state, app_state=app_state, _loop=_loop)
        self.limits: ConnectionLimits = getattr(config, "connection_limits", None) or ConnectionLimits()
        self._header_started: float | None = None  # when the bytes of a request's headers began
        self._header_bytes = 0
        self._idle_since = time.monotonic()
        self._last_data = time.monotonic()
        self._body_started: float | None = None  # when the current request's headers completed
        self._body_bytes = 0
        self._write_stalled_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- uvicorn's hooks ---------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._header_started = self._last_data = time.monotonic()
        if not self._make_room():
            self._answer_and_close(
                503,
                f"the server holds {len(self.connections) - 1} connections, its most; retry in a moment",
                retry_after=1,
            )
            return
        self._arm(self.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self._last_data = now
        before = self.cycle
        if self._waiting_for_request():
            if self._header_started is None:
                self._header_started = now
            self._header_bytes += len(data)
        else:
            self._body_bytes += len(data)
        super().data_received(data)
        if self.cycle is not before:  # the headers are complete: a request began
            self._header_started, self._header_bytes = None, 0
            self._body_started, self._body_bytes = now, 0
        elif self._header_started is not None and self._header_bytes > self.limits.max_header_bytes:
            self._answer_and_close(431, f"the request headers are over {self.limits.max_header_bytes} bytes")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._idle_since = time.monotonic()
        self._header_started, self._header_bytes = None, 0

    def connection_lost(self, exc) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    # -- the bounds ----------------------------------------------------------------------------
    def _waiting_for_request(self) -> bool:
        """No request in progress: before the first one, or after a complete response."""
        return (self.cycle is None or self.cycle.response_complete) and not getattr(self, "pipeline", None)

    def _waiting_since(self) -> float:
        return self._header_started if self._header_started is not None else self._idle_since

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(max(0.05, delay), self._check)

    def _check(self) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing():
            return
        now = time.monotonic()
        limits = self.limits
        if self._waiting_for_request():
            if self._header_started is None:  # idle keep-alive: uvicorn's own timer closes it
                self._arm(limits.header_timeout)
            elif now - self._header_started >= limits.header_timeout:
                self._answer_and_close(408, f"the request headers did not arrive within {limits.header_timeout:g} s")
            else:
                self._arm(self._header_started + limits.header_timeout - now)
            return
        cycle = self.cycle
        if cycle.more_body and not cycle.response_complete:
            if self.flow.read_paused:  # the app is not reading yet: not the client's delay
                self._last_data = now
            elif now - self._last_data >= limits.body_timeout:
                self._answer_and_close(
                    408, f"no part of the request body arrived for {limits.body_timeout:g} s", started=cycle
                )
                return
            self._arm(min(1.0, self._last_data + limits.body_timeout - now))
            return
        if cycle.response_started and not cycle.response_complete and self.flow.write_paused:
            # The answer is written faster than the client reads it: fine, unless it stops reading.
            self._write_stalled_since = self._write_stalled_since or now
            if now - self._write_stalled_since >= limits.body_timeout:
                self.transport.close()
                return
        else:
            self._write_stalled_since = None
        self._arm(1.0)  # the app is working on a complete request, or writing its answer

    def _make_room(self) -> bool:
        """Stay within the cap by closing the connections that waited longest for a request."""
        cap = self.limits.connection_cap()
        excess = len(self.connections) - cap
        if excess <= 0:
            return True
        # One pass (this runs for every connection made at the cap): idle ones by how long they
        # waited, then uploads slower than the floor, slowest first.
        ranked = []
        for other in self.connections:
            if other is self or not isinstance(other, GuardedProtocol) or not other._open():
                continue
            if other._waiting_for_request():
                ranked.append((0, other._waiting_since(), other))
            else:
                rate = other._upload_rate()
                if rate is not None and rate < SLOW_UPLOAD_BYTES_PER_S:
                    ranked.append((1, rate, other))
        victims = heapq.nsmallest(excess, ranked, key=lambda item: item[:2])
        for kind, _, victim in victims:
            if kind == 0:
                victim.transport.close()
            else:
                victim._answer_and_close(408, "the upload is too slow for a server that is full")
            self.connections.discard(victim)  # closed: its slot is free now, not when the loop gets to it
        return len(victims) >= excess

    def _open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def _upload_rate(self) -> float | None:
        """Bytes a second of the body being received (None: no body arriving, or under a second old)."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.more_body or self._body_started is None:
            return None
        if self.flow.read_paused:  # the server is not reading: the client cannot send
            return None
        elapsed = time.monotonic() - self._body_started
        return self._body_bytes / elapsed if elapsed >= 1.0 else None

    def _answer_and_close(self, status: int, message: str, *, retry_after: int | None = None, started=None) -> None:
        """A plain-text answer, unless a response already began, then close."""
        cycle = started or self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            reason = {408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}
            body = f"{message}\n".encode()
            head = [f"HTTP/1.1 {status} {reason[status]}", "content-type: text/plain; charset=utf-8"]
            if retry_after is not None:
                head.append(f"retry-after: {retry_after}")
            head += [f"content-length: {len(body)}", "connection: close", "", ""]
            self.transport.write("\r\n".join(head).encode() + body)
        self.transport.close()


# -- command-line flags (serve, proxy) ----------------------------------------------------------
def add_limit_arguments(parser) -> None:
    """The flags of ConnectionLimits, for an argparse parser."""
    defaults = ConnectionLimits()
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=defaults.header_timeout,
        metavar="SECONDS",
        help="a request's headers must arrive within this; else 408 and the connection closes",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=defaults.body_timeout,
        metavar="SECONDS",
        help="longest pause between two chunks of a request body; else 408 and the connection closes",
    )
    parser.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=defaults.keep_alive_timeout,
        metavar="SECONDS",
        help="an idle keep-alive connection is closed after this",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        metavar="N",
        help="open connections at most (lowered to fit the open-file limit); beyond it the longest-waiting "
        "idle one is closed, or the newcomer gets 503",
    )


def limits_from_args(args) -> ConnectionLimits:
    """ConnectionLimits from the flags; ValueError names the flag that is wrong."""
    return ConnectionLimits(
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        max_connections=args.max_connections,
    )

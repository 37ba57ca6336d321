"""The server under verification: the embedded fake in-process, or a remote origin.

Both give the runner an httpx client, the URL of each API, the keys to use and a
way to read a key's credits. The embedded fake is reached through
httpx.MockTransport (no socket, no network) and its credits are read from its
ledger; a remote server's credits come from `--credits-url` when given.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx

from inpaint_conformance.contracts import Api, HttpRequest
from inpaint_conformance.contracts.rules import AUTH_HEADER, CREDITS_PER_SUCCESS, FAKE_PREFIX, PATHS, api_for_path
from inpaint_conformance.fakes import DEVIATIONS, FakeProvider, Fault

from .credentials import NEAR_MISSES, base_role, near_miss
from .redaction import Redactor

WRONG_KEY = "inpaint-conformance-wrong-key"  # made up: no server should know it
EMBEDDED_ORIGIN = "http://embedded-fake.invalid"
# Where a user replays an embedded-fake failure: `inpaint-conformance serve`'s default address.
SERVE_ORIGIN = "http://127.0.0.1:8000"
CREDITS_PATH = f"{FAKE_PREFIX}/credits"  # where `serve` answers a key's balance
EMBEDDED_KEYS = {"main": "embedded-main-key", "second": "embedded-second-key", "low": "embedded-low-key"}
EMBEDDED_CREDITS = 10_000_000  # enough for any --examples: the fake's credits cost nothing


class ConfigurationError(Exception):
    """The run cannot start or go on (unreachable server, unusable flag, an app that does not import):
    one line for the user, saying what is wrong and the fix. The CLI exits 2 with it."""


TargetError = ConfigurationError  # the name the harness's modules raise it under


class CreditsUnavailable(Exception):
    """A balance could not be read; the credit clauses it would have judged are unverified."""

    def __init__(self, message: str, fix: str | None = None, *, status: int | None = None) -> None:
        super().__init__(message)
        self.fix = fix
        self.status = status  # the credits URL's HTTP status, when it answered


class Target:
    description: str
    embedded: bool
    in_process: bool  # answered in this process: nothing a run spends is real money
    reproduce_origin: str  # the origin a curl reproducer addresses
    reproduce_credits_url: str | None  # where a reproducer reads balances (None: credits are not observable)
    retry_wait_cap: float  # the most seconds to wait on one Retry-After
    sets_credits = False  # whether `set_credits` can give a key a balance (the embedded fake can)

    def __init__(self, make_client: Callable[[], httpx.Client], keys: dict[Api, dict[str, str | None]]) -> None:
        self._make_client = make_client
        self.client = make_client()
        self.keys = keys
        self._reconnect = False  # the last answer may have left its connection closing

    def send(self, request: httpx.Request) -> httpx.Response:
        """Send one request and read its whole answer; every request of a run goes through here.

        A server may close a kept-alive connection right after a 5xx without saying so
        (uvicorn does after an unhandled exception), and a request written to it in
        that moment gets no answer: a false alarm against whichever probe came next.
        So after a 5xx, a `Connection: close` or no answer at all, the next request goes
        out on a fresh connection. Nothing is ever sent twice: a POST that got no answer
        may have been processed (and charged), so it is reported, never resent.
        """
        if self._reconnect:
            self.client.close()  # drops the pooled connections; the next request dials anew
            self.client = self._make_client()
            self._reconnect = False
        try:
            response = self.client.send(request)
            response.read()
        except httpx.TransportError:
            self._reconnect = True
            raise
        closing = "close" in response.headers.get("connection", "").lower()
        self._reconnect = response.status_code >= 500 or closing
        return response

    def new_client(self) -> httpx.Client:
        """A client with connections of its own, for requests sent at once from many threads
        (harness/burst.py): `send` may swap its client for a fresh one meanwhile."""
        return self._make_client()

    def get(self, url: str, *, headers: dict[str, str] | None = None, timeout: float | None = None) -> httpx.Response:
        """A GET through `send` (the credits URL, the preflight's reachability check)."""
        wait = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        return self.send(self.client.build_request("GET", url, headers=headers, timeout=wait))

    def key(self, api: Api, role: str) -> str | None:
        """The key a request of this role sends ("wrong" is made up; "none" sends nothing; a near
        miss of a key that cannot be made, None: see harness/credentials.py)."""
        if role in ("wrong", "authorization-bearer-wrong"):
            return WRONG_KEY
        base = base_role(role)
        key = self.keys.get(api, {}).get(base) if base else None
        return near_miss(role, key) if role in NEAR_MISSES else key

    def url(self, api: Api) -> str:
        raise NotImplementedError

    def credits_observable(self, api: Api) -> bool:
        raise NotImplementedError

    def balance(self, api: Api, key: str) -> int:
        raise NotImplementedError

    def set_credits(self, api: Api, key: str, credits: int) -> bool:
        """Give a key exactly this balance where the target allows it (the embedded fake); False elsewhere."""
        return False

    def missing_key(self, role: str) -> tuple[str, str]:
        """Why a probe needing this key role cannot run, and the flag that would let it."""
        raise NotImplementedError

    def credits_missing(self) -> tuple[str, str]:
        """Why credits cannot be observed, and the flag that would let them."""
        return "credits are not observable", 'pass --credits-url URL (a GET answering {"credits": <int>})'

    def close(self) -> None:
        self.client.close()


class EmbeddedTarget(Target):
    """The fake of `fakes.FakeProvider`, answering in this process."""

    embedded = True
    in_process = True
    sets_credits = True
    reproduce_origin = SERVE_ORIGIN
    reproduce_credits_url = SERVE_ORIGIN + CREDITS_PATH
    retry_wait_cap = 0.0  # in-process: waiting changes nothing

    def __init__(
        self, deviations: list[str] | tuple[str, ...] = (), *, inject_429: bool = True, timeout: float = 60.0
    ) -> None:
        unknown = [d for d in deviations if d not in DEVIATIONS]
        if unknown:
            raise TargetError(
                f"unknown deviation {', '.join(unknown)}: expected one of {', '.join(sorted(DEVIATIONS))}"
            )
        self.provider = FakeProvider()
        self.provider.thumbnails = False  # pictures for the dashboard only slow a verify run down
        self.provider.add_key(EMBEDDED_KEYS["main"], EMBEDDED_CREDITS)
        self.provider.add_key(EMBEDDED_KEYS["second"], EMBEDDED_CREDITS)
        self.provider.add_key(EMBEDDED_KEYS["low"], CREDITS_PER_SUCCESS - 1)
        for name in deviations:
            self.provider.faults.add(Fault(kind=name))
        if inject_429:
            # One 429 per API exercises the rate clauses and the runner's retry; it is
            # named in the evidence, so nobody mistakes it for the fake's own habit.
            for api in Api:
                self.provider.faults.add(Fault(kind="status_429", api=api.value, count=1))
        self.deviations = tuple(deviations)
        suffix = f", deviations: {', '.join(deviations)}" if deviations else ""
        self.description = f"embedded fake (in-process{suffix})"
        transport = httpx.MockTransport(self._handle)
        super().__init__(
            lambda: httpx.Client(transport=transport, timeout=timeout), {api: dict(EMBEDDED_KEYS) for api in Api}
        )

    def _handle(self, request: httpx.Request) -> httpx.Response:
        answer = self.provider.handle(
            HttpRequest(request.method, str(request.url), request.headers.raw, request.read())
        )
        if answer.transport == "drop":
            raise httpx.RemoteProtocolError("the server closed the connection without an answer", request=request)
        if answer.transport == "timeout":
            raise httpx.ReadTimeout("no answer in time", request=request)
        response = answer.response
        return httpx.Response(response.status, headers=list(response.headers.items()), content=response.body)

    def url(self, api: Api) -> str:
        return EMBEDDED_ORIGIN + PATHS[api]

    def credits_observable(self, api: Api) -> bool:
        return api is Api.AITHRIVING

    def balance(self, api: Api, key: str) -> int:
        value = self.provider.ledger.balance(key)
        if value is None:
            raise CreditsUnavailable(f"the embedded fake has no key {key!r}")
        return value

    def set_credits(self, api: Api, key: str, credits: int) -> bool:
        self.provider.ledger.set_balance(key, credits)
        return True

    def missing_key(self, role: str) -> tuple[str, str]:
        return f"the embedded fake has no {role} key", "a harness bug: every role is set up"


class RemoteTarget(Target):
    """A server at `--base-url`, which may carry a path prefix before the documented paths."""

    embedded = False
    retry_wait_cap = 5.0

    in_process = False  # an app of this process (harness/inprocess.py): no real credits spent
    # The end of preflight's "no endpoint here" message: what to pass instead.
    where_hint = "pass the server's origin as --base-url (https://host:port, plus any prefix it is mounted under)"

    def __init__(
        self,
        base_url: str,
        keys: dict[Api, dict[str, str | None]],
        *,
        credits_url: str | None,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise TargetError(f"--base-url must be an http(s) URL like https://api.example.com, got {base_url!r}")
        if credits_url is not None and httpx.URL(credits_url).scheme not in ("http", "https"):
            raise TargetError(f"--credits-url must be an http(s) URL, got {credits_url!r}")
        if not math.isfinite(timeout) or timeout <= 0:
            raise TargetError(f"--timeout must be a positive number of seconds, got {timeout}")
        at = api_for_path(url.path)
        if at is not None:
            origin = base_url.rstrip("/")[: -len(PATHS[at])] or f"{url.scheme}://{url.netloc.decode('ascii')}"
            raise TargetError(
                f"--base-url {base_url} already ends in the {at.value} endpoint path {PATHS[at]}; verify adds "
                f"each API's path itself: pass --base-url {origin}"
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.credits_url = credits_url
        self.reproduce_credits_url = credits_url
        self.description = self.base_url
        self.reproduce_origin = self.base_url
        super().__init__(lambda: httpx.Client(timeout=timeout, follow_redirects=False, transport=transport), keys)

    def url(self, api: Api) -> str:
        return self.base_url + PATHS[api]

    def credits_observable(self, api: Api) -> bool:
        return api is Api.AITHRIVING and self.credits_url is not None

    def balance(self, api: Api, key: str) -> int:
        assert self.credits_url is not None
        try:
            response = self.get(self.credits_url, headers={AUTH_HEADER[Api.AITHRIVING]: key})
        except httpx.TransportError as exc:
            raise CreditsUnavailable(
                f"--credits-url {self.credits_url} did not answer: {_reason(exc)}", "check --credits-url"
            ) from None
        try:
            credits = response.json()["credits"]
        except (ValueError, KeyError, TypeError):
            credits = None
        if response.status_code != 200 or not isinstance(credits, int) or isinstance(credits, bool):
            excerpt = Redactor([key]).text(" ".join(response.text[:120].split()))  # B3: a server may echo the key
            raise CreditsUnavailable(
                f'--credits-url answered HTTP {response.status_code} {excerpt!r}: expected 200 with JSON {{"credits": <int>}}',
                status=response.status_code,
            )
        return credits

    def missing_key(self, role: str) -> tuple[str, str]:
        if role == "second":
            return "needs a second key", "pass a second --api-key"
        if role == "low":
            return (
                f"needs a key with fewer than {CREDITS_PER_SUCCESS} credits",
                f"pass --low-credit-key KEY (a key holding fewer than {CREDITS_PER_SUCCESS} credits)",
            )
        return f"needs the {role} key", "pass --api-key"


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]


__all__ = [
    "ConfigurationError",
    "CreditsUnavailable",
    "EmbeddedTarget",
    "RemoteTarget",
    "Target",
    "TargetError",
    "WRONG_KEY",
]

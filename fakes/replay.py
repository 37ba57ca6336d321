"""Replaying a recording: the fake answers what the recorded provider answered.

`inpaint-conformance proxy --record FILE` writes one JSON line per exchange; a
`ReplayProvider` loads it and answers each request with the recorded response of
the exchange it matches: same method, same API (or same path, for other URLs) and
the same form fields (multipart boundaries differ from run to run, so bodies are
compared part by part). Without an exact match it answers the next unused exchange
for that API in recorded order (unless `strict`). It is a FakeProvider, so it plugs
into every door of the fake (`inpaint_conformance.fakes.app.create_app(ReplayProvider(...))`) and
journals each request with the client's verdict, as the fake does.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from inpaint_conformance.contracts import HttpRequest, HttpResponse, validate_request
from inpaint_conformance.contracts.multipart import FormError, parse_form
from inpaint_conformance.contracts.rules import api_for_path

from .provider import JSON, Answer, FakeProvider, _Trace


class RecordingError(ValueError):
    """A recording file that cannot be read; the message names the line and the problem."""


@dataclass(frozen=True)
class RecordedExchange:
    time: str
    api: str | None
    request: HttpRequest  # secret headers already redacted when it was recorded
    response: HttpResponse | None  # None when the upstream gave no answer
    request_violations: tuple[dict, ...] = ()
    response_violations: tuple[dict, ...] = ()
    error: str | None = None


class ReplayProvider(FakeProvider):
    def __init__(
        self, recording: str | Path | Iterable[RecordedExchange | dict], *, strict: bool = False, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(recording, (str, Path)):
            self.source = str(recording)
            exchanges = load_recording(recording)
        else:
            self.source = "recording"
            items = list(recording)
            exchanges = [
                x if isinstance(x, RecordedExchange) else _from_dict(x, f"record {n}") for n, x in enumerate(items, 1)
            ]
        self.exchanges = exchanges
        self.strict = strict
        self._used = [False] * len(exchanges)
        self._lock = threading.Lock()
        self._signatures = [_signature(x.request) for x in exchanges]

    def summary(self) -> str:
        """What the recording holds, for the banner: "5 recorded exchanges (aithriving 3, vyro 2)"."""
        total = len(self.exchanges)
        by_route: dict[str, int] = {}
        for x in self.exchanges:
            api = api_for_path(x.request.path)
            name = api.value if api is not None else f"other paths ({x.request.path})"
            by_route[name] = by_route.get(name, 0) + 1
        text = f"{total} recorded exchange{'s' if total != 1 else ''}"
        if by_route:
            text += " (" + ", ".join(f"{name} {n}" for name, n in by_route.items()) + ")"
        dropped = sum(1 for x in self.exchanges if x.response is None)
        if dropped:
            text += f"; {dropped} without an answer (the upstream gave none): replayed as a closed connection"
        return text

    def matching_rule(self) -> str:
        """Which recorded answer a request gets, in words (the banner prints it)."""
        rule = (
            "a request gets the answer of the recorded exchange with the same method, API and form fields "
            "(multipart boundaries ignored); "
        )
        if self.strict:
            return rule + "a request matching none gets HTTP 404 with a message naming it (--replay-strict)"
        return rule + (
            "one matching none gets the next unused recorded answer of its API, in recorded order "
            "(--replay-strict: a 404 naming the request instead)"
        )

    @property
    def remaining(self) -> int:
        """Recorded exchanges not replayed yet."""
        with self._lock:
            return self._used.count(False)

    def handle(self, request: HttpRequest) -> Answer:
        started = time.perf_counter()
        index = self._match(request)
        if index is None:
            answer = self._miss(request)
        else:
            recorded = self.exchanges[index].response
            # No recorded answer: the provider was unreachable, so the replay drops the connection too.
            answer = Answer(recorded) if recorded is not None else Answer(HttpResponse(0), transport="drop")
        api = api_for_path(request.path)
        if api is not None:
            verdict = validate_request(api, request)
            trace = _Trace(violations=verdict.violations, request=verdict.request)
            key = verdict.request.credential if verdict.request else None
            self._record(api, request, key, None, trace, answer, {}, started)
        return answer

    def _route(self, request: HttpRequest) -> tuple[str, str]:
        api = api_for_path(request.path)
        return request.method, api.value if api is not None else request.path

    def _match(self, request: HttpRequest) -> int | None:
        route, signature = self._route(request), _signature(request)
        with self._lock:
            same_route = [i for i, x in enumerate(self.exchanges) if self._route(x.request) == route]
            exact = [i for i in same_route if self._signatures[i] == signature]
            unused_exact = [i for i in exact if not self._used[i]]
            in_order = [i for i in same_route if not self._used[i]] if not self.strict else []
            # A request seen before gets the same answer again once its exchanges are used up.
            candidates = unused_exact or in_order or exact[-1:]
            chosen = candidates[0] if candidates else None
            if chosen is not None:
                self._used[chosen] = True
            return chosen

    def _miss(self, request: HttpRequest) -> Answer:
        method, route = self._route(request)
        recorded = sum(1 for x in self.exchanges if self._route(x.request) == (method, route))
        why = (
            f"all {recorded} recorded exchange(s) for it were replayed and none had the same form fields"
            if recorded
            else "the recording has no exchange for it"
        )
        mode = " (strict: only exact matches are replayed)" if self.strict and recorded else ""
        detail = f"replay of {self.source}: no recorded answer for {request.method} {request.path}: {why}{mode}"
        return Answer(HttpResponse(404, JSON, json.dumps({"detail": detail}).encode()))


def _signature(request: HttpRequest) -> tuple:
    """What identifies a request's content whatever multipart boundary its client drew."""
    try:
        form = parse_form(request.headers.get("content-type", ""), request.body)
    except FormError:
        return ("raw", request.body)
    return ("form",) + tuple((p.name, p.filename, p.data) for p in form.parts)


# -- reading a recording ------------------------------------------------------------------


def load_recording(path: str | Path) -> list[RecordedExchange]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordingError(
            f"{path}: no such file; record one with `inpaint-conformance proxy --record {path}`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    exchanges = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise RecordingError(
                f"{path}:{number}: not JSON ({exc.args[0]}); expected one exchange per line, "
                "as `proxy --record` writes them"
            ) from None
        exchanges.append(_from_dict(record, f"{path}:{number}"))
    return exchanges


def parse_records(records: Iterable[dict]) -> list[RecordedExchange]:
    return [_from_dict(record, f"record {number}") for number, record in enumerate(records, 1)]


def _from_dict(record: object, where: str) -> RecordedExchange:
    try:
        if not isinstance(record, dict):
            raise TypeError(f"a JSON {type(record).__name__}, not an object")
        req, res = record["request"], record.get("response")
        request = HttpRequest(req["method"], req["path"], req.get("headers") or {}, _b64(req.get("body", "")))
        response = (
            None
            if res is None
            else HttpResponse(int(res["status"]), res.get("headers") or {}, _b64(res.get("body", "")))
        )
    except (KeyError, TypeError, AttributeError, ValueError, binascii.Error) as exc:
        raise RecordingError(
            f"{where}: not a recorded exchange ({type(exc).__name__}: {exc}); expected "
            "request {method, path, headers, body} and response {status, headers, body}"
        ) from None
    return RecordedExchange(
        str(record.get("time", "")),
        record.get("api"),
        request,
        response,
        tuple(record.get("request_violations") or ()),
        tuple(record.get("response_violations") or ()),
        record.get("error"),
    )


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)

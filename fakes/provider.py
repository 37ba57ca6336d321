"""The fake provider: one request handler for both APIs, whatever door it comes through.

`FakeProvider.handle` takes a neutral HttpRequest and returns an Answer. The FastAPI
server, the respx mock and the requests mock are thin adapters around it, so the
server and the mocks cannot drift apart. Which requests fail is decided by
`inpaint_conformance.contracts.validate_request`; the bodies come from `inpaint_conformance.contracts.envelopes`.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

from inpaint_conformance.contracts import (
    Api,
    HttpRequest,
    HttpResponse,
    InpaintRequest,
    redact_headers,
    redact_secret,
    validate_request,
)
from inpaint_conformance.contracts.envelopes import ait_failure, ait_success, vyro_error
from inpaint_conformance.contracts.images import to_rgb
from inpaint_conformance.contracts.rules import (
    CREDITS_PER_SUCCESS,
    FAKE_PREFIX,
    INPUT_FORMATS,
    MAX_UPLOAD_BYTES,
    MEDIA_TYPES,
    PATHS,
    RANDOM_SEED_MIN,
    SEED_MAX,
    api_for_path,
    credential,
    near_miss_api,
    vyro_failure_status,
)
from inpaint_conformance.contracts.violations import Violation

from .deviations import Deviations
from .engine import Engine, FakeEngine, InpaintJob
from .faults import FaultBook, TransportFault
from .imaging import composite_into, encode, thumbnail_uri
from .journal import Journal
from .journal_entry import request_summary, summary_without_keys
from .ledger import DEFAULT_CREDITS, Ledger, MemoryLedger
from .memory_budget import MemoryBudget, request_cost

if TYPE_CHECKING:
    from .store import FaultStore, JournalStore

log = logging.getLogger("inpaint_conformance.fake")
JSON = {"content-type": "application/json"}


@dataclass
class Answer:
    """A response plus what the door should do with it (wait, drop the connection...)."""

    response: HttpResponse
    delay: float = 0.0
    transport: str | None = None  # None, "drop" or "timeout"
    refusal: str | None = None  # why the fake refused the request (the message it answered), None when served


@dataclass
class _Trace:
    """What the journal records about one request, filled in as it is handled."""

    violations: list[Violation] = field(default_factory=list)
    request: InpaintRequest | None = None
    checked: set[str] | None = None  # the client clauses the request was judged on (None: not judged)
    seed: int | None = None
    message: str | None = None
    summary: dict | None = None  # the request as the journal shows it, taken before its pixels are freed
    thumbnails: dict = field(default_factory=dict)  # name -> data: URI, made while the pictures exist


class FakeProvider:
    def __init__(
        self,
        *,
        engine: Engine | None = None,
        ledger: Ledger | None = None,
        journal: JournalStore | None = None,
        faults: FaultStore | None = None,
        ait_failure_status: int = 200,
        thumbnails: bool = True,
        memory_budget: MemoryBudget | None = None,
    ) -> None:
        self.engine = engine or FakeEngine()
        self.ledger = ledger or MemoryLedger()
        # A shared store (fakes.store) passes its SQL journal and fault list here.
        self.journal: JournalStore = journal or Journal()
        self.faults: FaultStore = faults or FaultBook()
        # A5 allows 200 or 4xx for AIThriving failures; the provider's likely choice is 200.
        self.ait_failure_status = ait_failure_status
        # Small pictures of each request's image, mask and output for the dashboard.
        self.thumbnails = thumbnails
        # Image work is admitted against it, priced from the image headers (fakes.memory_budget).
        self.memory = memory_budget or MemoryBudget()

    # -- state a user inspects and resets (the moto idea) --------------------------
    def add_key(self, key: str, credits: int = DEFAULT_CREDITS, *, keep_existing: bool = True) -> int:
        return self.ledger.add_key(key, credits, keep_existing=keep_existing)

    def reset(self) -> None:
        self.journal.clear()
        self.faults.clear()

    def refuse_too_large(self, api: Api, request: HttpRequest) -> Answer:
        """B2: an upload over the limit, refused before it is read; journalled, never charged."""
        message = f"upload over {MAX_UPLOAD_BYTES} bytes: send a smaller image"
        answer = self._fail(api, 413, message)
        trace = _Trace(
            violations=[Violation(f"{api.prefix}.limits.size", message)], checked={f"{api.prefix}.limits.size"}
        )
        self._record(api, request, credential(api, request.headers), None, trace, answer, {}, time.perf_counter())
        return answer

    # -- the handler -----------------------------------------------------------------
    def handle(self, request: HttpRequest) -> Answer:
        api = api_for_path(request.path)
        if api is None:
            meant = near_miss_api(request.url, request.path, request.headers)
            if meant is not None:
                return self._wrong_path(meant, request)
            return Answer(HttpResponse(404, JSON, b'{"detail": "Not Found"}'))
        started = time.perf_counter()
        key = credential(api, request.headers)
        before = self.ledger.balance(key) if key else None
        fired = self.faults.draw(api.value, key)
        trace = _Trace()
        if TransportFault.DROP in fired or TransportFault.TIMEOUT in fired:
            kind = TransportFault.DROP if TransportFault.DROP in fired else TransportFault.TIMEOUT
            seconds = fired[kind].seconds
            if seconds is None:
                seconds = 30.0
            delay = seconds if kind is TransportFault.TIMEOUT else 0.0
            answer = Answer(HttpResponse(0), delay=delay, transport=kind.value)
            self._record(api, request, key, before, trace, answer, fired, started)
            return answer
        cost = request_cost(request.headers.get("content-type", ""), request.body, INPUT_FORMATS[api])
        with self.memory.admit(cost) as admission:
            if admission.admitted:
                answer = _transport_faults(self._respond(api, request, key, fired, trace), fired)
            else:
                answer = self._busy(api, admission.retry_after)
            # Inside the hold: the journal entry is made while the pictures are still in memory.
            self._record(api, request, key, before, trace, answer, fired, started)
        return answer

    def _busy(self, api: Api, retry_after: int) -> Answer:
        """B5: over the memory budget for too long: 429 with Retry-After, in the API's failure shape, not charged."""
        return self._fail(
            api,
            429,
            f"too many large images in work at once: retry in {retry_after} s (nothing was charged)",
            {"retry-after": str(retry_after)},
        )

    def _wrong_path(self, api: Api, request: HttpRequest) -> Answer:
        """An inpaint call to a wrong path: 404 naming the endpoint, journalled with the client's verdict, never charged."""
        started = time.perf_counter()
        key = credential(api, request.headers)
        before = self.ledger.balance(key) if key else None
        name = "AIThriving" if api is Api.AITHRIVING else "Vyro"
        with self.memory.admit(
            request_cost(request.headers.get("content-type", ""), request.body, INPUT_FORMATS[api])
        ) as admission:
            if not admission.admitted:
                answer, trace = self._busy(api, admission.retry_after), _Trace()
            else:
                verdict = validate_request(api, request)  # decodes the images, to judge the client
                trace = _Trace(verdict.violations, verdict.request, verdict.checked)
                answer = self._fail(
                    api,
                    404,
                    f"no inpaint endpoint at {request.method} {request.path}: {name} inpaint is "
                    f"POST {PATHS[api]} ({api.prefix}.transport.post)",
                )
            self._record(api, request, key, before, trace, answer, {}, started)
        return answer

    def _respond(self, api: Api, http: HttpRequest, key: str | None, fired: dict, trace: _Trace) -> Answer:
        dev = Deviations(fired)
        if TransportFault.STATUS_500 in fired:
            return self._fail(api, 500, "injected fault: internal server error")
        if TransportFault.STATUS_429 in fired:
            wait = fired[TransportFault.STATUS_429].seconds or 1
            return self._fail(
                api,
                429,
                "injected fault: too many requests, retry later",
                {"retry-after": str(max(1, math.ceil(wait)))},
            )
        verdict = validate_request(api, http)
        trace.request, trace.violations, trace.checked = verdict.request, verdict.violations, verdict.checked
        trace.summary = request_summary(verdict.request)
        request = verdict.request
        refused = [v for v in verdict.refused if not dev.waives(v)]
        bent, server_error = dev.refusals(api, request) if dev else ([], False)
        refused += bent
        if server_error:
            return self._fail(api, 500, "deviation: internal server error")
        if refused:
            if dev.charges_failures and key and self.ledger.balance(key) is not None:
                self.ledger.try_charge(key, CREDITS_PER_SUCCESS)
            return self._fail(api, self._failure_status(api, refused, dev), "; ".join(str(v) for v in refused[:3]))
        unknown = TransportFault.STATUS_401 in fired or key is None or self.ledger.balance(key) is None
        if unknown and not dev.serves_strangers:
            # A key sent the wrong way (a 'Bearer ' prefix) is unknown as sent: say how to send it.
            how = next((f"; {v}" for v in verdict.violations if v.clause.endswith(".auth.header")), "")
            return self._fail(
                api,
                401,
                f"unknown API key{how}; fake keys are made with --api-key KEY or POST {FAKE_PREFIX}/keys",
                auth=True,
            )
        if api is Api.AITHRIVING and not dev.ignores_credit_limit:
            balance = self.ledger.balance(key) if key else None
            if balance is not None and balance < CREDITS_PER_SUCCESS:
                return self._fail(api, 402, f"insufficient credits: {CREDITS_PER_SUCCESS} needed, {balance} left")
        return self._paint(api, request, key, dev, trace)

    def _paint(self, api: Api, request: InpaintRequest, key: str | None, dev: Deviations, trace: _Trace) -> Answer:
        random_seed = not request.seed
        seed = request.seed or dev.random_seed(secrets.randbelow(SEED_MAX) + RANDOM_SEED_MIN)
        image, mask = _mask_to_paint(request, dev)
        paint_seed = dev.paint_seed(seed)
        # Decode once, convert once, free: the upload's own pixels go as soon as the RGB copy exists.
        job = InpaintJob(to_rgb(image), mask, request.prompt or "", request.negative_prompt, paint_seed)
        request.image = request.mask = None
        try:
            generated = self.engine.inpaint(job)
        except Exception:  # an engine crash is the server's fault: 500, never charged
            log.exception("engine %s failed", self.engine.name)
            return self._fail(api, 500, "the engine failed to paint this request; nothing was charged")
        if self.thumbnails:
            trace.thumbnails = {"image": thumbnail_uri(job.image), "mask": thumbnail_uri(mask)}
        output = composite_into(job.image, generated, mask)  # the RGB copy becomes the output
        del generated
        output = dev.bend_output(output, mask, seed)
        data = encode(output, dev.output_format(request.response_format))
        if self.thumbnails:
            trace.thumbnails["output"] = thumbnail_uri(output)
        trace.seed = seed
        if api is Api.VYRO:
            media = dev.media_type(MEDIA_TYPES[request.response_format])
            return Answer(HttpResponse(200, {"content-type": media}, data))
        if not self._charge(key, dev):
            return self._fail(api, 402, f"insufficient credits: {CREDITS_PER_SUCCESS} needed")
        body = dev.bend_envelope(ait_success(data, dev.reported_seed(seed, random_seed)))
        return Answer(HttpResponse(200, JSON, body))

    def _charge(self, key: str | None, dev: Deviations) -> bool:
        balance = self.ledger.balance(key) if key is not None else None
        if key is None or balance is None:
            return dev.serves_strangers  # strangers are served for free
        amount = dev.charge(CREDITS_PER_SUCCESS)
        if dev.ignores_credit_limit:
            self.ledger.set_balance(key, max(0, balance - amount))
            return True
        return self.ledger.try_charge(key, amount) is not None

    def _failure_status(self, api: Api, refused: list[Violation], dev: Deviations) -> int:
        if api is Api.AITHRIVING:
            status = self.ait_failure_status
        else:
            status = vyro_failure_status(v.clause for v in refused)
        return dev.failure_status(api, status)

    def _fail(self, api: Api, status: int, message: str, headers: dict | None = None, *, auth: bool = False) -> Answer:
        if api is Api.AITHRIVING:
            # Auth and credit failures keep the provider's status choice unless it is 4xx-style.
            if status in (401, 402) and self.ait_failure_status == 200:
                status = 200
            return Answer(HttpResponse(status, {**JSON, **(headers or {})}, ait_failure(message)), refusal=message)
        if status == 402:
            status = 400
        return Answer(HttpResponse(status, {**JSON, **(headers or {})}, vyro_error(status, message)), refusal=message)

    def _is_key(self, value: str) -> bool:
        return self.ledger.balance(value) is not None

    def _record(self, api, http, key, before, trace, answer, fired, started) -> None:
        summary = trace.summary if trace.summary is not None else request_summary(trace.request)
        self.journal.record(
            {
                "time": time.time(),
                "api": api.value,
                "method": http.method,
                "path": http.path,
                "headers": redact_headers(http.headers),
                "key": redact_secret(key) if key else None,
                "request": summary_without_keys(summary, lambda value: value == key or self._is_key(value)),
                "violations": [v.to_dict() for v in trace.violations],
                "checked": sorted(trace.checked) if trace.checked is not None else None,
                "client_conformant": not any(v.level.value == "MUST" for v in trace.violations),
                "status": answer.response.status,
                "transport": answer.transport,
                "refusal": answer.refusal,
                "response_bytes": len(answer.response.body),
                "seed": trace.seed,
                "credits_before": before,
                "credits_after": self.ledger.balance(key) if key else None,
                "faults": sorted(fired),
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "thumbnails": trace.thumbnails,
            }
        )


def _mask_to_paint(request: InpaintRequest, dev: Deviations) -> tuple[Image.Image, Image.Image]:
    """The image to paint and the mask to paint it with, as the deviations bend it."""
    image = request.image
    assert image is not None, "validation refuses a request without an image"
    mask = dev.bend_mask(request, image, request.strength_mask())
    assert mask is not None, "validation refuses a request with neither a mask nor an alpha channel"
    return image, mask


def _transport_faults(answer: Answer, fired: dict) -> Answer:
    response = answer.response
    if TransportFault.LATENCY in fired:
        seconds = fired[TransportFault.LATENCY].seconds
        answer.delay += seconds if seconds is not None else 1.0
    if TransportFault.TRUNCATE in fired:
        response = HttpResponse(response.status, response.headers, response.body[: len(response.body) // 2])
    if TransportFault.MALFORMED in fired:
        response = HttpResponse(response.status, response.headers, b"<html><body>Bad Gateway</body></html>")
    if TransportFault.WRONG_CONTENT_TYPE in fired:
        wrong = "text/html" if response.headers.media_type() != "text/html" else "application/json"
        response = HttpResponse(response.status, {**response.headers, "content-type": wrong}, response.body)
    answer.response = response
    return answer

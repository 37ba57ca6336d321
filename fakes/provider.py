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
from inpaint_conformance.contracts.images import has_alpha, to_rgb
from inpaint_conformance.contracts.rules import (
    CREDITS_PER_SUCCESS,
    INPUT_FORMATS,
    MAX_UPLOAD_BYTES,
    MEDIA_TYPES,
    PATHS,
    RANDOM_SEED_MIN,
    SEED_MAX,
    api_for_path,
    credential,
    effective_mask,
    near_miss_api,
)
from inpaint_conformance.contracts.violations import Violation

from .engine import Engine, FakeEngine, InpaintJob
from .faults import FaultBook
from .imaging import add_noise, composite_into, encode, thumbnail_uri
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
        if "drop" in fired or "timeout" in fired:
            kind = "drop" if "drop" in fired else "timeout"
            seconds = fired[kind].seconds
            if seconds is None:
                seconds = 30.0
            answer = Answer(HttpResponse(0), delay=seconds if kind == "timeout" else 0.0, transport=kind)
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

    def _respond(self, api: Api, http: HttpRequest, key: str | None, dev_faults: dict, trace: _Trace) -> Answer:
        dev = set(dev_faults)
        if "status_500" in dev:
            return self._fail(api, 500, "injected fault: internal server error")
        if "status_429" in dev:
            wait = dev_faults["status_429"].seconds or 1
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
        refused = [v for v in verdict.refused if not _waived(v, dev)]
        bent = _deviation_refusals(api, request, dev)
        refused += bent
        if any(
            v.clause.endswith((".unknown_fields", ".robust.malformed")) and v.message.startswith("deviation")
            for v in bent
        ):
            return self._fail(api, 500, "deviation: internal server error")
        if refused:
            if "charge_on_failure" in dev and key and self.ledger.balance(key) is not None:
                self.ledger.try_charge(key, CREDITS_PER_SUCCESS)
            return self._fail(api, self._failure_status(api, refused, dev), "; ".join(str(v) for v in refused[:3]))
        if "no_auth" not in dev and ("status_401" in dev or key is None or self.ledger.balance(key) is None):
            # A key sent the wrong way (a 'Bearer ' prefix) is unknown as sent: say how to send it.
            how = next((f"; {v}" for v in verdict.violations if v.clause.endswith(".auth.header")), "")
            return self._fail(
                api,
                401,
                f"unknown API key{how}; fake keys are made with --api-key KEY or POST /__fake__/keys",
                auth=True,
            )
        if api is Api.AITHRIVING and "overdraw" not in dev:
            balance = self.ledger.balance(key) if key else None
            if balance is not None and balance < CREDITS_PER_SUCCESS:
                return self._fail(api, 402, f"insufficient credits: {CREDITS_PER_SUCCESS} needed, {balance} left")
        return self._paint(api, request, key, dev, trace)

    def _paint(self, api: Api, request: InpaintRequest, key: str | None, dev: set[str], trace: _Trace) -> Answer:
        random_seed = not request.seed
        seed = request.seed or secrets.randbelow(SEED_MAX) + RANDOM_SEED_MIN
        if random_seed and "random_seed_constant" in dev:
            seed = 42
        image, mask = _deviated_mask(request, dev)
        paint_seed = secrets.randbelow(SEED_MAX) + 1 if "not_reproducible" in dev else seed
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
        if "kept_pixels_drift" in dev:
            output = add_noise(output, mask, 12, seed)
        if "size_rounded" in dev:
            w, h = output.size
            output = output.resize((max(8, w // 8 * 8), max(8, h // 8 * 8)))
        fmt = request.response_format
        if "wrong_output_format" in dev:
            fmt = "jpeg" if fmt == "png" else "png"
        data = encode(output, fmt)
        if self.thumbnails:
            trace.thumbnails["output"] = thumbnail_uri(output)
        trace.seed = seed
        if api is Api.VYRO:
            media = "image/jpeg" if "vyro_jpeg_content_type" in dev else MEDIA_TYPES[fmt]
            return Answer(HttpResponse(200, {"content-type": media}, data))
        if not self._charge(key, dev):
            return self._fail(api, 402, f"insufficient credits: {CREDITS_PER_SUCCESS} needed")
        reported = 0 if random_seed and "random_seed_zero" in dev else seed
        if "seed_echo_wrong" in dev:
            reported = seed % SEED_MAX + 1
        body = ait_success(data, reported)
        if "bare_string_data" in dev or "success_message_wrong" in dev:
            body = _bend_envelope(body, dev)
        return Answer(HttpResponse(200, JSON, body))

    def _charge(self, key: str | None, dev: set[str]) -> bool:
        balance = self.ledger.balance(key) if key is not None else None
        if key is None or balance is None:
            return "no_auth" in dev  # a no_auth deviation serves strangers for free
        amount = CREDITS_PER_SUCCESS * (2 if "charge_twice" in dev else 1)
        if "overdraw" in dev:
            self.ledger.set_balance(key, max(0, balance - amount))
            return True
        return self.ledger.try_charge(key, amount) is not None

    def _failure_status(self, api: Api, refused: list[Violation], dev: set[str]) -> int:
        if "server_error_on_bad_input" in dev:
            return 500
        if api is Api.AITHRIVING:
            return self.ait_failure_status
        if any(v.clause.startswith("vyro.auth.") for v in refused):
            return 401
        if any(v.clause == "vyro.limits.size" for v in refused):
            return 413
        return 422 if "vyro_422" in dev else 400

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


def _waived(violation: Violation, dev: set[str]) -> bool:
    """Deviations that make the fake accept what it must refuse."""
    waivers = {
        "seed_range_unchecked": ("ait.seed.range",),
        "prompt_optional": ("ait.prompt.required", "vyro.prompt.required"),
        "no_auth": ("ait.auth.missing", "vyro.auth.missing"),
    }
    return any(violation.clause in waivers[d] for d in dev if d in waivers)


def _deviation_refusals(api: Api, request: InpaintRequest | None, dev: set[str]) -> list[Violation]:
    """Deviations that make the fake refuse what it must accept."""
    if request is None or not dev:
        return []
    p, found = api.prefix, []
    if "webp_rejected" in dev and request.image_format == "webp":
        found.append(Violation(f"{p}.image.formats", "deviation: WebP refused"))
    if "format_from_filename" in dev:
        name = (request.filenames.get("image") or "").lower().rsplit(".", 1)[-1]
        if name in ("jpg", "jpeg", "png", "webp") and name.replace("jpg", "jpeg") != request.image_format:
            found.append(Violation(f"{p}.image.sniffed", f"deviation: filename says {name}"))
    if "model_version_required" in dev and api is Api.VYRO and request.model_version is None:
        found.append(Violation("vyro.model_version.default", "deviation: model_version required"))
    if "unknown_field_500" in dev and request.extra_fields:
        found.append(Violation(f"{p}.unknown_fields", "deviation: unknown field"))
    if (
        "mask_size_500" in dev
        and request.mask is not None
        and request.image is not None
        and request.mask.size != request.image.size
    ):
        found.append(Violation(f"{p}.robust.malformed", "deviation: mask size differs"))
    if "prompt_optional" in dev and request.prompt is None:
        request.prompt = ""
    return found


def _deviated_mask(request: InpaintRequest, dev: set[str]) -> tuple[Image.Image, Image.Image]:
    """The image to paint and the mask to paint it with, as the deviations bend it."""
    image, mask = request.image, request.strength_mask()
    assert image is not None, "validation refuses a request without an image"
    if "alpha_wins" in dev and request.mask is not None and has_alpha(image):
        mask = effective_mask(image, None)
    if "alpha_ignored" in dev and request.mask is None:
        mask = Image.new("L", image.size, 255)
    assert mask is not None, "validation refuses a request with neither a mask nor an alpha channel"
    if "mask_inverted" in dev:
        mask = Image.eval(mask, lambda v: 255 - v)
    return image, mask


def _bend_envelope(body: bytes, dev: set[str]) -> bytes:
    import json

    envelope = json.loads(body)
    if "bare_string_data" in dev:
        envelope["data"] = envelope["data"]["image"]
    if "success_message_wrong" in dev:
        envelope["message"] = "ok"
    return json.dumps(envelope).encode()


def _transport_faults(answer: Answer, fired: dict) -> Answer:
    response = answer.response
    if "latency" in fired:
        answer.delay += fired["latency"].seconds if fired["latency"].seconds is not None else 1.0
    if "truncate" in fired:
        response = HttpResponse(response.status, response.headers, response.body[: len(response.body) // 2])
    if "malformed" in fired:
        response = HttpResponse(response.status, response.headers, b"<html><body>Bad Gateway</body></html>")
    if "wrong_content_type" in fired:
        wrong = "text/html" if response.headers.media_type() != "text/html" else "application/json"
        response = HttpResponse(response.status, {**response.headers, "content-type": wrong}, response.body)
    answer.response = response
    return answer

"""Server-side clauses: for each, a hand-built answer `validate_response` accepts and one
it flags with that clause, to a request built as a client would send it.

Three ways a clause is judged on one exchange, as the harness uses them:
- directly from the answer (envelope, image, size, seed, pixels, headers);
- as a success probe, `Expectation.success(clause)`: a failure breaks the clause
  (formats, sniffing, optional parts, mask variants);
- as a failure cause, `Expectation.failure(Violation(clause))`: a success, or for
  Vyro a status other than the documented one, breaks it (unknown keys).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image, ImageOps
from test_contracts_requests import (
    AIT,
    BASE,
    IMAGE,
    JPEG,
    MASK,
    TRANSPARENT,
    VYRO,
    WEBP,
    bearer_authorization,
    half_mask,
    partial_mask,
    png,
    spec,
)

from inpaint_conformance.contracts import (
    Api,
    Expectation,
    HttpRequest,
    HttpResponse,
    Outcome,
    RequestVerdict,
    Violation,
    clause,
    validate_request,
    validate_response,
)
from inpaint_conformance.contracts.envelopes import ait_failure, ait_success
from inpaint_conformance.contracts.images import to_rgb
from inpaint_conformance.contracts.rules import SEED_MAX
from inpaint_conformance.contracts.strategies import encode_image, upload

JSON = {"content-type": "application/json"}
SDK_LABEL = ("image.jpeg", "image/jpeg")  # how the official Vyro SDK labels every upload


# -- answers --------------------------------------------------------------------------------
def painted(verdict: RequestVerdict, *, invert=False, drift=0, size=None, fmt=None) -> bytes:
    """What a correct server returns: the input where the mask keeps, changed where it repaints.

    ``invert`` reads the mask the wrong way round, ``drift`` shifts the kept pixels,
    ``size`` resizes the output, ``fmt`` encodes it in another format.
    """
    request = verdict.request
    base, mask = to_rgb(request.image), request.strength_mask()
    if invert:
        mask = ImageOps.invert(mask)
    out = Image.composite(ImageOps.invert(base), base, mask)
    if drift:
        pixels = np.asarray(out).astype(np.int16)
        kept = np.asarray(mask) == 0
        pixels[kept] = np.clip(pixels[kept] + drift, 0, 255)
        out = Image.fromarray(pixels.astype(np.uint8), "RGB")
    if size:
        out = out.resize(size)
    return encode_image(out, fmt or request.response_format)


def ait_ok(seed=12345, status=200, **paint) -> Callable[[RequestVerdict], HttpResponse]:
    return lambda v: HttpResponse(status, JSON, ait_success(painted(v, **paint), seed))


def ait_envelope(body: dict, status=200, headers=None) -> Callable[[RequestVerdict], HttpResponse]:
    """An envelope with a real image where ``body["data"]["image"]`` is None."""

    def answer(v: RequestVerdict) -> HttpResponse:
        envelope = json.loads(ait_success(painted(v), 12345))
        envelope.update(body)
        return HttpResponse(status, {**JSON, **(headers or {})}, json.dumps(envelope).encode())

    return answer


def mime_base64(answer: Callable[[RequestVerdict], HttpResponse]) -> Callable[[RequestVerdict], HttpResponse]:
    """The same answer with `data.image` wrapped at 76 characters, as MIME encoders write it (A20)."""

    def wrapped(v: RequestVerdict) -> HttpResponse:
        response = answer(v)
        envelope = json.loads(response.body)
        text = envelope["data"]["image"]
        envelope["data"]["image"] = "\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))
        return HttpResponse(response.status, response.headers, json.dumps(envelope).encode())

    return wrapped


def ait_fail(status=200, message="refused", headers=None) -> Callable[[RequestVerdict], HttpResponse]:
    return lambda v: HttpResponse(
        status,
        {**JSON, **(headers or {})},
        ait_failure(message) if message else b'{"code": -1, "message": "", "data": null}',
    )


def vyro_ok(status=200, content_type="image/png", **paint) -> Callable[[RequestVerdict], HttpResponse]:
    return lambda v: HttpResponse(status, {"content-type": content_type}, painted(v, **paint))


def vyro_fail(status=400, body=b'{"message": "refused"}', headers=None) -> Callable[[RequestVerdict], HttpResponse]:
    return lambda v: HttpResponse(status, {**JSON, **(headers or {})}, body)


def html(status: int) -> Callable[[RequestVerdict], HttpResponse]:
    return lambda v: HttpResponse(status, {"content-type": "text/html"}, b"<html><body>Not Found</body></html>")


# -- the table ---------------------------------------------------------------------------------
Answer = Callable[[RequestVerdict], HttpResponse]


@dataclass(frozen=True)
class ResponseCase:
    clause: str
    request: Callable[[], HttpRequest]
    good: Answer
    bad: Answer
    expect: Expectation | None = None  # None: what the request's own verdict implies
    note: str = ""
    gap: str | None = None  # a known contracts gap: the bad answer is not flagged yet

    @property
    def api(self) -> Api:
        return clause(self.clause).api

    @property
    def id(self) -> str:
        return f"{self.clause}[{self.note}]" if self.note else self.clause


def row(clause_id, request, good, bad, expect=None, note="", gap=None) -> ResponseCase:
    build = request.build if hasattr(request, "build") else request
    return ResponseCase(clause_id, build, good, bad, expect, note, gap)


def probe(clause_id: str) -> Expectation:
    return Expectation.success(clause_id)


def because(clause_id: str, message: str) -> Expectation:
    return Expectation.failure(Violation(clause_id, message))


def floor(clause_id: str) -> Expectation:
    """Either answer is allowed; only a 5xx breaks the clause (how the harness probes MAY clauses)."""
    return Expectation(Outcome.ANY, clauses=(clause_id,))


ANY_5XX_GAP = (
    "contracts gap: under an 'any' expectation validate_response never flags a 5xx, so this clause's "
    "floor (never a 5xx) is judged only by harness/runner.py; fix: in check_outcome, when the expectation "
    "is Outcome.ANY and the status is >= 500, fail each of expect.clauses"
)
SMALL_MASK = half_mask((48, 32))
AIT_SEEDED = spec(AIT, fields={"seed": "7"})
AIT_BAD_SEED = spec(AIT, fields={"seed": "-1"})
ALPHA_ONLY = spec(AIT, files={"image": upload(png(TRANSPARENT))}, drop=["mask"])
VYRO_NO_PROMPT = spec(VYRO, drop=["prompt"])

RESPONSE_CASES: list[ResponseCase] = [
    # -- AIThriving: the envelope (A3-A5) --------------------------------------------------------
    row("ait.envelope.json", BASE[AIT], ait_ok(), html(200), note="html"),
    row(
        "ait.envelope.json",
        AIT_BAD_SEED,
        ait_fail(),
        lambda v: HttpResponse(200, JSON, b'{"code": -1, "message": "x"}'),
        note="no data",
    ),
    row("ait.success.status", BASE[AIT], ait_ok(), ait_ok(status=201)),
    row("ait.success.code", BASE[AIT], ait_ok(), ait_envelope({"message": "ok"})),
    row(
        "ait.success.data",
        BASE[AIT],
        ait_ok(),
        lambda v: HttpResponse(
            200,
            JSON,
            json.dumps(
                {"code": 0, "message": "success", "data": json.loads(ait_success(painted(v), 1))["data"]["image"]}
            ).encode(),
        ),
        note="bare string, as the document's example",
    ),
    row("ait.success.image", BASE[AIT], ait_ok(), ait_envelope({"data": {"image": "not base64 !", "seed": 1}})),
    row(
        "ait.success.base64", BASE[AIT], ait_ok(), mime_base64(ait_ok()), note="line breaks every 76 characters (MIME)"
    ),
    row("ait.failure.envelope", AIT_BAD_SEED, ait_fail(), ait_fail(message=""), note="empty message"),
    row(
        "ait.failure.envelope",
        AIT_BAD_SEED,
        ait_fail(),
        ait_envelope({"code": 1, "message": "bad seed", "data": None}),
        note="code 1",
    ),
    row("ait.failure.status", AIT_BAD_SEED, ait_fail(400), ait_fail(302)),
    row("ait.failure.not_5xx", AIT_BAD_SEED, ait_fail(422), ait_fail(503)),
    row(
        "ait.auth.invalid",
        spec(AIT, key="wrong-key"),
        ait_fail(401),
        ait_ok(),
        expect=because("ait.auth.invalid", "the key is unknown to the server"),
    ),
    row("ait.auth.status", spec(AIT, key=None), ait_fail(401), ait_fail(500)),
    row("ait.rate.retry_after", BASE[AIT], ait_fail(429, headers={"retry-after": "2"}), ait_fail(429)),
    # -- AIThriving: what a success must be (A6-A16) ------------------------------------------------
    row("ait.transport.post", BASE[AIT], ait_ok(), html(404), expect=probe("ait.transport.post")),
    row("ait.auth.header", BASE[AIT], ait_ok(), ait_fail(401), expect=probe("ait.auth.header")),
    row(
        "ait.image.formats",
        spec(AIT, files={"image": upload(WEBP)}),
        ait_ok(),
        ait_fail(),
        expect=probe("ait.image.formats"),
    ),
    row(
        "ait.image.sniffed",
        spec(AIT, files={"image": upload(png(IMAGE), filename=SDK_LABEL[0], content_type=SDK_LABEL[1])}),
        ait_ok(),
        ait_fail(),
        expect=probe("ait.image.sniffed"),
    ),
    row(
        "ait.negative_prompt.optional",
        spec(AIT, fields={"negative_prompt": "blurry"}),
        ait_ok(),
        ait_fail(),
        expect=probe("ait.negative_prompt.optional"),
    ),
    row("ait.mask.optional", ALPHA_ONLY, ait_ok(), ait_fail(), expect=probe("ait.mask.optional")),
    row("ait.mask.alpha", ALPHA_ONLY, ait_ok(), ait_fail(), expect=probe("ait.mask.alpha")),
    row(
        "ait.mask.wins",
        spec(AIT, files={"image": upload(png(TRANSPARENT))}),
        ait_ok(),
        ait_fail(),
        expect=probe("ait.mask.wins"),
    ),
    row(
        "ait.mask.partial",
        spec(AIT, files={"mask": upload(png(partial_mask()), name="mask")}),
        ait_ok(),
        ait_fail(),
        expect=probe("ait.mask.partial"),
    ),
    row(
        "ait.mask.colour",
        spec(AIT, files={"mask": upload(png(half_mask(mode="RGB")), name="mask")}),
        ait_ok(),
        ait_fail(),
        expect=probe("ait.mask.colour"),
    ),
    row(
        "ait.mask.resize",
        spec(AIT, files={"mask": upload(png(SMALL_MASK), name="mask")}),
        ait_ok(),
        ait_fail(),
        expect=probe("ait.mask.resize"),
    ),
    row("ait.mask.meaning", BASE[AIT], ait_ok(), ait_ok(invert=True)),
    row("ait.kept_pixels", BASE[AIT], ait_ok(), ait_ok(drift=20)),
    row("ait.output.size", BASE[AIT], ait_ok(), ait_ok(size=(88, 64))),
    row("ait.output_format.honoured", spec(AIT, fields={"output_format": "webp"}), ait_ok(), ait_ok(fmt="png")),
    row("ait.output_format.default", BASE[AIT], ait_ok(), ait_ok(fmt="jpeg")),
    row("ait.seed.echo", AIT_SEEDED, ait_ok(seed=7), ait_ok(seed=8)),
    row("ait.seed.random_range", BASE[AIT], ait_ok(seed=1), ait_ok(seed=0), note="0"),
    row(
        "ait.seed.random_range",
        spec(AIT, fields={"seed": "0"}),
        ait_ok(seed=SEED_MAX),
        ait_ok(seed=SEED_MAX + 1),
        note="above",
    ),
    row(
        "ait.unknown_fields",
        spec(AIT, fields={"style": "vivid"}),
        ait_ok(),
        ait_fail(500),
        expect=floor("ait.unknown_fields"),
    ),
    # -- Vyro --------------------------------------------------------------------------------------
    row("vyro.transport.post", BASE[VYRO], vyro_ok(), html(404), expect=probe("vyro.transport.post")),
    row("vyro.auth.header", BASE[VYRO], vyro_ok(), vyro_fail(401), expect=probe("vyro.auth.header")),
    row(
        "vyro.auth.invalid",
        spec(VYRO, key="wrong-token"),
        vyro_fail(401),
        vyro_fail(400),
        expect=because("vyro.auth.invalid", "the token is unknown to the server"),
        note="400",
    ),
    row(
        "vyro.auth.invalid",
        spec(VYRO, key="wrong-token"),
        vyro_fail(401),
        vyro_ok(),
        expect=because("vyro.auth.invalid", "the token is unknown to the server"),
        note="served",
    ),
    row(
        "vyro.unknown_fields",
        spec(VYRO, fields={"style": "vivid"}),
        vyro_fail(400),
        vyro_fail(500),
        expect=floor("vyro.unknown_fields"),
    ),
    row(
        "vyro.auth.authorization_bearer",
        lambda: bearer_authorization(VYRO),
        vyro_fail(401),
        vyro_fail(500),
        expect=floor("vyro.auth.authorization_bearer"),
    ),
    row("vyro.success.status", BASE[VYRO], vyro_ok(), vyro_ok(status=201), expect=probe("vyro.success.status")),
    row("vyro.success.content_type", BASE[VYRO], vyro_ok(), vyro_ok(content_type="image/jpeg")),
    row("vyro.success.png", BASE[VYRO], vyro_ok(), vyro_ok(fmt="jpeg")),
    row("vyro.output.size", BASE[VYRO], vyro_ok(), vyro_ok(size=(96, 63))),
    row(
        "vyro.image.formats",
        spec(VYRO, files={"image": upload(JPEG)}),
        vyro_ok(),
        vyro_fail(),
        expect=probe("vyro.image.formats"),
    ),
    row(
        "vyro.image.sniffed",
        spec(
            VYRO,
            files={
                "image": upload(png(IMAGE), filename=SDK_LABEL[0], content_type=SDK_LABEL[1]),
                "mask": upload(png(MASK), filename=SDK_LABEL[0], content_type=SDK_LABEL[1]),
            },
        ),
        vyro_ok(),
        vyro_fail(),
        expect=probe("vyro.image.sniffed"),
    ),
    row(
        "vyro.mask.formats",
        spec(VYRO, files={"mask": upload(encode_image(MASK, "jpeg"), name="mask")}),
        vyro_ok(),
        vyro_fail(),
        expect=probe("vyro.mask.formats"),
    ),
    row("vyro.model_version.default", BASE[VYRO], vyro_ok(), vyro_fail(), expect=probe("vyro.model_version.default")),
    row(
        "vyro.mask.partial",
        spec(VYRO, files={"mask": upload(png(partial_mask()), name="mask")}),
        vyro_ok(),
        vyro_fail(),
        expect=probe("vyro.mask.partial"),
    ),
    row("vyro.mask.meaning", BASE[VYRO], vyro_ok(), vyro_ok(invert=True)),
    row("vyro.kept_pixels", BASE[VYRO], vyro_ok(), vyro_ok(drift=20)),
    row("vyro.errors.4xx", VYRO_NO_PROMPT, vyro_fail(400), vyro_fail(500)),
    row(
        "vyro.mask.size",
        spec(VYRO, files={"mask": upload(png(SMALL_MASK), name="mask")}),
        vyro_fail(400),
        vyro_fail(500),
        expect=floor("vyro.mask.size"),
    ),
    row("vyro.rate.retry_after", BASE[VYRO], vyro_fail(429, headers={"retry-after": "1"}), vyro_fail(429)),
]

# MAY clauses with nothing a server can do wrong on one exchange: only the accepting side is testable.
ACCEPT_ONLY_CASES: list[tuple[str, Callable[[], HttpRequest], Answer]] = [
    ("vyro.errors.body", VYRO_NO_PROMPT.build, html(400)),  # V8: any error body, never judged
    ("vyro.errors.body", VYRO_NO_PROMPT.build, vyro_fail(400, body=b"")),
    (
        "vyro.errors.body",
        VYRO_NO_PROMPT.build,
        vyro_fail(400, body=b'{"status": 400, "code": 400, "error": "Bad Request"}'),
    ),
    ("vyro.rate.limit", BASE[VYRO].build, vyro_fail(429, headers={"retry-after": "1"})),  # B5: at any time
    ("vyro.rate.limit", BASE[VYRO].build, vyro_fail(402, body=b"quota exhausted")),
]


def judge(case: ResponseCase, answer: Answer):
    verdict = validate_request(case.api, case.request())
    return validate_response(case.api, verdict, answer(verdict), case.expect)


@pytest.mark.parametrize("case", RESPONSE_CASES, ids=lambda c: c.id)
def test_conforming_answer_breaks_nothing(case: ResponseCase):
    result = judge(case, case.good)
    assert result.violations == [], [str(v) for v in result.violations]


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c.gap)) if c.gap else c for c in RESPONSE_CASES],
    ids=lambda c: c.id,
)
def test_violating_answer_breaks_the_clause(case: ResponseCase):
    result = judge(case, case.bad)
    flagged = {v.clause for v in result.violations}
    assert case.clause in flagged, f"flagged {sorted(flagged)}"
    assert all(v.message.strip() for v in result.violations)


@pytest.mark.parametrize(("clause_id", "request_", "answer"), ACCEPT_ONLY_CASES, ids=[c[0] for c in ACCEPT_ONLY_CASES])
def test_may_clause_answers_are_accepted(clause_id, request_, answer):
    api = clause(clause_id).api
    verdict = validate_request(api, request_())
    result = validate_response(api, verdict, answer(verdict))
    assert result.violations == [], [str(v) for v in result.violations]
    assert result.outcome in (Outcome.FAILURE, Outcome.REFUSED)


def test_refusals_are_judged_by_no_other_clause():
    """B5: a 429 to a request the server must serve is a refusal, not a failed success probe."""
    verdict = validate_request(AIT, BASE[AIT].build())
    result = validate_response(
        AIT, verdict, ait_fail(429, headers={"retry-after": "1"})(verdict), probe("ait.image.formats")
    )
    assert (result.outcome, result.violations) == (Outcome.REFUSED, [])

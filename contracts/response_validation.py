"""Judging a response: what a server answered to a request, against the server clauses.

Each check is a small named function over one context; `validate_response` runs
them in order. The harness judges servers with it, the proxy judges live traffic,
the fake's own tests judge the fake: one set of rules for all three.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
from dataclasses import dataclass, field

from PIL import Image

from .catalog import clause as catalog_clause
from .clauses import Api, Level
from .exchange import HttpResponse
from .images import ImageDecodeError, decode_image, describe_bytes, region_psnr, sniff_format, to_rgb
from .request_validation import RequestVerdict
from .rules import KEPT_PSNR_DB, OUTPUT_FORMATS, RANDOM_SEED_MIN, SEED_MAX, kept_and_repainted
from .violations import Violation

# Answers a server may give to any request (B2, B5) that say "not now", not "wrong".
REFUSAL_STATUSES = {Api.AITHRIVING: {413, 429}, Api.VYRO: {402, 413, 429}}
_ANY_4XX = frozenset(range(400, 500))
# V4/V5/V2 name the status for these caller errors; other Vyro caller errors are any 4xx (V8).
_VYRO_FAILURE_STATUS = {"vyro.auth.missing": {401}, "vyro.auth.invalid": {401}, "vyro.limits.size": {400, 413}}
_VYRO_ANY_4XX = {"vyro.robust.malformed", "vyro.limits.dimensions", "vyro.transport.multipart", "vyro.transport.post"}


class Outcome(str, enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    REFUSED = "refused"  # 429/413/402: allowed at any time, judged by no other clause
    ANY = "any"


@dataclass(frozen=True)
class Expectation:
    """What a correct server answers. A failure expectation carries the request's violations."""

    outcome: Outcome
    because: tuple[Violation, ...] = ()
    clauses: tuple[str, ...] = ()  # a success probe's clauses: a wrong answer fails these

    @classmethod
    def success(cls, *clauses: str) -> Expectation:
        return cls(Outcome.SUCCESS, clauses=clauses)

    @classmethod
    def failure(cls, *because: Violation) -> Expectation:
        return cls(Outcome.FAILURE, because=because)

    @classmethod
    def from_request(cls, verdict: RequestVerdict) -> Expectation:
        # B2/B4 let a server serve what it MAY refuse (a long prompt, a big upload).
        refused = [v for v in verdict.refused if v.level is not Level.MAY]
        return cls.failure(*refused) if refused else cls(Outcome.ANY)


def allowed_failure_statuses(api: Api, because: tuple[Violation, ...]) -> frozenset[int]:
    """HTTP statuses a correct server may use to refuse a request with these violations."""
    if api is Api.AITHRIVING:
        return frozenset({200}) | _ANY_4XX  # A5: 200 and 4xx equally allowed
    allowed: set[int] = set()
    for violation in because:
        if violation.clause in _VYRO_ANY_4XX:
            allowed |= _ANY_4XX
        else:
            allowed |= _VYRO_FAILURE_STATUS.get(violation.clause, {400})
    return frozenset(allowed or _ANY_4XX)


@dataclass
class ResponseVerdict:
    outcome: Outcome
    violations: list[Violation] = field(default_factory=list)
    observations: dict = field(default_factory=dict)
    image_bytes: bytes | None = None
    image: Image.Image | None = None

    @property
    def seed(self) -> int | None:
        return self.observations.get("seed")


@dataclass
class _Context:
    api: Api
    verdict: RequestVerdict
    response: HttpResponse
    expect: Expectation
    result: ResponseVerdict
    body: object = None

    def fail(self, clause: str, message: str) -> None:
        self.result.violations.append(Violation(clause, message))

    @property
    def p(self) -> str:
        return self.api.prefix


def validate_response(
    api: Api | str, request: RequestVerdict, response: HttpResponse, expect: Expectation | None = None
) -> ResponseVerdict:
    """Every server clause this answer breaks, what was observed, and the decoded image."""
    api = Api.parse(api)
    expect = expect or Expectation.from_request(request)
    ctx = _Context(api, request, response, expect, ResponseVerdict(Outcome.ANY))
    ctx.result.observations.update(status=response.status, content_type=response.headers.get("content-type"))
    classify = _classify_aithriving if api is Api.AITHRIVING else _classify_vyro
    classify(ctx)
    if ctx.result.outcome is not Outcome.REFUSED:
        check_outcome(ctx)
    if ctx.result.outcome is Outcome.SUCCESS:
        for check in (check_image, check_seed, check_pixels):
            check(ctx)
    return ctx.result


def _classify_aithriving(ctx: _Context) -> None:
    """A3/A4/A5: read the envelope; decide success, failure or refusal."""
    res, status = ctx.response, ctx.response.status
    try:
        body = json.loads(res.body)
    except (ValueError, UnicodeDecodeError):
        body = None
    ctx.body = body
    if not isinstance(body, dict) or not {"code", "message", "data"} <= body.keys():
        ctx.fail(
            "ait.envelope.json",
            f"expected a JSON object with code, message and data, got HTTP {status}: {res.excerpt(120)}",
        )
        ctx.result.outcome = (
            Outcome.REFUSED
            if status in REFUSAL_STATUSES[ctx.api]
            else (Outcome.FAILURE if status != 200 else Outcome.ANY)
        )
        return
    code, message = body["code"], body["message"]
    ctx.result.observations.update(code=code, message=message)
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(message, str):
        ctx.fail("ait.envelope.json", f"expected code an int and message a str, got code={code!r}, message={message!r}")
    if status in REFUSAL_STATUSES[ctx.api]:
        ctx.result.outcome = Outcome.REFUSED
        if status == 429 and "retry-after" not in res.headers:
            ctx.fail("ait.rate.retry_after", "429 without a Retry-After header")
        return
    if code == 0:
        ctx.result.outcome = Outcome.SUCCESS
        if status != 200:
            ctx.fail("ait.success.status", f"expected HTTP 200 with code 0, got HTTP {status}")
        if message != "success":
            ctx.fail("ait.success.code", f"expected message 'success' with code 0, got {message!r}")
        return
    ctx.result.outcome = Outcome.FAILURE
    if code != -1:
        ctx.fail("ait.failure.envelope", f"code {code!r} is neither 0 (success) nor -1 (failure)")
    if not isinstance(message, str) or not message.strip():
        ctx.fail("ait.failure.envelope", f"a failure needs a non-empty message, got {message!r}")
    # A 5xx is the server's own failure (an engine crash may be one); check_outcome flags it
    # when the request was a caller error (ait.failure.not_5xx).
    if status < 500 and status != 200 and status not in _ANY_4XX:
        ctx.fail("ait.failure.status", f"a failure came with HTTP {status}: expected 200 or a 4xx")


def _classify_vyro(ctx: _Context) -> None:
    status = ctx.response.status
    if status in REFUSAL_STATUSES[ctx.api]:
        ctx.result.outcome = Outcome.REFUSED
        if status == 429 and "retry-after" not in ctx.response.headers:
            ctx.fail("vyro.rate.retry_after", "429 without a Retry-After header")
        return
    # Any 2xx is the server saying "success"; V3 names 200, so another 2xx (201, 202) is a
    # success with the wrong status, judged like AIThriving's code 0 with HTTP != 200.
    ctx.result.outcome = Outcome.SUCCESS if 200 <= status < 300 else Outcome.FAILURE
    ctx.result.observations["message"] = ctx.response.excerpt(200) if ctx.result.outcome is Outcome.FAILURE else None
    if ctx.result.outcome is Outcome.SUCCESS and status != 200:
        ctx.fail("vyro.success.status", f"expected HTTP 200 for a success, got HTTP {status}")


def check_outcome(ctx: _Context) -> None:
    """The answer's kind matches the request: failures for broken requests, success otherwise."""
    res, status, outcome = ctx.result, ctx.response.status, ctx.expect.outcome
    got = f"HTTP {status}" + (f" {res.observations.get('message')!r}" if res.outcome is Outcome.FAILURE else "")
    if outcome is Outcome.FAILURE:
        allowed = allowed_failure_statuses(ctx.api, ctx.expect.because)
        for cause in ctx.expect.because:
            if res.outcome is Outcome.SUCCESS:
                ctx.fail(cause.clause, f"{cause.message}: expected a failure, got a success ({got})")
            elif ctx.api is Api.VYRO and status not in allowed:
                ctx.fail(cause.clause, f"{cause.message}: expected HTTP {_statuses(allowed)}, got {got}")
            elif status >= 500:
                ctx.fail(cause.clause, f"{cause.message}: expected a caller error, got {got}")
        if status >= 500:
            ctx.fail(
                "ait.failure.not_5xx" if ctx.api is Api.AITHRIVING else "vyro.errors.4xx",
                f"a caller error was answered with HTTP {status}",
            )
        auth_causes = {"ait.auth.missing", "ait.auth.invalid"} & {c.clause for c in ctx.expect.because}
        if auth_causes and status != 200 and status not in _ANY_4XX:
            ctx.fail("ait.auth.status", f"an auth failure came with HTTP {status}: expected 200 or a 4xx (401)")
    elif outcome is Outcome.ANY and status >= 500:
        # Either answer is allowed, but never a server error (B1).
        for clause in ctx.expect.clauses:
            ctx.fail(clause, f"expected a success or a caller error, got {got}")
        _server_error_floor(ctx, ctx.expect.clauses, got)
    elif outcome is Outcome.SUCCESS and res.outcome is not Outcome.SUCCESS:
        focus = ctx.expect.clauses or (f"{ctx.p}.transport.post",)
        for clause in focus:
            ctx.fail(clause, f"expected a success, got {got}")
        if status >= 500:
            _server_error_floor(ctx, focus, got)


def server_error_floor(api: Api, focus: tuple[str, ...] | list[str]) -> str | None:
    """B1: no input yields a 5xx (or a hang). The clause that carries that floor when the
    clauses a probe is about are only SHOULD or MAY (a colour mask, an unknown field), or None
    when one of them is a MUST already: a crash must not pass for a lesser clause's failure."""
    if any(catalog_clause(c).level is Level.MUST for c in focus):
        return None
    return f"{api.prefix}.robust.malformed"


def _server_error_floor(ctx: _Context, focus: tuple[str, ...], got: str) -> None:
    floor = server_error_floor(ctx.api, focus)
    if floor is not None:
        ctx.fail(floor, f"no input may be answered with a server error (B1), got {got}")


def check_image(ctx: _Context) -> None:
    """A4/A10/A11, V3: the image is there, in the right format, at the input's size."""
    request = ctx.verdict.request
    wanted = request.response_format if request else "png"
    if ctx.api is Api.AITHRIVING:
        data = ctx.body.get("data") if isinstance(ctx.body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("image"), str):
            shape = "a bare string" if isinstance(data, str) else type(data).__name__
            ctx.fail("ait.success.data", f'expected data {{"image": <base64>, "seed": <int>}}, got {shape}')
            return
        raw = _decode_base64(ctx, data["image"])
        if raw is None:
            return
        format_clause = (
            "ait.output_format.honoured" if request and request.output_format else "ait.output_format.default"
        )
        decode_clause = "ait.success.image"
    else:
        raw = ctx.response.body
        media = ctx.response.headers.media_type()
        if media != "image/png":
            ctx.fail("vyro.success.content_type", f"expected Content-Type image/png, got {media or 'none'}")
        format_clause = decode_clause = "vyro.success.png"
    fmt = sniff_format(raw)
    ctx.result.observations["format"] = fmt
    ctx.result.image_bytes = raw
    if fmt != wanted:
        ctx.fail(format_clause, f"expected {wanted.upper()} bytes, got {describe_bytes(raw)}")
    try:
        image = decode_image(raw, frozenset(OUTPUT_FORMATS))
    except ImageDecodeError as exc:
        ctx.fail(decode_clause, f"the output image does not decode: {exc}")
        return
    ctx.result.image = image
    ctx.result.observations["size"] = list(image.size)
    if request is not None and request.image is not None and image.size != request.image.size:
        (w, h), (iw, ih) = image.size, request.image.size
        ctx.fail(f"{ctx.p}.output.size", f"output is {w}x{h}, expected the input's {iw}x{ih}")


def check_seed(ctx: _Context) -> None:
    """A14/A15: a given seed is echoed; a random one is reported and replayable."""
    if ctx.api is not Api.AITHRIVING or not isinstance(ctx.body, dict) or not isinstance(ctx.body.get("data"), dict):
        return
    seed = ctx.body["data"].get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        ctx.fail("ait.success.data", f"expected data.seed an int, got {seed!r}")
        return
    ctx.result.observations["seed"] = seed
    sent = ctx.verdict.request.seed if ctx.verdict.request else None
    if not sent and any(v.clause in ("ait.seed.range", "ait.seed.integer") for v in ctx.verdict.violations):
        return  # a seed sent out of range or not an integer is not a random seed: seed.range judges the answer
    if sent:
        if seed != sent:
            ctx.fail("ait.seed.echo", f"sent seed {sent}, data.seed is {seed}")
    elif not RANDOM_SEED_MIN <= seed <= SEED_MAX:
        ctx.fail(
            "ait.seed.random_range",
            f"random seed {seed} is outside [{RANDOM_SEED_MIN}, {SEED_MAX}]: it cannot be replayed",
        )


def check_pixels(ctx: _Context) -> None:
    """A8/A12, V7: kept pixels are kept, repainted ones are not (lossless output only)."""
    request, image = ctx.verdict.request, ctx.result.image
    if request is None or request.image is None or image is None or image.size != request.image.size:
        return
    if ctx.result.observations.get("format") != "png":
        return  # lossy formats are not judged pixel by pixel (A12)
    mask = request.strength_mask()
    if mask is None:
        return
    resized = request.mask is not None and request.mask.size != request.image.size
    kept, repainted = kept_and_repainted(mask, margin=2 if resized else 0)
    original = to_rgb(request.image)
    kept_db = region_psnr(original, image, kept) if kept.any() else None
    repaint_db = region_psnr(original, image, repainted) if repainted.any() else None
    ctx.result.observations.update(psnr_kept=_db(kept_db), psnr_repainted=_db(repaint_db))
    if kept_db is not None and kept_db < KEPT_PSNR_DB:
        ctx.fail(
            f"{ctx.p}.kept_pixels",
            f"kept pixels changed: PSNR {kept_db:.1f} dB where the mask is 0, expected >= {KEPT_PSNR_DB:.0f} dB",
        )
    if kept_db is not None and repaint_db is not None and not kept_db > repaint_db:
        ctx.fail(
            f"{ctx.p}.mask.meaning",
            f"the region the mask keeps (PSNR {_db(kept_db)} dB) is not closer to the input than the region it repaints "
            f"(PSNR {_db(repaint_db)} dB): mask read inverted or ignored?",
        )


def _decode_base64(ctx: _Context, text: str) -> bytes | None:
    """A4/A20: strict RFC 4648 base64; line breaks are only a SHOULD failure (the documented client decodes them)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        strict_error = exc
    if "".join(text.split()) != text and not text.lstrip().lower().startswith("data:"):
        try:
            raw = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raw = None
        if raw is not None:
            ctx.fail(
                "ait.success.base64",
                "data.image has line breaks or spaces inside its base64: RFC 4648 base64 has none "
                "unless a specification asks for them (Python's b64decode and atob accept them)",
            )
            return raw
    ctx.fail("ait.success.image", f"data.image is not valid base64: {strict_error}{_base64_hint(text)}")
    return None


def _base64_hint(text: str) -> str:
    """Why strict base64 refused it, where a common mistake explains it."""
    if text.lstrip().lower().startswith("data:"):
        return " (a data: URL; the document returns the bare base64 of the image)"
    if any(ch in text for ch in "\r\n\t "):
        return " (it has line breaks or spaces: RFC 4648 base64 has none unless the document asks for them, and it does not)"
    return ""


def _db(value: float | None) -> float | str | None:
    if value is None:
        return None
    return "inf" if math.isinf(value) else round(value, 2)


def _statuses(allowed: frozenset[int]) -> str:
    return "4xx" if allowed >= _ANY_4XX else " or ".join(str(s) for s in sorted(allowed))

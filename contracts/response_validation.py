"""Judging a response: what a server answered to a request, against the server clauses.

Each check is a small named function over one context; `validate_response` runs
them in order. The harness judges servers with it, the proxy judges live traffic,
the fake's own tests judge the fake: one set of rules for all three.

Every check says which clauses it evaluated (`ResponseVerdict.checked`, held or
broken) and which it could not judge from this answer and why (`unjudged`): a
caller passes a clause only where a check of it ran and held.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .catalog import clause as catalog_clause
from .clauses import Api, Level
from .exchange import HttpResponse
from .request_validation import RequestVerdict
from .response_content import check_image, check_pixels, check_seed, pixel_clauses
from .response_verdicts import Expectation, Judging, Outcome, ResponseVerdict
from .rules import VYRO_ANY_4XX, VYRO_DEFAULT_FAILURE_STATUS, VYRO_FAILURE_STATUSES
from .violations import Violation

# Answers a server may give to any request (B2, B5) that say "not now", not "wrong".
REFUSAL_STATUSES = {Api.AITHRIVING: {413, 429}, Api.VYRO: {402, 413, 429}}
_ANY_4XX = frozenset(range(400, 500))


def allowed_failure_statuses(api: Api, because: tuple[Violation, ...]) -> frozenset[int]:
    """HTTP statuses a correct server may use to refuse a request with these violations."""
    if api is Api.AITHRIVING:
        return frozenset({200}) | _ANY_4XX  # A5: 200 and 4xx equally allowed
    allowed: set[int] = set()
    for violation in because:
        if violation.clause in VYRO_ANY_4XX:
            allowed |= _ANY_4XX
        else:
            allowed |= VYRO_FAILURE_STATUSES.get(violation.clause, {VYRO_DEFAULT_FAILURE_STATUS})
    return frozenset(allowed or _ANY_4XX)


def validate_response(
    api: Api | str,
    request: RequestVerdict,
    response: HttpResponse,
    expect: Expectation | None = None,
    *,
    quote: Callable[[str], str] = str,
) -> ResponseVerdict:
    """Every server clause this answer breaks, every one it was judged on, and the decoded image.

    ``quote`` is applied to text the server wrote (its message, a body excerpt) before it
    is kept in an observation or a violation: the harness removes keys a server echoes.
    """
    api = Api.parse(api)
    expect = expect or Expectation.from_request(request)
    ctx = Judging(api, request, response, expect, ResponseVerdict(Outcome.ANY), quote)
    ctx.result.observations.update(status=response.status, content_type=response.headers.get("content-type"))
    classify = _classify_aithriving if api is Api.AITHRIVING else _classify_vyro
    classify(ctx)
    if ctx.result.outcome is Outcome.SUCCESS:
        for check in (check_image, check_seed, check_pixels):
            check(ctx)
    if ctx.result.outcome is Outcome.REFUSED:
        for clause_id in (*expect.clauses, *(v.clause for v in expect.because)):
            ctx.cannot_judge(clause_id, f"the server refused the probe with HTTP {response.status}")
    else:
        check_outcome(ctx)
    for clause_id in ctx.result.checked:
        ctx.result.unjudged.pop(clause_id, None)
    return ctx.result


def _refusal(ctx: Judging, status: int) -> None:
    """B2/B5: a 413, 429 (or Vyro's 402) may come at any time; a 429 should say when to retry."""
    ctx.result.outcome = Outcome.REFUSED
    ctx.check(f"{ctx.p}.limits.size" if status == 413 else f"{ctx.p}.rate.limit")
    if status == 429:
        ctx.check(f"{ctx.p}.rate.retry_after")
        if "retry-after" not in ctx.response.headers:
            ctx.fail(f"{ctx.p}.rate.retry_after", "429 without a Retry-After header")


def _classify_aithriving(ctx: Judging) -> None:
    """A3/A4/A5: read the envelope; decide success, failure or refusal."""
    res, status = ctx.response, ctx.response.status
    try:
        body = json.loads(res.body)
    except (ValueError, UnicodeDecodeError):
        body = None
    ctx.body = body
    ctx.check("ait.envelope.json")
    if not isinstance(body, dict) or not {"code", "message", "data"} <= body.keys():
        ctx.fail(
            "ait.envelope.json",
            f"expected a JSON object with code, message and data, got HTTP {status}: {ctx.excerpt(120)}",
        )
        if status in REFUSAL_STATUSES[ctx.api]:
            _refusal(ctx, status)
        else:
            ctx.result.outcome = Outcome.FAILURE if status != 200 else Outcome.ANY
        return
    code, message = body["code"], body["message"]
    shown = ctx.quote(message) if isinstance(message, str) else message
    ctx.result.observations.update(code=code, message=shown)
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(message, str):
        ctx.fail("ait.envelope.json", f"expected code an int and message a str, got code={code!r}, message={shown!r}")
    if status in REFUSAL_STATUSES[ctx.api]:
        _refusal(ctx, status)
        return
    if code == 0:
        ctx.result.outcome = Outcome.SUCCESS
        ctx.check("ait.success.status", "ait.success.code")
        if status != 200:
            ctx.fail("ait.success.status", f"expected HTTP 200 with code 0, got HTTP {status}")
        if message != "success":
            ctx.fail("ait.success.code", f"expected message 'success' with code 0, got {shown!r}")
        return
    ctx.result.outcome = Outcome.FAILURE
    ctx.check("ait.failure.envelope")
    if code != -1:
        ctx.fail("ait.failure.envelope", f"code {code!r} is neither 0 (success) nor -1 (failure)")
    if not isinstance(message, str) or not message.strip():
        ctx.fail("ait.failure.envelope", f"a failure needs a non-empty message, got {shown!r}")
    # A 5xx is the server's own failure (an engine crash may be one); check_outcome flags it
    # when the request was a caller error (ait.failure.not_5xx).
    if status < 500:
        ctx.check("ait.failure.status")
        if status != 200 and status not in _ANY_4XX:
            ctx.fail("ait.failure.status", f"a failure came with HTTP {status}: expected 200 or a 4xx")


def _classify_vyro(ctx: Judging) -> None:
    """V3/V8: any 2xx is a success (V3 names 200: another 2xx fails vyro.success.status)."""
    status = ctx.response.status
    if status in REFUSAL_STATUSES[ctx.api]:
        _refusal(ctx, status)
        return
    if 200 <= status < 300:
        ctx.result.outcome = Outcome.SUCCESS
        ctx.check("vyro.success.status")
        if status != 200:
            ctx.fail("vyro.success.status", f"expected HTTP 200 for a success, got HTTP {status}")
        return
    ctx.result.outcome = Outcome.FAILURE
    ctx.result.observations["message"] = ctx.excerpt(200)
    ctx.check("vyro.errors.body")  # V8: any body; it is shown, never judged


def check_outcome(ctx: Judging) -> None:
    """The answer's kind matches the request: failures for broken requests, success otherwise."""
    res, status, expect = ctx.result, ctx.response.status, ctx.expect
    got = f"HTTP {status}" + (f" {res.observations.get('message')!r}" if res.outcome is Outcome.FAILURE else "")
    caller_error = "ait.failure.not_5xx" if ctx.api is Api.AITHRIVING else "vyro.errors.4xx"
    if expect.outcome is Outcome.FAILURE:
        allowed = allowed_failure_statuses(ctx.api, expect.because)
        for cause in expect.because:
            ctx.check(cause.clause)
            if res.outcome is Outcome.SUCCESS:
                ctx.fail(cause.clause, f"{cause.message}: expected a failure, got a success ({got})")
            elif ctx.api is Api.VYRO and status not in allowed:
                ctx.fail(cause.clause, f"{cause.message}: expected HTTP {_statuses(allowed)}, got {got}")
            elif status >= 500:
                ctx.fail(cause.clause, f"{cause.message}: expected a caller error, got {got}")
        floor = (*expect.clauses, *([caller_error] if res.outcome is not Outcome.SUCCESS else []))
        _floor(ctx, floor, f"a caller error was answered with a server error: expected a 4xx, got {got}")
        auth_causes = {"ait.auth.missing", "ait.auth.invalid"} & {c.clause for c in expect.because}
        if auth_causes:
            ctx.check("ait.auth.status")
            if status != 200 and status not in _ANY_4XX:
                ctx.fail("ait.auth.status", f"an auth failure came with HTTP {status}: expected 200 or a 4xx (401)")
    elif expect.outcome is Outcome.ANY:
        # Either answer is allowed (a MAY refusal, a free choice), but never a server error (B1).
        judged = (*expect.clauses, *(v.clause for v in expect.because))
        if res.outcome is Outcome.SUCCESS:
            _focus_of_success(ctx, judged)
            return
        refused_as_caller_error = res.outcome is Outcome.FAILURE and status < 500
        _floor(
            ctx,
            (*judged, *([caller_error] if refused_as_caller_error else [])),
            f"expected a success or a caller error, got {got}",
        )
        if status >= 500:
            _server_error_floor(ctx, judged, got)
    elif res.outcome is Outcome.SUCCESS:
        _focus_of_success(ctx, expect.clauses)
    else:
        focus = expect.clauses or (f"{ctx.p}.transport.post",)
        for clause_id in focus:
            ctx.fail(clause_id, f"expected a success, got {got}")
        if status >= 500:
            _server_error_floor(ctx, focus, got)


def _floor(ctx: Judging, clauses: tuple[str, ...], message: str) -> None:
    """Clauses judged here only on the answer not being a server error (B1): ``message`` when it is."""
    for clause_id in clauses:
        if ctx.response.status >= 500:
            ctx.fail(clause_id, message)
        else:
            ctx.check(clause_id)


def _focus_of_success(ctx: Judging, clauses: tuple[str, ...]) -> None:
    """A success shows what the probe was about once its image decoded; clauses about the
    output's pixels are judged by check_pixels alone."""
    pixels = pixel_clauses(ctx.api)
    for clause_id in clauses:
        if clause_id in pixels:
            if clause_id not in ctx.result.checked:
                ctx.cannot_judge(clause_id, "the answer's pixels were not judged")
        elif ctx.result.image is None:
            ctx.cannot_judge(clause_id, "the success's image did not decode, so it showed nothing about it")
        else:
            ctx.check(clause_id)


def server_error_floor(api: Api, focus: tuple[str, ...] | list[str]) -> str | None:
    """B1: no input yields a 5xx (or a hang). The clause that carries that floor when the
    clauses a probe is about are only SHOULD or MAY (a colour mask, an unknown field), or None
    when one of them is a MUST already: a crash must not pass for a lesser clause's failure."""
    if any(catalog_clause(c).level is Level.MUST for c in focus):
        return None
    return f"{api.prefix}.robust.malformed"


def _server_error_floor(ctx: Judging, focus: tuple[str, ...], got: str) -> None:
    floor = server_error_floor(ctx.api, focus)
    if floor is not None:
        ctx.fail(floor, f"no input may be answered with a server error (B1), got {got}")


def _statuses(allowed: frozenset[int]) -> str:
    return "4xx" if allowed >= _ANY_4XX else " or ".join(str(s) for s in sorted(allowed))

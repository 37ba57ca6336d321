"""Validators report what they judged: `ResponseVerdict.checked` (held or broken) and `unjudged`
(with why), so a clause passes only where a check of it ran and held. Also the decision
changes of issue 13: B1 (non-UTF-8 text may be refused or served) and B6 (duplicate fields).
"""

from __future__ import annotations

import httpx
import pytest
from test_contracts_requests import AIT, BASE, IMAGE, KEY, MASK, PROMPT, TRANSPARENT, VYRO, half_mask, png, spec
from test_contracts_responses import JSON, ait_fail, ait_ok, vyro_fail, vyro_ok

from inpaint_conformance.contracts import (
    Expectation,
    HttpRequest,
    HttpResponse,
    Outcome,
    validate_request,
    validate_response,
)
from inpaint_conformance.contracts.rules import AUTH_HEADER
from inpaint_conformance.contracts.strategies import endpoint, upload


def judged(api, request_spec, answer, expect=None):
    verdict = validate_request(api, request_spec.build())
    return verdict, validate_response(api, verdict, answer(verdict), expect)


def broken(result) -> set[str]:
    return {v.clause for v in result.violations}


# -- what a check marks ---------------------------------------------------------------------
def test_a_success_is_judged_on_the_clauses_its_checks_ran():
    _, result = judged(AIT, BASE[AIT], ait_ok(), Expectation.success("ait.image.formats"))
    assert broken(result) == set()
    assert {
        "ait.envelope.json",
        "ait.success.status",
        "ait.success.code",
        "ait.success.data",
        "ait.success.image",
        "ait.success.base64",
        "ait.output.size",
        "ait.output_format.default",
        "ait.seed.random_range",
        "ait.kept_pixels",
        "ait.mask.meaning",
        "ait.image.formats",
    } == result.checked
    # Nothing about failures, seeds sent or credits was judged by this answer.
    assert "ait.failure.envelope" not in result.checked and "ait.seed.echo" not in result.checked


def test_a_refused_request_is_judged_on_its_cause_and_the_failure_envelope():
    request = spec(AIT, fields={"seed": "-1"})
    _, result = judged(AIT, request, ait_fail())
    assert broken(result) == set()
    assert {"ait.seed.range", "ait.failure.envelope", "ait.failure.status", "ait.failure.not_5xx"} <= result.checked
    assert not any(c.startswith("ait.success.") for c in result.checked)


def test_a_lossy_output_leaves_the_pixel_clauses_unjudged_with_the_reason():
    request = spec(AIT, fields={"output_format": "jpeg"})
    _, result = judged(AIT, request, ait_ok(), Expectation.success("ait.mask.colour"))
    assert "ait.kept_pixels" not in result.checked and "ait.mask.meaning" not in result.checked
    assert "JPEG" in result.unjudged["ait.kept_pixels"] and "PNG output only" in result.unjudged["ait.mask.meaning"]
    assert "ait.mask.colour" in result.unjudged  # a pixel clause in focus is not passed by the success alone


def test_a_429_is_judged_by_the_rate_clauses_and_leaves_the_probe_unjudged():
    verdict = validate_request(VYRO, BASE[VYRO].build())
    answer = HttpResponse(429, {"retry-after": "2"}, b"slow down")
    result = validate_response(VYRO, verdict, answer, Expectation.success("vyro.image.formats"))
    assert result.outcome is Outcome.REFUSED
    assert result.checked == {"vyro.rate.limit", "vyro.rate.retry_after"}
    assert "HTTP 429" in result.unjudged["vyro.image.formats"]


def test_a_201_success_fails_vyro_success_status():
    _, result = judged(VYRO, BASE[VYRO], vyro_ok(status=201))
    assert result.outcome is Outcome.SUCCESS
    assert "vyro.success.status" in broken(result)
    assert "vyro.success.png" in result.checked  # the picture was still judged


# -- a broken mask is reported at the clause that gives it its meaning -----------------------------
def test_an_ignored_alpha_channel_fails_the_alpha_clause_not_the_mask_part_clause():
    request = spec(AIT, files={"image": upload(png(TRANSPARENT))}, drop=["mask"])
    _, result = judged(AIT, request, ait_ok(invert=True), Expectation.success("ait.mask.alpha"))
    assert "ait.mask.alpha" in broken(result)
    assert "ait.mask.meaning" not in result.checked


@pytest.mark.parametrize(("api", "answer"), [(AIT, ait_ok), (VYRO, vyro_ok)])
def test_a_resized_mask_read_wrongly_fails_the_mask_clause_and_leaves_the_resize_unjudged(api, answer):
    """One answer cannot tell a resize gone wrong from a mask read wrongly everywhere (a SHOULD on
    Vyro): the resize clause is neither passed nor failed on it."""
    resize = "ait.mask.resize" if api is AIT else "vyro.mask.size"
    request = spec(api, files={"mask": upload(png(half_mask((48, 32))), name="mask")})
    _, good = judged(api, request, answer())
    assert {f"{api.prefix}.mask.meaning", resize} <= good.checked and broken(good) == set()
    _, bad = judged(api, request, answer(invert=True))
    assert f"{api.prefix}.mask.meaning" in broken(bad)
    assert resize not in bad.checked and "cannot tell" in bad.unjudged[resize]


# -- B1: text that is not UTF-8 -------------------------------------------------------------
@pytest.mark.parametrize("api", [AIT, VYRO])
def test_non_utf8_text_may_be_refused_or_served_but_never_a_5xx(api):
    request = spec(api, fields={"prompt": b"caf\xe9 \xff"})
    verdict = validate_request(api, request.build())
    assert [v.clause for v in verdict.violations] == [f"{api.prefix}.text.non_utf8"]
    assert verdict.request.prompt == "café ÿ"  # read as stock parsers read it (latin-1)
    expect = Expectation.from_request(verdict)
    assert expect.outcome is Outcome.ANY and [v.clause for v in expect.because] == [f"{api.prefix}.text.non_utf8"]
    served, refused = (ait_ok(), ait_fail()) if api is AIT else (vyro_ok(), vyro_fail())
    for answer in (served, refused):
        result = validate_response(api, verdict, answer(verdict), expect)
        assert broken(result) == set() and f"{api.prefix}.text.non_utf8" in result.checked
    crashed = validate_response(api, verdict, HttpResponse(500, JSON, b"{}"), expect)
    assert {f"{api.prefix}.text.non_utf8", f"{api.prefix}.robust.malformed"} <= broken(crashed)


def test_a_non_utf8_seed_is_still_not_an_integer():
    verdict = validate_request(AIT, spec(AIT, fields={"seed": b"7\xff"}).build())
    assert {"ait.seed.integer", "ait.text.non_utf8"} == {v.clause for v in verdict.violations}
    assert Expectation.from_request(verdict).outcome is Outcome.FAILURE


# -- B6: a field sent twice -----------------------------------------------------------------
def sent_twice(api, fields: dict, image_parts: list[bytes] | None = None) -> HttpRequest:
    """A multipart request as httpx writes one with repeated names (a list value sends the field twice)."""
    files = [("image", ("image.png", data, "image/png")) for data in (image_parts or [png(IMAGE)])]
    files.append(("mask", ("mask.png", png(MASK), "image/png")))
    request = httpx.Request(
        "POST", endpoint(api), headers={AUTH_HEADER[api]: KEY}, data={"prompt": PROMPT, **fields}, files=files
    )
    return HttpRequest("POST", str(request.url), list(request.headers.items()), request.read())


def test_a_duplicated_image_leaves_either_reading_free():
    """The second `image` is not an image: a server reading it refuses, one reading the first serves."""
    verdict = validate_request(AIT, sent_twice(AIT, {}, [png(IMAGE), b"not an image"]))
    assert verdict.violations == [] and verdict.ambiguous and verdict.request.duplicated == ["image"]
    expect = Expectation.from_request(verdict)
    assert expect.outcome is Outcome.ANY
    for answer in (ait_ok(), ait_fail()):
        assert broken(validate_response(AIT, verdict, answer(verdict), expect)) == set()
    served = validate_response(AIT, verdict, ait_ok(size=(40, 30))(verdict), expect)
    assert "ait.output.size" not in served.checked and "B6" in served.unjudged["ait.output.size"]


def test_a_duplicated_seed_is_not_judged_for_its_echo():
    verdict = validate_request(AIT, sent_twice(AIT, {"seed": ["5", "6"]}))
    assert verdict.violations == [] and verdict.request.duplicated == ["seed"]
    result = validate_response(AIT, verdict, ait_ok(seed=6)(verdict), Expectation.from_request(verdict))
    assert broken(result) == set() and "ait.seed.echo" in result.unjudged


def test_a_request_both_readings_must_refuse_is_still_refused():
    verdict = validate_request(AIT, sent_twice(AIT, {"seed": ["-1", "abc"]}))
    assert [v.clause for v in verdict.violations] == ["ait.seed.range"]  # the first reading's reason
    assert Expectation.from_request(verdict).outcome is Outcome.FAILURE
    one_good = validate_request(AIT, sent_twice(AIT, {"seed": ["-1", "7"]}))
    assert one_good.violations == [] and Expectation.from_request(one_good).outcome is Outcome.ANY


def test_a_field_sent_twice_with_the_same_value_is_no_duplicate():
    verdict = validate_request(AIT, sent_twice(AIT, {"seed": ["7", "7"]}))
    assert not verdict.ambiguous and verdict.request.seed == 7

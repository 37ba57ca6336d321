"""B1: no client input yields a 5xx or an exception, in the validators, the fake, the proxy
and check-client; A13 spellings; A6 truncated PNGs; error messages without object reprs."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
from hostile_support import (
    KEY,
    AsgiCaller,
    deep_png,
    hostile_requests,
    interlaced_png,
    is_failure_shape,
    multipart,
    png,
)
from hypothesis import HealthCheck, given, settings
from rich.console import Console

from inpaint_conformance.contracts import Api, HttpRequest, validate_request
from inpaint_conformance.contracts.images import ImageDecodeError, decode_image
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS, PATHS, api_for_path
from inpaint_conformance.fakes import FakeProvider
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.proxy import create_proxy_app

# 1,000 arbitrary requests per property: the issue's bar. Each takes milliseconds.
HOSTILE = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _request(api: Api, parts, boundary: str = "hostile-boundary", key: str = KEY) -> HttpRequest:
    header = "authorization" if api is Api.AITHRIVING else "bearer"
    return HttpRequest(
        "POST",
        f"http://127.0.0.1:8000{PATHS[api]}",
        {header: key, "content-type": f"multipart/form-data; boundary={boundary}"},
        multipart(parts, boundary),
    )


def _ait(seed: bytes | None = None, image: bytes | None = None, boundary: str = "hostile-boundary") -> HttpRequest:
    parts = [("image", image if image is not None else png(), "image.png"), ("prompt", b"a cat", None)]
    if seed is not None:
        parts.append(("seed", seed, None))
    return _request(Api.AITHRIVING, parts, boundary)


@pytest.fixture
def fake() -> FakeProvider:
    provider = FakeProvider(thumbnails=False)
    provider.add_key(KEY, 6000)
    return provider


# -- the validators --------------------------------------------------------------------------
@HOSTILE
@given(hostile_requests())
def test_validate_request_judges_any_request_without_raising(request):
    api = api_for_path(request.path) or Api.AITHRIVING
    verdict = validate_request(api, request)
    # Nothing any server must serve is drawn only by chance; whatever came, the verdict has reasons.
    for violation in verdict.violations:
        assert violation.message and " object at 0x" not in violation.message


@pytest.mark.parametrize(
    "seed, value, clause",
    [
        (b"9" * 5000, None, "ait.seed.range"),  # 4301+ digits: int() refuses them; the range does too
        (b"-" + b"1" * 4400, None, "ait.seed.range"),
        (b"0" * 5000 + b"7", 7, None),  # leading zeros: still seven
        (b" 42 ", 42, None),  # A13: spellings a server may accept or refuse; the fake accepts
        (b"+5", 5, None),
        (b"-0", 0, None),
        (b"4294967295", None, "ait.seed.range"),
        (b"1e3", None, "ait.seed.integer"),
        (b"+-1", None, "ait.seed.integer"),
        (b"\xd9\xa3", None, "ait.seed.integer"),  # an Arabic-Indic digit: int() reads it, A13 does not
    ],
)
def test_seed_spellings_follow_a13(seed, value, clause):
    verdict = validate_request(Api.AITHRIVING, _ait(seed))
    assert verdict.request.seed == value
    assert [v.clause for v in verdict.refused] == ([clause] if clause else [])
    assert all(len(v.message) < 200 for v in verdict.violations)  # a 5000-digit seed is not quoted whole


def test_a_seed_that_is_the_key_is_not_quoted_in_the_verdict():
    verdict = validate_request(Api.AITHRIVING, _ait(KEY.encode()))
    [violation] = verdict.refused
    assert violation.clause == "ait.seed.integer" and KEY not in violation.message


def test_a_boundary_over_256_characters_is_a_malformed_request_not_a_crash():
    verdict = validate_request(Api.AITHRIVING, _ait(boundary="b" * 300))
    [violation] = verdict.refused
    assert violation.clause == "ait.robust.malformed" and "300 characters" in violation.message


@pytest.mark.parametrize("charset", ["rot13", "base64", "undefined", "a\x01b"])
def test_a_part_charset_that_is_no_text_encoding_is_not_a_crash(charset):
    body = (
        b'--b\r\nContent-Disposition: form-data; name="prompt"\r\nContent-Type: text/plain; charset='
        + charset.encode("latin-1")
        + b"\r\n\r\na cat\r\n--b--\r\n"
    )
    request = HttpRequest(
        "POST", f"http://x{PATHS[Api.AITHRIVING]}", {"content-type": "multipart/form-data; boundary=b"}, body
    )
    validate_request(Api.AITHRIVING, request)  # judged (as UTF-8, or refused): no exception


def test_a_png_holding_10_of_its_4096_rows_is_corrupt():
    with pytest.raises(ImageDecodeError, match="10 of its 4096 rows") as caught:
        decode_image(deep_png(4096, 4096, rows=10), {"png"})
    assert caught.value.kind == "corrupt"
    verdict = validate_request(Api.AITHRIVING, _ait(image=deep_png(4096, 4096, rows=10)))
    assert [v.clause for v in verdict.refused] == ["ait.image.invalid"]


@pytest.mark.parametrize("missing", [0, 1, 40])
def test_an_interlaced_png_is_whole_or_corrupt(missing):
    pixels = np.random.default_rng(3).integers(0, 256, (43, 61, 3), dtype=np.uint8)
    data = interlaced_png(pixels, missing_bytes=missing)
    if missing:
        with pytest.raises(ImageDecodeError, match="truncated"):
            decode_image(data, {"png"})
    else:
        assert np.array_equal(np.asarray(decode_image(data, {"png"})), pixels)


def test_a_picture_whose_last_row_looks_like_the_decoder_filler_still_decodes():
    # decode_image pre-fills the pixels to spot missing rows cheaply; a real row of that colour is no gap.
    for mode, colour in (("L", 37), ("RGB", (37, 108, 179)), ("RGBA", (37, 108, 179, 250))):
        assert decode_image(png((50, 20), mode, colour), {"png"}).getpixel((3, 19)) == colour


def test_a_complete_deep_png_decodes():
    assert decode_image(deep_png(64, 64), {"png"}).size == (64, 64)


@pytest.mark.parametrize(
    "data", [b"\x89PNG\r\n\x1a\n" + b"\x01" * 64, b"\xff\xd8\xff" + b"\x02" * 64, b"RIFF\0\0\0\0WEBPVP8 "]
)
def test_decode_errors_show_no_python_object_reprs(data):
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data, {"png", "jpeg", "webp"})
    assert " object at 0x" not in str(caught.value) and "<_io" not in str(caught.value)


# -- the fake, through its ASGI app ------------------------------------------------------------
@HOSTILE
@given(request=hostile_requests())
def test_the_app_answers_any_request_without_a_5xx(request):
    provider = FakeProvider(thumbnails=False)
    provider.add_key(KEY, 6000)
    caller = AsgiCaller(create_app(provider))
    try:
        status, _, body = caller(request)
    finally:
        caller.close()
    assert status < 500, body[:300]
    assert b" object at 0x" not in body
    api = api_for_path(request.path)
    if api is not None and request.method == "POST" and status != 200:
        assert is_failure_shape(api, status, body), body[:300]
    # A failure is never charged: only a success costs credits.
    spent = 6000 - provider.ledger.balance(KEY)
    assert spent in (0, CREDITS_PER_SUCCESS)
    if spent:
        assert status == 200 and json.loads(body)["code"] == 0


@pytest.mark.parametrize(
    "request_",
    [
        _ait(b"9" * 5000),
        _ait(boundary="b" * 300),
        _ait(image=deep_png(4096, 4096, rows=10)),
    ],
    ids=["seed-5000-digits", "boundary-300", "png-10-of-4096-rows"],
)
def test_the_fake_refuses_the_issue_inputs_with_the_api_failure_and_charges_nothing(fake, request_):
    caller = AsgiCaller(create_app(fake))
    try:
        status, _, body = caller(request_)
    finally:
        caller.close()
    envelope = json.loads(body)
    assert status == 200 and envelope["code"] == -1, envelope
    assert " object at 0x" not in envelope["message"]
    assert fake.ledger.balance(KEY) == 6000


# -- check-client -------------------------------------------------------------------------------
def test_check_client_exits_2_with_a_message_on_a_file_it_cannot_read(tmp_path, capsys):
    bad = tmp_path / "journal.jsonl"
    bad.write_bytes(b"\xff\xfe not a journal \x00")
    assert main(["check-client", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "content",
    [
        '{"api": "aithriving", "path": "/api/edit/inpaint", "method": "POST", "violations": 5}',
        '{"log": {"entries": [{"request": {"url": 5, "method": "POST"}}]}}',
        '{"api": "aithriving", "path": "/api/edit/inpaint", "method": "POST", "time": 1e300, "violations": []}',
    ],
)
def test_check_client_exits_2_on_a_file_shaped_unexpectedly(tmp_path, capsys, content):
    path = tmp_path / "odd.jsonl"
    path.write_text(content)
    assert main(["check-client", str(path)]) == 2
    err = capsys.readouterr().err
    assert "cannot judge" in err and "journal" in err and "Traceback" not in err


def test_check_client_judges_a_har_with_the_issue_inputs_without_crashing(tmp_path, capsys):
    entries = []
    for request in (_ait(b"9" * 5000), _ait(boundary="b" * 300)):
        entries.append(
            {
                "startedDateTime": "2024-01-01T00:00:00.000Z",
                "request": {
                    "method": "POST",
                    "url": request.url,
                    "headers": [{"name": k, "value": v} for k, v in request.headers.items()],
                    "postData": {
                        "mimeType": request.headers["content-type"],
                        "text": request.body.decode("latin-1"),
                    },
                },
                "response": {"status": 200, "headers": [], "content": {"text": ""}},
            }
        )
    har = tmp_path / "traffic.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}))
    code = main(["check-client", str(har)])
    out = capsys.readouterr()
    assert code == 1, out  # the client broke MUST clauses: a verdict, not a crash
    assert "ait.seed.range" in out.out and "Traceback" not in out.err


# -- the proxy, in front of the fake --------------------------------------------------------------
def _proxy_caller(provider: FakeProvider) -> AsgiCaller:
    upstream = httpx.ASGITransport(app=create_app(provider))
    app = create_proxy_app("aithriving", "http://fake.test", transport=upstream, console=Console(file=io.StringIO()))
    return AsgiCaller(app)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=hostile_requests(Api.AITHRIVING))
def test_the_proxy_passes_on_the_upstreams_answer_to_any_request(request):
    provider = FakeProvider(thumbnails=False)
    provider.add_key(KEY, 6000)
    caller = _proxy_caller(provider)
    try:
        status, _, body = caller(request)
    finally:
        caller.close()
    assert status < 500, body[:300]


@pytest.mark.parametrize(
    "request_",
    [_ait(b"9" * 5000), _ait(boundary="b" * 300)],
    ids=["seed-5000-digits", "boundary-300"],
)
def test_the_proxy_forwards_the_issue_inputs_and_judges_them(fake, request_):
    caller = _proxy_caller(fake)
    try:
        status, _, body = caller(request_)
    finally:
        caller.close()
    assert status == 200 and json.loads(body)["code"] == -1  # the fake's refusal, passed on

"""Request-side clauses: for each, a conforming request `validate_request` accepts and a
violating one it refuses for exactly that clause, plus the server side of the same
clauses (a server that serves the violating request breaks the clause, one that
refuses it with the documented status does not).

The exchanges here are also the building blocks of test_contracts_responses.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from inpaint_conformance.contracts import (
    Api,
    HttpRequest,
    HttpResponse,
    Level,
    Side,
    clause,
    validate_request,
    validate_response,
)
from inpaint_conformance.contracts.envelopes import ait_failure, ait_success
from inpaint_conformance.contracts.rules import AUTH_HEADER, MAX_PROMPT_CHARS, MAX_UPLOAD_BYTES, SEED_MAX, SEED_MIN
from inpaint_conformance.contracts.strategies import RequestSpec, encode_image, endpoint, picture, upload

AIT, VYRO = Api.AITHRIVING, Api.VYRO
KEY = "test-key"
PROMPT = "a red boat on a lake"
SIZE = (96, 64)
IMAGE = picture(SIZE, "RGB", seed=1)
TRANSPARENT = picture(SIZE, "RGBA", seed=2)  # a transparent rectangle: the alpha channel is a mask (A9)


def half_mask(size=SIZE, mode="L", inverted=False) -> Image.Image:
    """0 (keep) on the left half, 255 (repaint) on the right; ``inverted`` swaps them."""
    values = np.zeros((size[1], size[0]), dtype=np.uint8)
    values[:, size[0] // 2 :] = 255
    mask = Image.fromarray(255 - values if inverted else values, "L")
    return mask.convert(mode) if mode != "L" else mask


def partial_mask(size=SIZE) -> Image.Image:
    ramp = np.linspace(0, 255, size[0]).astype(np.uint8)
    return Image.fromarray(np.repeat(ramp[None, :], size[1], axis=0), "L")


def png(image: Image.Image) -> bytes:
    return encode_image(image, "png")


MASK = half_mask()
BASE = {
    AIT: RequestSpec(AIT, {"prompt": PROMPT}, {"image": upload(png(IMAGE)), "mask": upload(png(MASK), "mask")}, KEY),
    VYRO: RequestSpec(VYRO, {"prompt": PROMPT}, {"image": upload(png(IMAGE)), "mask": upload(png(MASK), "mask")}, KEY),
}


def spec(api: Api, **changes) -> RequestSpec:
    """The base request of ``api`` with some fields or files replaced (see RequestSpec.but)."""
    return BASE[api].but(**changes)


def with_headers(request: HttpRequest, **headers: str) -> HttpRequest:
    return HttpRequest(request.method, request.url, {**request.headers, **headers}, request.body)


def without_header(request: HttpRequest, name: str) -> HttpRequest:
    return HttpRequest(
        request.method, request.url, {k: v for k, v in request.headers.items() if k != name}, request.body
    )


def as_json(api: Api) -> HttpRequest:
    """The fields as a JSON object (the AIThriving prose says "a JSON object in the body")."""
    body = json.dumps({"prompt": PROMPT, "image": "<base64>"}).encode()
    return HttpRequest("POST", endpoint(api), {AUTH_HEADER[api]: KEY, "content-type": "application/json"}, body)


def truncated(api: Api) -> HttpRequest:
    whole = BASE[api].build()
    return without_header(
        HttpRequest("POST", whole.url, whole.headers, whole.body[: len(whole.body) // 2]), "content-length"
    )


def oversized(api: Api, size: int) -> HttpRequest:
    """A valid request whose PNG is padded (after its IEND chunk) to a body of about ``size`` bytes."""
    padding = b"\0" * max(0, size - len(BASE[api].build().body))
    return spec(api, files={"image": upload(png(IMAGE) + padding)}).build()


def bearer_authorization(api: Api) -> HttpRequest:
    """The token as `Authorization: Bearer` instead of the documented header."""
    return with_headers(spec(api, key=None).build(), authorization=f"Bearer {KEY}")


Exchange = Callable[[], HttpRequest]


@dataclass(frozen=True)
class RequestCase:
    clause: str
    good: Exchange
    bad: Exchange
    note: str = ""

    @property
    def api(self) -> Api:
        return clause(self.clause).api

    @property
    def id(self) -> str:
        return f"{self.clause}[{self.note}]" if self.note else self.clause


def case(clause_id: str, good, bad, note: str = "") -> RequestCase:
    as_exchange = lambda x: x.build if isinstance(x, RequestSpec) else x  # noqa: E731
    return RequestCase(clause_id, as_exchange(good), as_exchange(bad), note)


GIF = encode_image(picture(SIZE, "P"), "gif")
WEBP = encode_image(IMAGE, "webp")
JPEG = encode_image(IMAGE, "jpeg")

REQUEST_CASES: list[RequestCase] = [
    # -- AIThriving ----------------------------------------------------------------------
    case("ait.transport.post", BASE[AIT], lambda: BASE[AIT].build(method="GET"), "GET"),
    case(
        "ait.transport.post",
        BASE[AIT],
        lambda: BASE[AIT].build(url="https://www.aithriving.com/api/edit/outpaint"),
        "path",
    ),
    case("ait.transport.multipart", BASE[AIT], lambda: as_json(AIT)),
    case("ait.auth.header", BASE[AIT], spec(AIT, key=f"Bearer {KEY}"), "Bearer prefix"),
    case("ait.auth.missing", BASE[AIT], spec(AIT, key=None)),
    case("ait.image.required", BASE[AIT], spec(AIT, drop=["image"])),
    case("ait.image.invalid", spec(AIT, files={"image": upload(WEBP)}), spec(AIT, files={"image": upload(GIF)}), "gif"),
    case(
        "ait.image.invalid",
        spec(AIT, files={"image": upload(JPEG)}),
        spec(AIT, files={"image": upload(png(IMAGE)[:200])}),
        "corrupt",
    ),
    case("ait.image.invalid", BASE[AIT], spec(AIT, files={"image": upload(b"")}), "empty"),
    case("ait.prompt.required", BASE[AIT], spec(AIT, drop=["prompt"])),
    case("ait.prompt.blank", spec(AIT, fields={"prompt": " x "}), spec(AIT, fields={"prompt": " \t "})),
    case(
        "ait.mask.format",
        spec(AIT, files={"mask": upload(encode_image(MASK, "jpeg"), "mask")}),
        spec(AIT, files={"mask": upload(encode_image(MASK.convert("P"), "gif"), "mask")}),
    ),
    case(
        "ait.mask.absent", spec(AIT, files={"image": upload(png(TRANSPARENT))}, drop=["mask"]), spec(AIT, drop=["mask"])
    ),
    case(
        "ait.output_format.enum",
        spec(AIT, fields={"output_format": "webp"}),
        spec(AIT, fields={"output_format": "tiff"}),
    ),
    case(
        "ait.seed.range",
        spec(AIT, fields={"seed": str(SEED_MAX)}),
        spec(AIT, fields={"seed": str(SEED_MAX + 1)}),
        "above",
    ),
    case(
        "ait.seed.range",
        spec(AIT, fields={"seed": str(SEED_MIN)}),
        spec(AIT, fields={"seed": str(SEED_MIN - 1)}),
        "below",
    ),
    case("ait.seed.integer", spec(AIT, fields={"seed": " 7 "}), spec(AIT, fields={"seed": "1.5"})),
    case("ait.seed.integer", spec(AIT, fields={"seed": "0"}), spec(AIT, fields={"seed": " "}), "blank"),
    # A13: an empty seed may be refused or served as if omitted (a MAY clause).
    case("ait.seed.empty", BASE[AIT], spec(AIT, fields={"seed": ""})),
    case("ait.robust.malformed", BASE[AIT], lambda: truncated(AIT), "truncated"),
    # B1: a server may refuse text that is not UTF-8 or serve it as it decoded it (a MAY clause).
    case("ait.text.non_utf8", BASE[AIT], spec(AIT, fields={"prompt": b"caf\xe9"}), "latin-1 prompt"),
    case("ait.text.non_utf8", BASE[AIT], spec(AIT, fields={"negative_prompt": b"\xff\xfe"}), "negative_prompt"),
    case(
        "ait.limits.size",
        lambda: oversized(AIT, MAX_UPLOAD_BYTES - 4096),
        lambda: oversized(AIT, MAX_UPLOAD_BYTES + 4096),
    ),
    case(
        "ait.limits.dimensions",
        spec(AIT, fields={"prompt": "x" * MAX_PROMPT_CHARS}),
        spec(AIT, fields={"prompt": "x" * (MAX_PROMPT_CHARS + 1)}),
        "prompt",
    ),
    # -- Vyro ---------------------------------------------------------------------------
    case("vyro.transport.post", BASE[VYRO], lambda: BASE[VYRO].build(method="PUT"), "PUT"),
    case("vyro.transport.multipart", BASE[VYRO], lambda: as_json(VYRO)),
    case("vyro.auth.header", BASE[VYRO], lambda: bearer_authorization(VYRO), "Authorization: Bearer"),
    case("vyro.auth.missing", BASE[VYRO], spec(VYRO, key=None)),
    case("vyro.prompt.required", BASE[VYRO], spec(VYRO, drop=["prompt"])),
    case("vyro.image.required", BASE[VYRO], spec(VYRO, drop=["image"])),
    case("vyro.mask.required", BASE[VYRO], spec(VYRO, drop=["mask"])),
    case(
        "vyro.image.invalid",
        spec(VYRO, files={"image": upload(JPEG)}),
        spec(VYRO, files={"image": upload(WEBP)}),
        "webp",
    ),
    case("vyro.image.invalid", BASE[VYRO], spec(VYRO, files={"image": upload(encode_image(IMAGE, "bmp"))}), "bmp"),
    case(
        "vyro.mask.invalid",
        spec(VYRO, files={"mask": upload(encode_image(MASK, "jpeg"), "mask")}),
        spec(VYRO, files={"mask": upload(encode_image(MASK.convert("RGB"), "webp"), "mask")}),
        "webp",
    ),
    case(
        "vyro.model_version.unknown",
        spec(VYRO, fields={"model_version": "1"}),
        spec(VYRO, fields={"model_version": "2"}),
    ),
    case("vyro.robust.malformed", BASE[VYRO], lambda: truncated(VYRO), "truncated"),
    case("vyro.text.non_utf8", BASE[VYRO], spec(VYRO, fields={"prompt": b"caf\xe9"}), "latin-1 prompt"),
    case(
        "vyro.limits.size",
        lambda: oversized(VYRO, MAX_UPLOAD_BYTES - 4096),
        lambda: oversized(VYRO, MAX_UPLOAD_BYTES + 4096),
    ),
    case(
        "vyro.limits.dimensions",
        spec(VYRO, fields={"prompt": "x" * MAX_PROMPT_CHARS}),
        spec(VYRO, fields={"prompt": "x" * (MAX_PROMPT_CHARS + 1)}),
        "prompt",
    ),
]


@pytest.mark.parametrize("row", REQUEST_CASES, ids=lambda r: r.id)
def test_conforming_request_breaks_nothing(row: RequestCase):
    verdict = validate_request(row.api, row.good())
    assert verdict.violations == [], [str(v) for v in verdict.violations]


@pytest.mark.parametrize("row", REQUEST_CASES, ids=lambda r: r.id)
def test_violating_request_breaks_exactly_its_clause(row: RequestCase):
    verdict = validate_request(row.api, row.bad())
    assert verdict.clause_ids() == [row.clause], [str(v) for v in verdict.violations]
    (violation,) = verdict.violations
    assert violation.message.strip(), "a violation says what was expected and what came"


# -- the server side of the same clauses ------------------------------------------------------
def served(api: Api) -> HttpResponse:
    """A success, whatever was asked."""
    if api is AIT:
        return HttpResponse(200, {"content-type": "application/json"}, ait_success(png(IMAGE), 7))
    return HttpResponse(200, {"content-type": "image/png"}, png(IMAGE))


def refused(api: Api, clause_id: str) -> HttpResponse:
    """The failure a correct server answers (A5: AIThriving's envelope; V2/V4/V5: Vyro's status)."""
    if api is AIT:
        return HttpResponse(200, {"content-type": "application/json"}, ait_failure("refused"))
    status = 401 if clause_id.startswith("vyro.auth.") else 400
    return HttpResponse(status, {"content-type": "application/json"}, b'{"message": "refused"}')


SERVER_ROWS = [
    r
    for r in REQUEST_CASES
    if Side.SERVER in clause(r.clause).sides and any(v.refuse for v in validate_request(r.api, r.bad()).violations)
]
# B2/B4: a server MAY refuse these requests, and MAY serve them just as well.
MAY_REFUSE_ROWS = [r for r in SERVER_ROWS if clause(r.clause).level is Level.MAY]
MUST_REFUSE_ROWS = [r for r in SERVER_ROWS if r not in MAY_REFUSE_ROWS]


@pytest.mark.parametrize("row", SERVER_ROWS, ids=lambda r: r.id)
def test_server_refusing_the_violating_request_conforms(row: RequestCase):
    verdict = validate_request(row.api, row.bad())
    result = validate_response(row.api, verdict, refused(row.api, row.clause))
    assert row.clause not in {v.clause for v in result.violations}, [str(v) for v in result.violations]


@pytest.mark.parametrize("row", MUST_REFUSE_ROWS, ids=lambda r: r.id)
def test_server_serving_the_violating_request_breaks_the_clause(row: RequestCase):
    verdict = validate_request(row.api, row.bad())
    result = validate_response(row.api, verdict, served(row.api))
    assert row.clause in {v.clause for v in result.violations}


@pytest.mark.parametrize("row", MAY_REFUSE_ROWS, ids=lambda r: r.id)
def test_server_serving_a_request_it_may_refuse_conforms(row: RequestCase):
    verdict = validate_request(row.api, row.bad())
    result = validate_response(row.api, verdict, served(row.api))
    # `served` echoes the input picture, which other clauses judge; the limit itself must not be flagged.
    assert row.clause not in {v.clause for v in result.violations}, [str(v) for v in result.violations]


@pytest.mark.parametrize(
    ("clause_id", "bad", "status"),
    [
        ("vyro.auth.missing", spec(VYRO, key=None), 400),  # V2: a missing token is a 401, not any 4xx
        ("vyro.prompt.required", spec(VYRO, drop=["prompt"]), 401),  # V4: a missing part is a 400
        ("vyro.image.invalid", spec(VYRO, files={"image": upload(WEBP)}), 500),  # V5: never a 5xx
    ],
)
def test_vyro_refusal_with_the_wrong_status_breaks_the_clause(clause_id, bad, status):
    verdict = validate_request(VYRO, bad.build())
    result = validate_response(VYRO, verdict, HttpResponse(status, {}, b"no"))
    assert clause_id in {v.clause for v in result.violations}

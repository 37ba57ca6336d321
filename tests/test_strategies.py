"""The hypothesis strategies: real images and masks, seeds at the bounds, and requests
that the contracts accept (valid) or refuse for exactly their labelled clause (invalid).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from PIL import Image

from inpaint_conformance.contracts import Api, validate_request, validate_response
from inpaint_conformance.contracts.images import has_alpha, sniff_format
from inpaint_conformance.contracts.response_validation import Outcome
from inpaint_conformance.contracts.rules import AUTH_HEADER, PATHS, SEED_MAX, SEED_MIN
from inpaint_conformance.contracts.strategies import (
    image_size,
    images,
    invalid_clause_ids,
    invalid_requests,
    masks,
    seeds,
    valid_requests,
    valid_specs,
)
from inpaint_conformance.fakes import FakeProvider

EXAMPLES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
APIS = list(Api)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# -- images, masks, seeds ------------------------------------------------------------------------
@EXAMPLES
@given(data=images())
def test_images_are_real_files_of_the_allowed_formats_and_sizes(data):
    assert sniff_format(data) in {"png", "jpeg", "webp"}
    width, height = decode(data).size
    assert 64 <= width <= 256 and 64 <= height <= 256


@EXAMPLES
@given(data=images(formats=("png", "webp"), modes=("RGBA",)))
def test_rgba_images_carry_a_usable_alpha_mask(data):
    image = decode(data)
    alpha = np.asarray(image.getchannel("A"))
    assert has_alpha(image) and (alpha == 0).any() and (alpha == 255).any()


@EXAMPLES
@given(data=images(formats=("gif", "bmp")))
def test_refused_formats_can_be_drawn_too(data):
    assert sniff_format(data) in {"gif", "bmp"}


def test_odd_and_round_sizes_are_drawn():
    drawn_sizes = images(formats=("png",)).map(image_size)
    assert find(drawn_sizes, lambda size: size == (101, 77)) == (101, 77)
    assert find(drawn_sizes, lambda size: size == (128, 128)) == (128, 128)


@pytest.mark.parametrize(
    ("formats", "modes", "words"),
    [
        (("jpeg",), ("RGBA", "P"), "no mode"),
        (("tiff",), ("RGB",), "unknown image formats"),
    ],
)
def test_impossible_image_requests_say_why(formats, modes, words):
    with pytest.raises(ValueError, match=words):
        images(formats, modes)


@EXAMPLES
@given(data=masks((101, 77), kinds=("grey", "colour")))
def test_masks_have_exact_keep_and_repaint_regions_at_the_given_size(data):
    mask = decode(data)
    assert mask.size == (101, 77)
    values = np.asarray(mask.convert("L"))
    assert (values == 0).any() and (values == 255).any()
    if mask.mode == "RGB":
        rgb = np.asarray(mask)
        assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all(), (
            "colour masks use grey colours"
        )


@EXAMPLES
@given(data=masks((128, 96), kinds=("other_size",), formats=("png", "jpeg")))
def test_other_size_masks_differ_from_the_image(data):
    assert image_size(data) != (128, 96)


def test_masks_reject_unknown_kinds():
    with pytest.raises(ValueError, match="kinds among"):
        masks((64, 64), kinds=("striped",))


@EXAMPLES
@given(seed=seeds())
def test_seeds_are_in_range(seed):
    assert SEED_MIN <= seed <= SEED_MAX


@pytest.mark.parametrize("edge", [SEED_MIN, SEED_MAX])
def test_seed_bounds_are_drawn(edge):
    assert find(seeds(), lambda s: s == edge) == edge


# -- valid requests ------------------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_valid_requests_break_no_clause(api):
    @EXAMPLES
    @given(request=valid_requests(api))
    def check(request):
        verdict = validate_request(api, request)
        assert verdict.violations == [], [str(v) for v in verdict.violations]
        assert request.headers[AUTH_HEADER[api]] == "test-key"
        assert request.headers.media_type() == "multipart/form-data"

    check()


@EXAMPLES
@given(request=valid_requests(Api.AITHRIVING))
def test_aithriving_requests_without_a_mask_send_an_image_with_alpha(request):
    decoded = validate_request(Api.AITHRIVING, request).request
    if decoded.mask is None:
        assert has_alpha(decoded.image)


@pytest.mark.parametrize("api", APIS)
def test_valid_requests_take_a_key_and_a_base_url(api):
    @settings(max_examples=5, deadline=None)
    @given(request=valid_requests(api, key="other-key", base_url="http://127.0.0.1:9/"))
    def check(request):
        assert request.url == "http://127.0.0.1:9" + PATHS[api]
        assert request.headers[AUTH_HEADER[api]] == "other-key"

    check()


@pytest.mark.parametrize("api", APIS)
def test_the_fake_serves_every_valid_request(api):
    provider = FakeProvider(thumbnails=False)
    provider.add_key("test-key", 100_000)

    @settings(max_examples=15, deadline=None)
    @given(request=valid_requests(api))
    def check(request):
        answer = provider.handle(request).response
        result = validate_response(api, validate_request(api, request), answer)
        assert (answer.status, result.outcome, result.violations) == (200, Outcome.SUCCESS, [])

    check()


# -- invalid requests ----------------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_invalid_requests_are_refused_for_exactly_their_label(api):
    @settings(max_examples=40, deadline=None)
    @given(labelled=invalid_requests(api))
    def check(labelled):
        request, clause_id = labelled
        refused = {v.clause for v in validate_request(api, request).refused}
        assert refused == {clause_id}

    check()


@pytest.mark.parametrize("clause_id", invalid_clause_ids(Api.AITHRIVING) + invalid_clause_ids(Api.VYRO))
def test_each_breakage_is_drawn_and_labelled(clause_id):
    api = Api.parse(clause_id.split(".")[0])

    @settings(max_examples=5, deadline=None)
    @given(labelled=invalid_requests(api, clauses=[clause_id]))
    def check(labelled):
        request, label = labelled
        assert label == clause_id
        assert {v.clause for v in validate_request(api, request).refused} == {clause_id}

    check()


def test_documented_breakages_are_all_there():
    """The breakages the strategies promise: range, type, missing and blank parts, formats, credentials."""
    assert {
        "ait.seed.range",
        "ait.seed.integer",
        "ait.prompt.required",
        "ait.prompt.blank",
        "ait.image.required",
        "ait.image.invalid",
        "ait.output_format.enum",
        "ait.mask.absent",
        "ait.auth.missing",
    } <= set(invalid_clause_ids("ait"))
    assert {
        "vyro.mask.required",
        "vyro.image.invalid",
        "vyro.model_version.unknown",
        "vyro.auth.missing",
        "vyro.prompt.required",
    } <= set(invalid_clause_ids("vyro"))


@pytest.mark.parametrize("api", APIS)
def test_the_fake_refuses_every_invalid_request_uncharged(api):
    provider = FakeProvider(thumbnails=False)
    provider.add_key("test-key", 600)

    @settings(max_examples=25, deadline=None)
    @given(labelled=invalid_requests(api))
    def check(labelled):
        request, clause_id = labelled
        answer = provider.handle(request).response
        if not request.path.endswith(PATHS[api]):  # another path is not this API: no envelope, just 404
            assert answer.status == 404
            return
        result = validate_response(api, validate_request(api, request), answer)
        assert result.outcome is Outcome.FAILURE and result.violations == [], (
            clause_id,
            answer.status,
            answer.excerpt(),
        )
        assert provider.ledger.balance("test-key") == 600

    check()


def test_invalid_requests_refuse_unknown_clauses():
    with pytest.raises(ValueError, match="cannot break"):
        invalid_requests("vyro", clauses=["vyro.seed.range"])


@settings(max_examples=5, deadline=None)
@given(spec=valid_specs("vyro"))
def test_specs_compose(spec):
    """valid_specs gives the unencoded request, to change one thing and build it."""
    request = spec.but(fields={"model_version": "1"}).build()
    assert validate_request("vyro", request).violations == []
    broken = spec.but(drop=["mask"]).build()
    assert validate_request("vyro", broken).clause_ids() == ["vyro.mask.required"]

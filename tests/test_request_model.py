"""One request model: the published strategies, verify's probes and the tests build the same RequestSpec."""

from __future__ import annotations

import pytest

from inpaint_conformance.contracts import Api, strategies, validate_request
from inpaint_conformance.contracts import request_spec as model
from inpaint_conformance.contracts.images import sniff_format
from inpaint_conformance.harness import probes, request_spec
from inpaint_conformance.harness.probe_images import half_mask, patterned


def test_strategies_and_probes_share_one_model():
    for name in ("RequestSpec", "Upload", "upload"):
        assert getattr(strategies, name) is getattr(model, name) is getattr(probes, name) is getattr(request_spec, name)


def test_a_probe_spec_builds_as_the_strategies_do():
    spec = request_spec.valid_spec()
    assert spec.api is None  # probes' specs name no API: the runner sends them to each one
    bound = model.RequestSpec(spec.fields, spec.files, api=Api.VYRO, key="k-1")
    verdict = validate_request(Api.VYRO, bound.build())
    assert verdict.acceptable, verdict.violations
    assert validate_request(Api.VYRO, bound.but(key=None).build()).refused  # no key: refused


def test_build_without_an_api_says_how_to_bind_one():
    with pytest.raises(ValueError, match="api=Api.AITHRIVING"):
        request_spec.valid_spec().build()


def test_upload_names_a_part_as_an_honest_client_does():
    jpeg = model.upload(patterned((64, 48)), "jpeg", name="photo")
    assert (jpeg.filename, jpeg.content_type, sniff_format(jpeg.data)) == ("photo.jpg", "image/jpeg", "jpeg")
    sniffed = model.upload(model.upload(half_mask((64, 48))).data, name="mask")
    assert (sniffed.filename, sniffed.content_type) == ("mask.png", "image/png")
    labelled = model.upload(b"\x00" * 8, "png", filename="x.jpeg", content_type="image/jpeg")
    assert (labelled.filename, labelled.content_type) == ("x.jpeg", "image/jpeg")

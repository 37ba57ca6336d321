"""Deviations are objects that own their behaviour: the registry is the one list, and the
provider asks them (never a name or a message prefix) what to do."""

from __future__ import annotations

from PIL import Image

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.request_validation import InpaintRequest
from inpaint_conformance.fakes import DEVIATIONS
from inpaint_conformance.fakes.deviations import REGISTRY, Deviation, Deviations
from inpaint_conformance.fakes.faults import KINDS, TRANSPORT_FAULTS, TransportFault

HOOKS = [name for name, value in vars(Deviation).items() if callable(value) and not name.startswith("_")]
FLAGS = ("waived", "server_error", "charges_failures", "serves_strangers", "ignores_credit_limit")


def test_the_registry_is_the_one_list_of_deviations():
    names = [d.name for d in REGISTRY]
    assert len(set(names)) == len(names) == len(DEVIATIONS)
    assert list(DEVIATIONS) == names
    assert all(DEVIATIONS[d.name] == d.description and d.description for d in REGISTRY)
    assert set(KINDS) == set(DEVIATIONS) | set(TRANSPORT_FAULTS) == set(DEVIATIONS) | {f.value for f in TransportFault}


def test_every_deviation_bends_something():
    for deviation in REGISTRY:
        overridden = [h for h in HOOKS if getattr(type(deviation), h) is not getattr(Deviation, h)]
        flagged = [f for f in FLAGS if getattr(deviation, f) != getattr(Deviation, f)]
        assert overridden or flagged, f"{deviation.name} changes nothing"


def _request(**fields) -> InpaintRequest:
    return InpaintRequest(api=Api.AITHRIVING, **fields)


def test_the_500_comes_from_the_deviation_not_its_message():
    request = _request(extra_fields=["colour"])
    refused, server_error = Deviations(["unknown_field_500"]).refusals(Api.AITHRIVING, request)
    assert [v.clause for v in refused] == ["ait.unknown_fields"] and server_error
    webp = _request(image_format="webp")
    refused, server_error = Deviations(["webp_rejected"]).refusals(Api.AITHRIVING, webp)
    assert [v.clause for v in refused] == ["ait.image.formats"] and not server_error


def test_hooks_fold_in_registry_order():
    both = Deviations(["seed_echo_wrong", "random_seed_zero"])
    assert both.reported_seed(41, random_seed=True) == 42  # the wrong echo wins over the zero
    assert Deviations(["random_seed_zero"]).reported_seed(41, random_seed=True) == 0
    statuses = Deviations(["vyro_422", "server_error_on_bad_input"])
    assert statuses.failure_status(Api.VYRO, 400) == 500
    assert Deviations(["vyro_422"]).failure_status(Api.VYRO, 400) == 422
    assert Deviations(["vyro_422"]).failure_status(Api.AITHRIVING, 400) == 400
    assert Deviations().failure_status(Api.VYRO, 401) == 401


def test_envelope_untouched_without_an_envelope_deviation():
    body = b'{"code": 0, "message": "success", "data": {"image": "x", "seed": 1}}'
    assert Deviations(["charge_twice"]).bend_envelope(body) is body
    bent = Deviations(["bare_string_data", "success_message_wrong"]).bend_envelope(body)
    assert b'"data": "x"' in bent and b'"message": "ok"' in bent


def test_mask_inverted_repaints_the_kept_pixels():
    image = Image.new("RGB", (4, 4))
    mask = Image.new("L", (4, 4), 0)
    bent = Deviations(["mask_inverted"]).bend_mask(_request(mask=mask), image, mask)
    assert bent is not None and bent.getextrema() == (255, 255)

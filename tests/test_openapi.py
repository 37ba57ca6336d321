"""The OpenAPI export: a valid 3.1 document that says what the contracts say, and
that Schemathesis, run against the live fake, finds no mismatch with.

Schemathesis draws requests from the document (real images, through the image
strategies registered for the upload media types, so successes happen too) and
checks every answer's status code, Content-Type, headers and body schema. The same
run against the fake with a named deviation must fail: the document is not so loose
that it passes anything.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.media_types import MEDIA_TYPE_STRATEGIES  # no public way to unregister a media type
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.envelopes import AIT_FAILURE_CODE, AIT_SUCCESS_CODE
from inpaint_conformance.contracts.openapi import openapi_document, server_url
from inpaint_conformance.contracts.rules import (
    AUTH_HEADER,
    INPUT_FORMATS,
    OUTPUT_FORMATS,
    PATHS,
    SEED_MAX,
    SEED_MIN,
    VYRO_MODEL_VERSIONS,
)
from inpaint_conformance.contracts.strategies import images
from inpaint_conformance.fakes import FakeProvider, Fault
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.server import serving
from inpaint_conformance.harness.cli import main

SEEDS = Path(__file__).resolve().parents[1] / "contracts" / "seeds"
SEED_DOCS = {Api.AITHRIVING: "aithriving-inpaint.txt", Api.VYRO: "vyro-imagine-inpaint.txt"}
KEY = "test-key"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Schemathesis filters `authorization` in its failure reports by default, not Vyro's `bearer` (B3).
CONFIG = SchemathesisConfig.from_dict(
    {"output": {"sanitization": {"keys-to-sanitize": sorted(set(AUTH_HEADER.values()) | {"x-admin-token"})}}}
)


def form(document: dict, api: Api) -> dict:
    body = document["paths"][PATHS[api]]["post"]["requestBody"]["content"]["multipart/form-data"]
    schema = body["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return {**body, "schema": schema}


# -- the document -----------------------------------------------------------------------
@pytest.mark.parametrize("api", list(Api))
def test_document_is_valid_openapi_3_1(api):
    document = openapi_document(api)
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises with the offending path when invalid


@pytest.mark.parametrize("api", list(Api))
def test_server_and_path_combine_to_the_documented_endpoint(api):
    document = openapi_document(api)
    (path,) = document["paths"]
    url = document["servers"][0]["url"] + path
    assert url == server_url(api) + PATHS[api]
    # The full URL is the one the API's own example client posts to.
    assert url in (SEEDS / SEED_DOCS[api]).read_text(encoding="utf-8")


def test_aithriving_form_fields_carry_the_rules():
    body = form(openapi_document(Api.AITHRIVING), Api.AITHRIVING)
    schema, props = body["schema"], body["schema"]["properties"]
    assert set(schema["required"]) == {"image", "prompt"}
    assert props["seed"]["type"] == "integer"
    assert (props["seed"]["minimum"], props["seed"]["maximum"]) == (SEED_MIN, SEED_MAX)
    assert props["output_format"]["enum"] == list(OUTPUT_FORMATS)
    assert props["prompt"]["minLength"] == 1
    for part in ("image", "mask"):
        assert props[part]["contentMediaType"] == "application/octet-stream"
        accepted = {t.strip() for t in body["encoding"][part]["contentType"].split(",")}
        assert accepted == {f"image/{f}" for f in INPUT_FORMATS[Api.AITHRIVING]}


def test_vyro_form_fields_carry_the_rules():
    body = form(openapi_document(Api.VYRO), Api.VYRO)
    schema, props = body["schema"], body["schema"]["properties"]
    assert set(schema["required"]) == {"prompt", "image", "mask"}
    assert props["model_version"]["enum"] == list(VYRO_MODEL_VERSIONS)
    for part in ("image", "mask"):
        accepted = {t.strip() for t in body["encoding"][part]["contentType"].split(",")}
        assert accepted == {f"image/{f}" for f in INPUT_FORMATS[Api.VYRO]}


@pytest.mark.parametrize("api", list(Api))
def test_auth_header_is_the_security_scheme(api):
    document = openapi_document(api)
    (name,) = document["components"]["securitySchemes"]
    scheme = document["components"]["securitySchemes"][name]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", AUTH_HEADER[api])
    assert document["security"] == [{name: []}]


def test_documented_statuses():
    ait = openapi_document(Api.AITHRIVING)["paths"][PATHS[Api.AITHRIVING]]["post"]["responses"]
    vyro = openapi_document(Api.VYRO)["paths"][PATHS[Api.VYRO]]["post"]["responses"]
    assert set(ait) == {"200", "401", "413", "429", "4XX"}
    assert "Retry-After" in ait["429"]["headers"] and "Retry-After" in vyro["429"]["headers"]
    assert set(vyro) == {"200", "400", "401", "402", "413", "429", "500"}
    assert set(vyro["200"]["content"]) == {"image/png"}


def test_aithriving_envelope_schemas_tell_success_from_failure():
    """The 200 body is one of the two envelopes; the document's own example (bare string data) is neither."""
    from jsonschema import Draft202012Validator

    document = openapi_document(Api.AITHRIVING)
    schemas = document["components"]["schemas"]
    either = document["paths"][PATHS[Api.AITHRIVING]]["post"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    # The $refs point into the document's components: resolve them against a root that holds them.
    validator = Draft202012Validator({**either, "components": {"schemas": schemas}})
    success = {"code": AIT_SUCCESS_CODE, "message": "success", "data": {"image": "iVBORw0KGgo=", "seed": 7}}
    failure = {"code": AIT_FAILURE_CODE, "message": "seed is out of range", "data": None}
    assert validator.is_valid(success) and validator.is_valid(failure)
    for wrong in (
        {**success, "data": "iVBORw0KGgo="},
        {**success, "message": "ok"},
        {**failure, "message": " "},
        {**success, "data": {"image": "x", "seed": 0}},
        {"code": 1, "message": "x", "data": None},
    ):
        assert not validator.is_valid(wrong), wrong


@pytest.mark.parametrize("api", list(Api))
def test_cli_prints_the_document(api, capsys):
    assert main(["openapi", "--api", api.value]) == 0
    assert json.loads(capsys.readouterr().out) == openapi_document(api)


# -- Schemathesis against the live fake ---------------------------------------------------------
@contextmanager
def real_uploads(api: Api):
    """Upload parts drawn as real images. AIThriving PNG and WebP uploads carry alpha, so
    requests without a mask part (most of them) succeed too (A9) and the success
    envelope gets checked; JPEG ones without a mask fail, which checks the failure one."""
    saved = dict(MEDIA_TYPE_STRATEGIES)
    for fmt in INPUT_FORMATS[api]:
        modes = ("RGBA",) if api is Api.AITHRIVING and fmt != "jpeg" else ("RGB", "L")
        schemathesis.openapi.media_type(f"image/{fmt}", images((fmt,), modes))
    try:
        yield
    finally:
        MEDIA_TYPE_STRATEGIES.clear()
        MEDIA_TYPE_STRATEGIES.update(saved)


def run_schemathesis(
    api: Api, base_url: str, *, examples: int, modes=("positive", "negative"), shrink: bool = True
) -> None:
    schema = schemathesis.openapi.from_dict(openapi_document(api), config=CONFIG)
    operation = schema[PATHS[api]]["POST"]
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    with real_uploads(api):
        for mode in modes:

            @settings(
                max_examples=examples,
                deadline=None,
                phases=phases,
                database=None,
                suppress_health_check=list(HealthCheck),
                report_multiple_bugs=False,
            )
            @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
            def exchange(case):
                case.call_and_validate(base_url=base_url, headers={AUTH_HEADER[api]: KEY}, checks=CHECKS, timeout=30)

            exchange()


@pytest.mark.slow
@pytest.mark.parametrize("api", list(Api))
def test_schemathesis_finds_no_mismatch_with_the_fake(api, live_fake):
    base_url, provider = live_fake
    run_schemathesis(api, base_url, examples=25)
    statuses = {entry["status"] for entry in provider.journal.entries()}
    assert 200 in statuses, "no request reached the fake's success path"


@pytest.mark.slow
def test_schemathesis_finds_no_mismatch_with_4xx_aithriving_failures():
    """A5 allows a failure's status to be 4xx as well as 200: the document allows both."""
    provider = FakeProvider(ait_failure_status=400)
    provider.add_key(KEY, 6000)
    with serving(create_app(provider)) as server:
        run_schemathesis(Api.AITHRIVING, server.url, examples=20)
    assert {entry["status"] for entry in provider.journal.entries()} >= {200, 400}


DEVIATIONS = [
    # (api, deviation, what Schemathesis reports, generation mode that reaches it)
    (Api.AITHRIVING, "bare_string_data", "Response violates schema", "positive"),
    (Api.AITHRIVING, "server_error_on_bad_input", "Undocumented status code", "negative"),
    (Api.VYRO, "vyro_jpeg_content_type", "Undocumented Content-Type", "positive"),
    (Api.VYRO, "vyro_422", "Undocumented status code", "negative"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("api", "deviation", "report", "mode"), DEVIATIONS, ids=[d[1] for d in DEVIATIONS])
def test_schemathesis_catches_a_deviating_fake(api, deviation, report, mode, live_fake):
    base_url, provider = live_fake
    provider.faults.add(Fault(deviation, api=api.value))
    with pytest.raises(FailureGroup) as caught:
        run_schemathesis(api, base_url, examples=15, modes=(mode,), shrink=False)
    text = str(caught.value)
    assert report in text
    assert KEY not in text, "the report shows the key in clear (B3)"

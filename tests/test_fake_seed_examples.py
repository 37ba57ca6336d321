"""The two seed documents' example requests, as written but for the host, against both doors."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from test_fake_support import aithriving_example, run_example, vyro_example, write_example_files

from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS


@pytest.fixture
def example_dir(tmp_path):
    write_example_files(tmp_path)
    return tmp_path


def _check_aithriving(namespace: dict) -> None:
    assert "error" not in namespace, f"the example took its error branch: {namespace['error']}"
    image = Image.open(io.BytesIO(base64.b64decode(namespace["image"])))
    assert image.format == "WEBP"  # the example asks output_format webp
    assert image.size == (96, 64)


def _check_vyro(namespace: dict) -> None:
    response = namespace["response"]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size) == ("PNG", (96, 64))


def test_aithriving_example_against_the_live_server(inpaint_server, example_dir):
    before = inpaint_server.balance()
    _check_aithriving(run_example(aithriving_example(inpaint_server.url, inpaint_server.key), example_dir))
    assert inpaint_server.balance() == before - CREDITS_PER_SUCCESS
    inpaint_server.assert_client_conformant()


def test_vyro_example_against_the_live_server(inpaint_server, example_dir):
    _check_vyro(run_example(vyro_example(inpaint_server.url, inpaint_server.key, example_dir), example_dir))
    inpaint_server.assert_client_conformant()


def test_aithriving_example_unchanged_host_is_answered_by_the_mock(inpaint_fake, example_dir):
    code = aithriving_example(None, inpaint_fake.key)
    assert "https://www.aithriving.com/api/edit/inpaint" in code
    _check_aithriving(run_example(code, example_dir))
    assert inpaint_fake.balance() == 6000 - CREDITS_PER_SUCCESS
    assert [e["status"] for e in inpaint_fake.journal()] == [200]
    inpaint_fake.assert_client_conformant()


def test_vyro_example_unchanged_host_is_answered_by_the_mock(inpaint_fake, example_dir):
    code = vyro_example(None, inpaint_fake.key, example_dir)
    assert "https://api.vyro.ai/v1/imagine/api/edits/inpaint" in code
    _check_vyro(run_example(code, example_dir))
    inpaint_fake.assert_client_conformant()


def test_the_aithriving_example_with_a_wrong_key_takes_its_error_branch(inpaint_fake, example_dir):
    namespace = run_example(aithriving_example(None, "not-a-key"), example_dir)
    assert namespace["error"]["code"] == -1 and namespace["error"]["message"]
    assert inpaint_fake.balance() == 6000

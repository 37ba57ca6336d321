"""aiohttp clients answered by the in-process mock (aioresponses) and the `inpaint_fake` fixture.

The same `FakeProvider.handle` answers them as httpx and requests: one journal, one set of
faults, one ledger; `check-client` judges what aiohttp sent, multipart from FormData included.
"""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from PIL import Image
from test_fake_support import image_bytes, mask_bytes

from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS
from inpaint_conformance.fakes.journal import dumps_jsonl
from inpaint_conformance.fakes.mocks import mock_providers
from inpaint_conformance.harness.cli import main

aiohttp = pytest.importorskip("aiohttp", reason="the `aiohttp` extra: pip install 'inpaint-conformance[aiohttp]'")
pytest.importorskip("aioresponses", reason="the `aiohttp` extra: pip install 'inpaint-conformance[aiohttp]'")

AIT = "https://www.aithriving.com/api/edit/inpaint"
VYRO = "https://api.vyro.ai/v1/imagine/api/edits/inpaint"


def form(**fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        data.add_field(name, value)
    data.add_field("image", image_bytes(), filename="image.png", content_type="image/png")
    data.add_field("mask", mask_bytes(), filename="mask.png", content_type="image/png")
    return data


async def inpaint_ait(key: str, **fields: str) -> tuple[int, dict]:
    """What an app's aiohttp client does: POST the FormData, read the JSON envelope."""
    async with (
        aiohttp.ClientSession(headers={"authorization": key}) as session,
        session.post(AIT, data=form(**fields)) as response,
    ):
        return response.status, await response.json()


def test_an_aiohttp_client_is_answered_charged_and_journalled(inpaint_fake):
    status, envelope = asyncio.run(inpaint_ait(inpaint_fake.key, prompt="a cat", seed="7"))
    assert status == 200 and envelope["code"] == 0 and envelope["data"]["seed"] == 7
    assert Image.open(io.BytesIO(base64.b64decode(envelope["data"]["image"]))).size == (96, 64)
    assert inpaint_fake.balance() == 6000 - CREDITS_PER_SUCCESS
    [entry] = inpaint_fake.journal()
    assert (entry["api"], entry["status"]) == ("aithriving", 200)
    inpaint_fake.assert_client_conformant()  # the FormData multipart was parsed and judged


def test_vyro_raw_png_and_an_error_reach_an_aiohttp_client(inpaint_fake):
    async def calls() -> list[tuple[int, str, bytes]]:
        answers = []
        async with aiohttp.ClientSession() as session:
            for token in (inpaint_fake.key, "not-a-known-token"):
                async with session.post(VYRO, headers={"bearer": token}, data=form(prompt="a cat")) as response:
                    answers.append((response.status, response.content_type, await response.read()))
        return answers

    (ok, ok_type, png), (refused, _, _) = asyncio.run(calls())
    assert (ok, ok_type) == (200, "image/png") and Image.open(io.BytesIO(png)).size == (96, 64)
    assert refused == 401
    assert [e["status"] for e in inpaint_fake.journal(api="vyro")] == [200, 401]


def test_faults_raise_aiohttp_own_exceptions_and_cost_nothing(inpaint_fake):
    inpaint_fake.inject("timeout")
    with pytest.raises(asyncio.TimeoutError):  # aiohttp.ServerTimeoutError is one
        asyncio.run(inpaint_ait(inpaint_fake.key, prompt="a cat"))
    inpaint_fake.inject("drop")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        asyncio.run(inpaint_ait(inpaint_fake.key, prompt="a cat"))
    inpaint_fake.inject("status_500")
    status, _ = asyncio.run(inpaint_ait(inpaint_fake.key, prompt="a cat"))
    assert status == 500
    assert inpaint_fake.balance() == 6000  # nothing was served, nothing charged
    status, _ = asyncio.run(inpaint_ait(inpaint_fake.key, prompt="a cat"))
    assert status == 200 and inpaint_fake.balance() == 6000 - CREDITS_PER_SUCCESS


def test_other_hosts_fail_and_loopback_passes_through(inpaint_server):
    async def calls() -> int:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get("https://example.com/")
            async with session.post(
                inpaint_server.ait_url, headers={"authorization": "test-key"}, data=form(prompt="a cat")
            ) as response:  # the live fake on 127.0.0.1, through a real socket
                return response.status

    with mock_providers():
        assert asyncio.run(calls()) == 200


def test_check_client_judges_what_aiohttp_sent(inpaint_fake, tmp_path, capsys):
    asyncio.run(inpaint_ait(inpaint_fake.key, prompt="a cat", seed="12"))
    asyncio.run(inpaint_ait(inpaint_fake.key, prompt="a cat", seed="4294967295"))  # the client's bug: over the bound
    journal = tmp_path / "journal.jsonl"
    journal.write_text(dumps_jsonl(inpaint_fake.journal()))
    code = main(["check-client", str(journal), "--json-report", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert "ait.seed.range" in out and "2 inpaint request(s) in journal" in out
    with pytest.raises(AssertionError, match="ait.seed.range"):
        inpaint_fake.assert_client_conformant()


def test_a_client_without_aiohttp_mocking_is_told_the_extra(monkeypatch):
    from inpaint_conformance.fakes import mocks

    monkeypatch.setattr(mocks, "aiohttp_mockable", lambda: False)
    with pytest.raises(ImportError, match=r"pip install 'inpaint-conformance\[aiohttp\]'"):
        mock_providers(aiohttp=True)
    assert mock_providers().mock_aiohttp is False  # by default: mocked where it can be


def test_a_mock_inside_the_fixture_answers_from_its_own_fake(inpaint_fake):
    with mock_providers() as inner:
        inner.set_credits(inner.key, 600)
        status, _ = asyncio.run(inpaint_ait(inner.key, prompt="a cat"))
        assert status == 200 and inner.balance() == 600 - CREDITS_PER_SUCCESS
    asyncio.run(inpaint_ait(inpaint_fake.key, prompt="a cat"))  # the fixture's mock answers again
    assert len(inner.journal()) == 1 and len(inpaint_fake.journal()) == 1

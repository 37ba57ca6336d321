"""The in-process mocks and the pytest fixtures: same answers as the server, no network."""

from __future__ import annotations

import asyncio
import io
import time

import httpx
import pytest
import requests
import respx
from PIL import Image
from test_fake_support import decoded_ait_image, parts

from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS
from inpaint_conformance.fakes import FakeProvider
from inpaint_conformance.fakes.mocks import mock_providers

AIT = "https://www.aithriving.com/api/edit/inpaint"
VYRO = "https://api.vyro.ai/v1/imagine/api/edits/inpaint"


def test_httpx_and_requests_calls_to_the_real_hosts_are_answered(inpaint_fake):
    with httpx.Client() as client:
        first = client.post(
            AIT, headers={"authorization": inpaint_fake.key}, files=parts(), data={"prompt": "a cat", "seed": "7"}
        )
    second = requests.post(VYRO, headers={"bearer": inpaint_fake.key}, files=parts(), data={"prompt": "a cat"})
    assert first.json()["code"] == 0 and first.json()["data"]["seed"] == 7
    assert decoded_ait_image(first.json()).size == (96, 64)
    assert second.status_code == 200 and second.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(second.content)).size == (96, 64)
    assert inpaint_fake.balance() == 6000 - CREDITS_PER_SUCCESS
    assert [(e["api"], e["status"]) for e in inpaint_fake.journal()] == [("aithriving", 200), ("vyro", 200)]


def test_the_mock_and_the_server_answer_alike(inpaint_fake, inpaint_server):
    """One handler: the same bad request gets the same status and envelope through both doors."""
    bad = {"files": parts(), "data": {"prompt": "a cat", "seed": "4294967295"}}
    mocked = requests.post(AIT, headers={"authorization": inpaint_fake.key}, **bad)
    live = requests.post(inpaint_server.ait_url, headers={"authorization": inpaint_server.key}, **bad)
    assert (mocked.status_code, mocked.json()) == (live.status_code, live.json())
    assert mocked.json()["code"] == -1 and "4294967294" in mocked.json()["message"]


def test_async_httpx_requests_run_concurrently(inpaint_fake):
    inpaint_fake.inject("latency", seconds=0.6, count=None)  # every request, not only the first

    async def four_at_once():
        async with httpx.AsyncClient() as client:
            return await asyncio.gather(
                *[
                    client.post(AIT, headers={"authorization": inpaint_fake.key}, files=parts(), data={"prompt": "x"})
                    for _ in range(4)
                ]
            )

    started = time.monotonic()
    answers = asyncio.run(four_at_once())
    assert [a.json()["code"] for a in answers] == [0, 0, 0, 0]
    assert time.monotonic() - started < 1.8  # 4 x 0.6 s one after another would be 2.4 s
    assert inpaint_fake.balance() == 6000 - 4 * CREDITS_PER_SUCCESS


def test_set_credits_and_insufficient_credits(inpaint_fake):
    inpaint_fake.set_credits(inpaint_fake.key, 5)
    answer = requests.post(AIT, headers={"authorization": inpaint_fake.key}, files=parts(), data={"prompt": "x"}).json()
    assert answer["code"] == -1 and "credits" in answer["message"]
    assert inpaint_fake.balance() == 5
    inpaint_fake.set_credits("second-key", 6)
    assert (
        requests.post(AIT, headers={"authorization": "second-key"}, files=parts(), data={"prompt": "x"}).json()["code"]
        == 0
    )
    assert (inpaint_fake.balance("second-key"), inpaint_fake.balance()) == (0, 5)


def test_assert_client_conformant_passes_a_good_client(inpaint_fake):
    requests.post(AIT, headers={"authorization": inpaint_fake.key}, files=parts(), data={"prompt": "x"})
    inpaint_fake.assert_client_conformant()


def test_assert_client_conformant_lists_each_broken_clause_and_request(inpaint_fake):
    requests.post(AIT, headers={"authorization": inpaint_fake.key}, files=parts(), data={"seed": "1.5"})
    requests.post(VYRO, headers={"bearer": inpaint_fake.key}, files={"image": parts()["image"]}, data={"prompt": "x"})
    with pytest.raises(AssertionError) as failure:
        inpaint_fake.assert_client_conformant()
    text = str(failure.value)
    assert "ait.prompt.required" in text and "ait.seed.integer" in text and "vyro.mask.required" in text
    assert "request #1" in text and "request #2" in text


def test_assert_client_conformant_fails_on_an_empty_journal_unless_allowed(inpaint_fake):
    """A client that never reached the fake (a wrong URL, a mocked-out call) proves nothing."""
    with pytest.raises(AssertionError, match="no request reached the fake"):
        inpaint_fake.assert_client_conformant()
    inpaint_fake.assert_client_conformant(allow_empty=True)


def test_other_hosts_are_not_mocked_and_never_reach_the_network(inpaint_fake):
    with pytest.raises(requests.exceptions.ConnectionError, match="Responses"):
        requests.get("https://example.com/")
    with pytest.raises(respx.models.AllMockedAssertionError):
        httpx.get("https://example.com/")


def test_loopback_passes_through_to_a_live_server(inpaint_fake, inpaint_server):
    response = httpx.get(inpaint_server.credits_url, headers={"authorization": inpaint_server.key})
    assert response.json() == {"credits": 6000}


def test_mock_providers_as_a_context_manager_and_a_decorator():
    provider = FakeProvider()
    provider.add_key("mine", 12)
    with mock_providers(provider, key="mine") as fake:
        assert fake.provider is provider and fake.key == "mine"
        requests.post(AIT, headers={"authorization": "mine"}, files=parts(), data={"prompt": "x"})
    assert provider.ledger.balance("mine") == 6

    mock = mock_providers(provider)

    @mock
    def call() -> int:
        return httpx.post(AIT, headers={"authorization": "mine"}, files=parts(), data={"prompt": "x"}).json()["code"]

    assert call() == 0 and provider.ledger.balance("mine") == 0

    @mock
    async def call_async() -> int:
        async with httpx.AsyncClient() as client:
            return (
                await client.post(AIT, headers={"authorization": "mine"}, files=parts(), data={"prompt": "x"})
            ).json()["code"]

    assert asyncio.run(call_async()) == -1  # no credits left: the failure envelope, from the same ledger


def test_extra_base_urls_are_mocked_too():
    with mock_providers(base_urls=["http://fake.test/provider"]) as fake:
        answer = requests.post(
            "http://fake.test/provider/api/edit/inpaint",
            headers={"authorization": "test-key"},
            files=parts(),
            data={"prompt": "x"},
        )
        assert answer.json()["code"] == 0
    assert fake.balance() == 6000 - CREDITS_PER_SUCCESS


def test_upload_over_the_limit_is_refused_like_the_server_does(inpaint_fake):
    huge = b"\x89PNG\r\n\x1a\n" + bytes(21 * 1024 * 1024)
    answer = requests.post(
        AIT, headers={"authorization": inpaint_fake.key}, files=parts(image=huge), data={"prompt": "x"}
    )
    assert answer.status_code == 413 and answer.json()["code"] == -1
    assert inpaint_fake.balance() == 6000


def test_mock_providers_gives_what_the_fixture_gives(inpaint_fake):
    """Outside pytest a user gets the fixture's object: key, balance, inject, journal, conformance."""
    import inpaint_conformance
    from inpaint_conformance.fakes import TEST_KEY

    with inpaint_conformance.mock_providers() as fake:
        assert type(fake) is type(inpaint_fake)
        assert fake.key == TEST_KEY == inpaint_conformance.TEST_KEY == "test-key" == fake.DEFAULT_KEY
        assert fake.balance() == 6000
        fake.inject("status_500")
        first = requests.post(fake.ait_url, headers={"authorization": fake.key}, files=parts(), data={"prompt": "x"})
        second = requests.post(fake.ait_url, headers={"authorization": fake.key}, files=parts(), data={"prompt": "x"})
        assert (first.status_code, second.json()["code"]) == (500, 0)
        assert fake.balance() == 6000 - CREDITS_PER_SUCCESS
        assert [e["status"] for e in fake.journal()] == [500, 200]
        fake.assert_client_conformant()
        assert fake.provider.ledger.balance(fake.key) == fake.balance()
        requests.post(fake.ait_url, headers={"authorization": fake.key}, files=parts(), data={})  # no prompt
        with pytest.raises(AssertionError, match="ait.prompt.required"):
            fake.assert_client_conformant()

"""Fault injection: each transport fault through both doors (live server, in-process mocks)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import requests
from test_fake_support import parts

from inpaint_conformance.fakes.faults import Fault, FaultBook


@pytest.fixture(params=["server", "mock"])
def door(request):
    """The fake behind a real socket or behind the mocks; the test code is the same."""
    return request.getfixturevalue("inpaint_server" if request.param == "server" else "inpaint_fake")


def _ait(door, client=httpx, **kw):
    return client.post(door.ait_url, headers={"authorization": door.key}, files=parts(), data={"prompt": "x"}, **kw)


def _vyro(door, client=httpx, **kw):
    return client.post(door.vyro_url, headers={"bearer": door.key}, files=parts(), data={"prompt": "x"}, **kw)


def test_latency_delays_the_answer(door):
    door.inject("latency", seconds=0.3, count=1)
    started = time.monotonic()
    assert _ait(door).json()["code"] == 0
    assert time.monotonic() - started >= 0.3
    assert door.journal()[-1]["faults"] == ["latency"]


@pytest.mark.parametrize("api", ["aithriving", "vyro"])
def test_status_500_is_answered_and_not_charged(door, api):
    door.inject("status_500", api=api, count=1)
    response = _ait(door) if api == "aithriving" else _vyro(door)
    assert response.status_code == 500
    if api == "aithriving":
        assert response.json()["code"] == -1
    assert door.balance() == 6000


def test_status_429_carries_retry_after_and_is_not_charged(door):
    door.inject("status_429", api="aithriving", count=1)
    response = _ait(door)
    assert response.status_code == 429 and response.json()["code"] == -1
    assert int(response.headers["retry-after"]) >= 1
    assert door.balance() == 6000
    assert _ait(door).json()["code"] == 0  # count 1: the next request goes through


def test_status_429_retry_after_follows_the_fault_seconds(inpaint_fake):
    inpaint_fake.inject("status_429", seconds=7, count=1)
    assert _ait(inpaint_fake).headers["retry-after"] == "7"


def test_status_401_refuses_a_valid_key(door):
    door.inject("status_401", count=2)
    assert _ait(door).json()["code"] == -1
    assert _vyro(door).status_code == 401
    assert door.balance() == 6000


@pytest.mark.parametrize("client, error", [(httpx, httpx.ReadTimeout), (requests, requests.exceptions.ReadTimeout)])
def test_timeout_never_answers(door, client, error):
    door.inject("timeout", seconds=1, count=1)
    with pytest.raises(error):
        _ait(door, client, timeout=0.3)
    assert door.balance() == 6000
    assert _ait(door, client, timeout=5).status_code == 200


@pytest.mark.parametrize(
    "client, error", [(httpx, httpx.RemoteProtocolError), (requests, requests.exceptions.ConnectionError)]
)
def test_drop_closes_the_connection_without_an_answer(door, client, error):
    door.inject("drop", count=1)
    with pytest.raises(error):
        _vyro(door, client)
    assert door.journal()[-1]["transport"] == "drop"


def test_truncate_sends_half_a_body(door):
    door.inject("truncate", api="aithriving", count=1)
    response = _ait(door)
    assert response.status_code == 200 and response.text.startswith('{"code": 0')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert len(response.content) == door.journal()[-1]["response_bytes"]


def test_malformed_body_is_not_what_the_content_type_says(door):
    door.inject("malformed", count=1)
    response = _ait(door)
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_wrong_content_type_keeps_the_body(door):
    door.inject("wrong_content_type", api="vyro", count=1)
    response = _vyro(door)
    assert response.status_code == 200 and response.headers["content-type"] == "text/html"
    assert response.content.startswith(b"\x89PNG")


def test_a_fault_scoped_to_one_key_spares_the_others(door):
    door.set_credits("other-key", 60)
    door.inject("status_500", key="other-key")
    assert _ait(door).json()["code"] == 0
    response = httpx.post(door.ait_url, headers={"authorization": "other-key"}, files=parts(), data={"prompt": "x"})
    assert response.status_code == 500


def test_probability_draws_replay_under_a_seed():
    def fired(seed: int) -> list[bool]:
        book = FaultBook()
        book.add(Fault("status_500", probability=0.5, seed=seed))
        return ["status_500" in book.draw("aithriving", None) for _ in range(40)]

    assert fired(3) == fired(3)
    assert 5 < sum(fired(3)) < 35 and fired(3) != fired(4)


def test_named_deviation_breaks_its_rule(door):
    door.inject("charge_twice", count=1)
    assert _ait(door).json()["code"] == 0
    assert door.balance() == 6000 - 12


def _with_retries(call, attempts: int = 3):
    """A client's retry loop as a user writes it: retry timeouts and 5xx a few times."""
    for attempt in range(attempts):
        try:
            response = call()
        except (httpx.TimeoutException, requests.exceptions.Timeout):
            continue
        if response.status_code < 500:
            return response, attempt + 1
    raise AssertionError(f"no answer after {attempts} attempts")


@pytest.mark.parametrize("client", [httpx, requests])
@pytest.mark.parametrize("kind", ["timeout", "status_500"])
def test_a_transport_fault_fires_once_by_default_so_a_retry_succeeds(door, client, kind):
    door.inject(kind, seconds=1) if kind == "timeout" else door.inject(kind)
    response, attempts = _with_retries(lambda: _ait(door, client, timeout=0.3 if kind == "timeout" else 5))
    assert (response.status_code, response.json()["code"], attempts) == (200, 0, 2)
    assert door.faults() == []  # used up
    assert door.balance() == 6000 - 6  # the failed attempt cost nothing


def test_count_none_keeps_a_transport_fault_on_until_cleared(door):
    door.inject("status_500", count=None)
    assert [_ait(door).status_code for _ in range(3)] == [500, 500, 500]
    door.clear_faults()
    assert _ait(door).status_code == 200


def test_a_deviation_stays_on_until_cleared_by_default(door):
    door.inject("charge_twice")
    _ait(door), _ait(door)
    assert door.balance() == 6000 - 24
    assert [f["kind"] for f in door.faults()] == ["charge_twice"]


def test_the_http_face_has_the_same_defaults(inpaint_server):
    faults = inpaint_server.url + "/__fake__/faults"
    once = httpx.post(faults, json={"kind": "status_500"}).json()
    assert once["count"] == 1
    forever = httpx.post(faults, json={"kind": "status_500", "api": "vyro", "count": None}).json()
    assert forever["count"] is None
    deviation = httpx.post(faults, json={"kind": "mask_inverted"}).json()
    assert deviation["count"] is None

"""The admin API is closed to web pages: Host, Origin and JSON checks (CSRF, DNS rebinding)."""

from __future__ import annotations

import subprocess

import pytest
from fastapi.testclient import TestClient

from inpaint_conformance.fakes import FakeProvider
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.server import serving

KEY = "admin-test-key"
BASE = "http://127.0.0.1:8000"
WRITES = [
    ("post", "/__fake__/faults", {"kind": "status_500"}),
    ("post", "/__fake__/keys", {"key": "planted-key", "credits": 10**6}),
    ("post", "/__fake__/reset", {"balances": True}),
    ("put", f"/__fake__/keys/{KEY}", {"credits": 10**6}),
]


@pytest.fixture
def fake() -> FakeProvider:
    provider = FakeProvider(thumbnails=False)
    provider.add_key(KEY, 60)
    return provider


@pytest.fixture
def client(fake):
    with TestClient(create_app(fake), base_url=BASE) as http:
        yield http


def _untouched(fake: FakeProvider) -> None:
    assert fake.faults.active() == [] and fake.ledger.balance("planted-key") is None
    assert fake.ledger.balance(KEY) == 60


@pytest.mark.parametrize("method, path, body", WRITES)
def test_a_page_of_another_origin_cannot_write_even_as_text_plain(client, fake, method, path, body):
    import json

    response = client.request(
        method.upper(),
        path,
        content=json.dumps(body),
        headers={"origin": "http://evil.example", "content-type": "text/plain"},
    )
    assert response.status_code == 403 and "another origin" in response.json()["detail"]
    _untouched(fake)


@pytest.mark.parametrize("method, path, body", WRITES)
def test_a_rebound_host_name_is_refused(client, fake, method, path, body):
    response = client.request(method.upper(), path, json=body, headers={"host": "evil.example"})
    assert response.status_code == 403 and "loopback" in response.json()["detail"]
    _untouched(fake)
    assert client.get("/__fake__/journal", headers={"host": "evil.example:8000"}).status_code == 403
    assert client.get("/__fake__/", headers={"host": "evil.example"}).status_code == 403


def test_a_write_that_is_not_json_is_refused_with_415(client, fake):
    response = client.post(
        "/__fake__/faults", content=b'{"kind": "status_500"}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415 and "application/json" in response.json()["detail"]
    form = client.post("/__fake__/keys", data={"key": "planted-key"})
    assert form.status_code == 415
    _untouched(fake)


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "127.0.0.2"])
def test_loopback_names_and_same_origin_calls_work(client, fake, host):
    origin = f"http://{host}"
    added = client.post(
        "/__fake__/faults", json={"kind": "latency", "seconds": 0}, headers={"host": host, "origin": origin}
    )
    assert added.status_code == 201, added.text
    assert client.get("/__fake__/faults", headers={"host": host}).status_code == 200
    assert client.post("/__fake__/reset", headers={"host": host}).status_code == 200  # no body, no type: curl -X POST


def test_the_same_host_on_another_port_is_another_origin(client):
    response = client.post(
        "/__fake__/faults", json={"kind": "drop"}, headers={"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:9999"}
    )
    assert response.status_code == 403


def test_origin_null_is_refused(client):
    assert client.post("/__fake__/faults", json={"kind": "drop"}, headers={"origin": "null"}).status_code == 403


def test_the_admin_token_opens_every_door(fake):
    with TestClient(create_app(fake, admin_token="t0ken-for-admin"), base_url=BASE) as client:
        headers = {"host": "fake.internal", "origin": "http://elsewhere.example", "x-admin-token": "t0ken-for-admin"}
        assert client.post("/__fake__/keys", json={"key": "made-by-token"}, headers=headers).status_code == 201
        wrong = client.get("/__fake__/keys", headers={**headers, "x-admin-token": "guess"})
        assert wrong.status_code == 403
        # Without the token, a loopback caller still gets in by the loopback rules.
        assert client.get("/__fake__/keys").status_code == 200


def test_the_credits_probe_stays_open(client):
    response = client.get("/__fake__/credits", headers={"authorization": KEY, "host": "evil.example"})
    assert response.json() == {"credits": 60}


def test_the_curl_commands_of_the_issue_get_403_from_a_live_fake(fake):
    with serving(create_app(fake)) as server:
        common = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"]
        evil_origin = [
            *common,
            "-H",
            "Origin: http://evil.example",
            "-H",
            "Content-Type: text/plain",
            "--data",
            '{"kind":"status_500"}',
            f"{server.url}/__fake__/faults",
        ]
        evil_host = [
            *common,
            "-H",
            "Host: evil.example",
            "-H",
            "Content-Type: application/json",
            "--data",
            '{"kind":"status_500"}',
            f"{server.url}/__fake__/faults",
        ]
        assert subprocess.run(evil_origin, capture_output=True, text=True, check=True).stdout == "403"
        assert subprocess.run(evil_host, capture_output=True, text=True, check=True).stdout == "403"
    assert fake.faults.active() == []

"""The inspection API under /__fake__/: balances, keys, journal, faults, reset, access."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from test_fake_support import parts

from inpaint_conformance.contracts import redact_secret
from inpaint_conformance.fakes import FakeProvider
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.faults import KINDS

SECRET = "sk-live-0123456789abcdef"  # long enough that redaction keeps a 4-character hint


@pytest.fixture
def fake() -> FakeProvider:
    provider = FakeProvider()
    provider.add_key(SECRET, 600)
    return provider


@pytest.fixture
def client(fake):
    with TestClient(create_app(fake)) as http:
        yield http


def _inpaint(client, key: str = SECRET, **data):
    return client.post(
        "/api/edit/inpaint", headers={"authorization": key}, files=parts(), data={"prompt": "a cat", **data}
    )


def test_credits_probe_answers_the_balance_and_401_for_unknown_keys(client):
    assert client.get("/__fake__/credits", headers={"authorization": SECRET}).json() == {"credits": 600}
    assert client.get("/__fake__/credits", headers={"bearer": SECRET}).json() == {"credits": 600}
    assert client.get("/__fake__/credits", headers={"authorization": "nope"}).status_code == 401
    assert client.get("/__fake__/credits").status_code == 401


def test_keys_are_created_listed_redacted_and_set(client):
    created = client.post("/__fake__/keys", json={"key": "another-key-123456", "credits": 12})
    assert created.status_code == 201 and created.json() == {"key": "another-key-123456", "credits": 12}
    generated = client.post("/__fake__/keys", json={}).json()
    assert len(generated["key"]) >= 16 and generated["credits"] == 6000
    listing = client.get("/__fake__/keys").text
    assert SECRET not in listing and "another-key-123456" not in listing and generated["key"] not in listing
    assert sorted(k["credits"] for k in json.loads(listing)["keys"]) == [12, 600, 6000]
    assert client.put("/__fake__/keys/another-key-123456", json={"credits": 3}).json() == {"credits": 3}
    assert client.get("/__fake__/credits", headers={"authorization": "another-key-123456"}).json() == {"credits": 3}


@pytest.mark.parametrize(
    "method, path, body, status, words",
    [
        ("post", "/__fake__/keys", {"key": SECRET}, 409, "PUT /__fake__/keys/{key}"),
        ("post", "/__fake__/keys", {"key": "k", "credits": -1}, 400, ">= 0"),
        ("post", "/__fake__/keys", {"key": "has space"}, 400, "printable ASCII"),
        ("post", "/__fake__/keys", {"kee": "x"}, 400, "unknown field(s) kee"),
        ("put", "/__fake__/keys/unknown", {"credits": 1}, 404, "POST /__fake__/keys"),
        ("put", f"/__fake__/keys/{SECRET}", {"credits": "many"}, 400, "whole number"),
        ("put", f"/__fake__/keys/{SECRET}", {}, 400, '{"credits": N}'),
    ],
)
def test_bad_key_calls_are_refused_with_a_reason(client, method, path, body, status, words):
    response = getattr(client, method)(path, json=body)
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_a_body_that_is_not_a_json_object_is_a_400(client):
    response = client.post("/__fake__/keys", content=b"[1, 2", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "JSON object" in response.json()["detail"]


def test_journal_lists_filters_exports_and_clears(client):
    _inpaint(client)
    client.post("/v1/imagine/api/edits/inpaint", headers={"bearer": SECRET}, files=parts(), data={"prompt": "a cat"})
    entries = client.get("/__fake__/journal").json()
    assert [(e["api"], e["status"]) for e in entries] == [("aithriving", 200), ("vyro", 200)]
    assert [e["api"] for e in client.get("/__fake__/journal?api=vyro").json()] == ["vyro"]
    assert [e["id"] for e in client.get(f"/__fake__/journal?since={entries[0]['id']}").json()] == [entries[1]["id"]]
    lines = client.get("/__fake__/journal.jsonl").text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [e["id"] for e in entries]
    assert client.get("/__fake__/journal?api=openai").status_code == 400
    assert client.get("/__fake__/journal?since=-1").status_code == 400
    assert client.delete("/__fake__/journal").status_code == 200
    assert client.get("/__fake__/journal").json() == []


def test_the_journal_records_what_the_client_broke(client):
    client.post("/api/edit/inpaint", headers={"authorization": SECRET}, files=parts(), data={"seed": "-5"})
    [entry] = client.get("/__fake__/journal").json()
    clauses = {v["clause"] for v in entry["violations"]}
    assert {"ait.prompt.required", "ait.seed.range"} <= clauses
    assert entry["client_conformant"] is False


def test_secrets_never_appear_in_the_journal_or_its_export(client):
    _inpaint(client)
    client.post(
        "/v1/imagine/api/edits/inpaint",
        headers={"authorization": f"Bearer {SECRET}"},
        files=parts(),
        data={"prompt": "x"},
    )
    client.post("/__fake__/faults", json={"kind": "latency", "key": SECRET, "seconds": 0})
    for path in ("/__fake__/journal", "/__fake__/journal.jsonl", "/__fake__/faults", "/__fake__/keys"):
        text = client.get(path).text
        assert SECRET not in text, path
    exported = [json.loads(line) for line in client.get("/__fake__/journal.jsonl").text.splitlines()]
    assert exported[0]["key"] == redact_secret(SECRET) == exported[0]["headers"]["authorization"]


def test_faults_are_added_listed_and_cleared(client, fake):
    added = client.post("/__fake__/faults", json={"kind": "status_500", "api": "ait", "count": 1})
    assert added.status_code == 201
    fault = added.json()
    assert (fault["kind"], fault["api"], fault["count"]) == ("status_500", "aithriving", 1)
    assert [f["id"] for f in client.get("/__fake__/faults").json()["faults"]] == [fault["id"]]
    assert _inpaint(client).status_code == 500
    assert client.get("/__fake__/faults").json()["faults"] == []  # count 1: used up
    assert _inpaint(client).json()["code"] == 0

    second = client.post("/__fake__/faults", json={"kind": "status_401"}).json()
    assert client.delete("/__fake__/faults/999").status_code == 404
    assert client.delete(f"/__fake__/faults/{second['id']}").json() == {"cleared": second["id"]}
    client.post("/__fake__/faults", json={"kind": "drop"})
    assert client.delete("/__fake__/faults").status_code == 200
    assert fake.faults.active() == []


@pytest.mark.parametrize(
    "body, words",
    [
        ({"kind": "explode"}, "unknown fault kind 'explode': expected one of"),
        ({"kind": "latency", "api": "openai"}, "unknown API 'openai'"),
        ({"kind": "latency", "count": 0}, "count must be >= 1"),
        ({"kind": "latency", "probability": 2}, "probability must be in [0, 1]"),
        ({"kind": "latency", "seconds": "soon"}, "seconds must be a number"),
        ({"kind": "latency", "when": "now"}, "unknown fault field(s) when"),
    ],
)
def test_bad_faults_are_refused_with_a_reason(client, body, words):
    response = client.post("/__fake__/faults", json=body)
    assert response.status_code == 400
    assert words in response.json()["detail"]


def test_unknown_fault_kind_lists_every_valid_kind(client):
    detail = client.post("/__fake__/faults", json={"kind": "nope"}).json()["detail"]
    assert all(kind in detail for kind in KINDS)


def test_reset_clears_journal_and_faults_and_optionally_balances(client, fake):
    client.post("/__fake__/keys", json={"key": "made-later-key", "credits": 60})
    _inpaint(client)
    _inpaint(client, "made-later-key")
    client.post("/__fake__/faults", json={"kind": "latency", "seconds": 0})
    assert client.post("/__fake__/reset").json()["balances_restored"] == 0
    assert client.get("/__fake__/journal").json() == [] and fake.faults.active() == []
    assert fake.ledger.balance(SECRET) == 594
    assert client.post("/__fake__/reset", json={"balances": True}).json()["balances_restored"] == 2
    assert (fake.ledger.balance(SECRET), fake.ledger.balance("made-later-key")) == (600, 60)
    assert client.post("/__fake__/reset", json={"balances": "yes"}).status_code == 400


ADMIN_CALLS = [
    ("get", "/__fake__/keys"),
    ("post", "/__fake__/keys"),
    ("put", f"/__fake__/keys/{SECRET}"),
    ("get", "/__fake__/journal"),
    ("get", "/__fake__/journal.jsonl"),
    ("delete", "/__fake__/journal"),
    ("get", "/__fake__/faults"),
    ("post", "/__fake__/faults"),
    ("delete", "/__fake__/faults"),
    ("delete", "/__fake__/faults/1"),
    ("post", "/__fake__/reset"),
]


@pytest.mark.parametrize("method, path", ADMIN_CALLS)
def test_admin_calls_are_refused_off_loopback_without_a_token(fake, method, path):
    with TestClient(create_app(fake, loopback_only=False)) as client:
        response = client.request(method.upper(), path, json={})
        assert response.status_code == 403
        assert "--admin-token" in response.json()["detail"]
        assert client.get("/__fake__/credits", headers={"authorization": SECRET}).json() == {"credits": 600}


def test_admin_calls_off_loopback_need_the_right_token(fake):
    with TestClient(create_app(fake, admin_token="s3cret-token", loopback_only=False)) as client:
        assert client.get("/__fake__/keys").status_code == 403
        wrong = client.get("/__fake__/keys", headers={"x-admin-token": "guess"})
        assert wrong.status_code == 403 and "x-admin-token" in wrong.json()["detail"]
        assert client.get("/__fake__/keys", headers={"x-admin-token": "s3cret-token"}).status_code == 200
        client.post(
            "/api/edit/inpaint",
            headers={"authorization": SECRET, "x-admin-token": "s3cret-token"},
            files=parts(),
            data={"prompt": "a cat"},
        )
        journal = client.get("/__fake__/journal.jsonl", headers={"x-admin-token": "s3cret-token"}).text
        assert "s3cret-token" not in journal


def test_the_dashboard_is_served_under_the_inspection_prefix(client):
    page = client.get("/__fake__/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "journal" in page.text.lower()


def test_worker_apps_share_ledger_journal_faults_and_reset(shared_db, monkeypatch):
    from inpaint_conformance.fakes.app_factory import create_app_from_env, settings_env

    for name, value in settings_env(
        db=shared_db, admin_token=None, loopback=True, ait_failure_status=200, run="run-1"
    ).items():
        monkeypatch.setenv(name, value)
    one_app, two_app = create_app_from_env(), create_app_from_env()
    with TestClient(one_app) as one, TestClient(two_app) as two:
        assert one.post("/__fake__/keys", json={"key": "shared-key", "credits": 12}).status_code == 201
        assert two.get("/__fake__/credits", headers={"authorization": "shared-key"}).json() == {"credits": 12}
        _inpaint(one, "shared-key")
        assert two.get("/__fake__/credits", headers={"authorization": "shared-key"}).json() == {"credits": 6}
        # The journal, the faults and reset answer for both workers, whichever takes the call.
        assert [e["credits_after"] for e in two.get("/__fake__/journal").json()] == [6]
        assert two.post("/__fake__/faults", json={"kind": "status_500", "count": 1}).status_code == 201
        assert _inpaint(one, "shared-key").status_code == 500
        assert _inpaint(two, "shared-key").json()["code"] == 0
        assert two.get("/__fake__/faults").json() == {"faults": []}
        state = one.get("/__fake__/dashboard/state").json()
        assert [e["status"] for e in state["entries"]] == [200, 500, 200]
        assert one.post("/__fake__/reset", json={"balances": True}).json()["balances_restored"] == 1
        assert two.get("/__fake__/credits", headers={"authorization": "shared-key"}).json() == {"credits": 12}
        assert two.get("/__fake__/journal").json() == []
    for app in (one_app, two_app):
        app.state.store.close()

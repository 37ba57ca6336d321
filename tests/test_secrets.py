"""B3: no key in clear in the journal, the dashboard, the key listing or logs, whatever
header or field carried it; keys shown as distinct, stable hints."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from test_fake_support import parts

from inpaint_conformance.contracts import redact_headers, redact_secret
from inpaint_conformance.contracts.exchange import is_secret_name, key_hint
from inpaint_conformance.fakes import FakeProvider
from inpaint_conformance.fakes.app import create_app

LONG = "sk-proj-0123456789abcdefXYZ"
OTHER = "sk-live-zyxwvutsrq9876543210"


@pytest.mark.parametrize(
    "name",
    [
        "authorization",
        "bearer",
        "api-key",
        "X-API-Key",
        "x-auth-token",
        "token",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
        "proxy-authorization",
        "x-secret",
        "x-session-id",
        "x-amz-signature",
        "password",
    ],
)
def test_every_credential_looking_header_is_redacted_by_its_name(name):
    redacted = redact_headers({name: LONG, "content-type": "image/png", "x-request-id": "abc"})
    assert LONG not in json.dumps(redacted) and LONG[4:] not in json.dumps(redacted)
    assert redacted[name] == redact_secret(LONG)
    assert redacted["content-type"] == "image/png" and redacted["x-request-id"] == "abc"


@pytest.mark.parametrize("name", ["content-type", "accept", "x-request-id", "user-agent", "keep-alive", "host"])
def test_ordinary_headers_are_kept(name):
    assert not is_secret_name(name)


def test_hints_tell_keys_apart_and_give_none_away():
    short = ["k1", "k2", "dev-key"]
    hints = [key_hint(k) for k in short]
    assert len(set(hints)) == 3 and all(h.startswith("key#") for h in hints)
    assert all(k not in h for k, h in zip(short, hints, strict=True))
    assert key_hint("k1") == key_hint("k1")  # stable: the same key shows the same everywhere
    long_hint = key_hint(LONG)
    assert long_hint.startswith("sk-p…[") and LONG[4:] not in long_hint and f"[{len(LONG) - 4} chars]" in long_hint
    assert key_hint(LONG) != key_hint(LONG[:-1] + "Q")  # same prefix and length, still told apart
    assert redact_secret(f"Bearer {LONG}") == f"Bearer {long_hint}"


@pytest.fixture
def fake() -> FakeProvider:
    provider = FakeProvider(thumbnails=False)
    for key in (LONG, OTHER, "k1", "k2", "k3"):
        provider.add_key(key, 600)
    return provider


@pytest.fixture
def client(fake):
    with TestClient(create_app(fake), base_url="http://127.0.0.1:8000") as http:
        yield http


@pytest.mark.parametrize("header", ["api-key", "x-auth-token", "token", "cookie", "x-api-key"])
def test_a_key_in_any_header_or_field_never_reaches_the_journal(client, header, caplog):
    with caplog.at_level(logging.DEBUG):
        client.post(
            "/api/edit/inpaint",
            headers={"authorization": LONG, header: LONG},
            files=parts(),
            data={"prompt": OTHER, "negative_prompt": LONG, "seed": LONG, "output_format": OTHER, "api_key": LONG},
        )
        client.post(
            "/v1/imagine/api/edits/inpaint",
            headers={"bearer": OTHER, header: OTHER},
            files=parts(),
            data={"prompt": "a cat", "model_version": OTHER},
        )
    for path in ("/__fake__/journal", "/__fake__/journal.jsonl", "/__fake__/dashboard/state", "/__fake__/keys"):
        text = client.get(path).text
        for key in (LONG, OTHER):
            assert key not in text and key[4:] not in text, path
    [ait, vyro] = client.get("/__fake__/journal").json()
    assert ait["request"]["prompt"] == redact_secret(OTHER) and ait["request"]["negative_prompt"] == redact_secret(LONG)
    assert ait["headers"][header] == redact_secret(LONG) and vyro["request"]["model_version"] == redact_secret(OTHER)
    for record in caplog.records:
        assert LONG not in record.getMessage() and OTHER not in record.getMessage()


def test_a_prompt_that_is_no_key_is_journalled_as_it_came(client):
    client.post("/api/edit/inpaint", headers={"authorization": "k1"}, files=parts(), data={"prompt": "k9 is no key"})
    [entry] = client.get("/__fake__/journal").json()
    assert entry["request"]["prompt"] == "k9 is no key"


def test_three_short_keys_are_three_different_rows(client):
    keys = client.get("/__fake__/keys").json()["keys"]
    shown = [k["key"] for k in keys]
    assert len(set(shown)) == len(shown) == 5
    assert {key_hint("k1"), key_hint("k2"), key_hint("k3")} <= set(shown)
    state = client.get("/__fake__/dashboard/state").json()
    assert sorted(k["key"] for k in state["keys"]) == sorted(shown)

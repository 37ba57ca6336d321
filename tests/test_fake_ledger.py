"""The credits ledger under concurrent load, and a stored ledger (SQLite, PostgreSQL) across kill -9 and a restart."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from test_fake_support import ServeProcess, parts

from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS
from inpaint_conformance.fakes import FakeProvider, open_store
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.server import serving


def _inpaint(url: str, key: str) -> dict:
    return httpx.post(
        f"{url}/api/edit/inpaint", headers={"authorization": key}, files=parts(), data={"prompt": "a cat"}, timeout=60
    ).json()


def _credits(url: str, key: str) -> int:
    return httpx.get(f"{url}/__fake__/credits", headers={"authorization": key}).json()["credits"]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def any_db(request, tmp_path) -> str | None:
    """`--db` of each backend: none (in memory), a SQLite file, a PostgreSQL database."""
    if request.param == "memory":
        return None
    return str(tmp_path / "ledger.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_concurrent_requests_never_overdraw_nor_drift(any_db):
    store = open_store(any_db)
    provider = FakeProvider(ledger=store.ledger, journal=store.journal, faults=store.faults)
    provider.add_key("sixty", 60)
    provider.add_key("bystander", 600)
    with serving(create_app(provider)) as server, ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: _inpaint(server.url, "sixty"), range(40)))
        assert _credits(server.url, "sixty") == 0
    successes = [a for a in answers if a["code"] == 0]
    assert len(successes) == 60 // CREDITS_PER_SUCCESS
    assert all("credits" in a["message"] for a in answers if a["code"] != 0)
    assert provider.ledger.balance("bystander") == 600  # A18: nobody else pays
    after = [e["credits_after"] for e in provider.journal.entries()]
    assert len(after) == 40 and min(after) == 0
    store.close()


@pytest.mark.slow
def test_stored_ledger_survives_kill_9_and_a_restart_keeps_the_stored_balance(shared_db):
    db = shared_db
    first = ServeProcess("--db", db, "--api-key", "kept-key=600", "--show-keys")
    try:
        assert "kept-key: 600 credits" in first.banner
        for _ in range(3):
            assert _inpaint(first.url, "kept-key")["code"] == 0
        assert _credits(first.url, "kept-key") == 600 - 3 * CREDITS_PER_SUCCESS
    finally:
        first.kill()

    second = ServeProcess("--db", db, "--api-key", "kept-key=600", "--api-key", "new-key=12", "--show-keys")
    try:
        assert "kept-key: 582 credits (stored balance kept)" in second.banner
        assert _credits(second.url, "kept-key") == 582
        assert _credits(second.url, "new-key") == 12
        assert _inpaint(second.url, "kept-key")["code"] == 0
        assert second.stop(signal.SIGTERM) == 0
    finally:
        second.close()
    store = open_store(db)
    assert store.ledger.balances() == {"kept-key": 576, "new-key": 12}
    store.close()

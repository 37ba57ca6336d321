"""The shared state store (fakes.store): ledger, journal and faults, in SQLite and in PostgreSQL.

Two stores opened on one database stand for two processes (or nodes); a few tests use
real processes, since "atomic" is a claim about processes that do not share a lock.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import uuid

import pytest

from inpaint_conformance.fakes.faults import Fault
from inpaint_conformance.fakes.ledger import SqliteLedger
from inpaint_conformance.fakes.sql_database import redact_url
from inpaint_conformance.fakes.store import StoreError, open_store


@pytest.fixture
def two(shared_db):
    """Two stores on one database: what two worker processes hold."""
    first, second = open_store(shared_db), open_store(shared_db)
    yield first, second
    first.close()
    second.close()


def test_the_ledger_behaves_the_same_in_every_backend(two):
    store, other = two
    assert store.ledger.add_key("k", 60) == 60
    assert other.ledger.add_key("k", 999) == 60  # an existing key keeps its balance
    assert other.ledger.try_charge("k", 6) == 54
    assert store.ledger.balance("k") == 54
    assert store.ledger.try_charge("k", 55) is None and store.ledger.try_charge("nobody", 1) is None
    store.ledger.set_balance("k", 7)
    assert other.ledger.balances() == {"k": 7}
    with pytest.raises(KeyError):
        other.ledger.set_balance("nobody", 1)
    with pytest.raises(ValueError, match=">= 0"):
        store.ledger.add_key("negative", -1)
    assert other.ledger.add_key("k", 30, keep_existing=False) == 30


def test_initial_balances_are_shared_and_marked_when_a_run_starts(two):
    store, other = two
    store.ledger.add_key("a", 60)
    other.ledger.add_key("b", 12)
    store.ledger.try_charge("a", 6)
    other.ledger.set_balance("b", 0)
    assert other.ledger.restore_initial_balances() == 2
    assert store.ledger.balances() == {"a": 60, "b": 12}
    store.ledger.try_charge("a", 6)
    assert store.start_run("run-2")  # a new run: today's balances become the ones reset restores
    store.ledger.try_charge("a", 6)
    other.ledger.restore_initial_balances()
    assert store.ledger.balance("a") == 54


def test_a_run_clears_the_journal_and_faults_once_whoever_starts_it(two):
    store, other = two
    assert store.start_run("run-1")
    store.journal.record({"api": "aithriving", "status": 200})
    store.faults.add(Fault("latency"))
    assert not other.start_run("run-1")  # a second worker, a restarted replica: same run, nothing cleared
    assert len(other.journal.entries()) == 1 and len(other.faults.active()) == 1
    assert other.start_run("run-2")
    assert store.journal.entries() == [] and store.faults.active() == []


def test_the_journal_is_one_ring_for_every_process(shared_db):
    store, other = open_store(shared_db), open_store(shared_db)
    try:
        first = store.journal.record({"api": "aithriving", "status": 200, "key": "ab…cd"})
        second = other.journal.record({"api": "vyro", "status": 400, "nested": {"violations": [1, 2]}})
        assert second["id"] == first["id"] + 1
        assert [e["status"] for e in store.journal.entries()] == [200, 400]
        assert other.journal.entries(api="vyro") == [second]
        assert store.journal.entries(since_id=first["id"]) == [second]
        store.journal.clear()
        assert other.journal.entries() == []
    finally:
        store.close()
        other.close()
    small = open_store(shared_db, journal_capacity=3)
    try:
        for n in range(5):
            small.journal.record({"api": "vyro", "n": n})
        assert [e["n"] for e in small.journal.entries()] == [2, 3, 4]  # the oldest fall off
    finally:
        small.close()


def test_faults_are_one_list_and_their_counts_are_shared(two):
    store, other = two
    fault = store.faults.add(Fault("status_500", api="vyro", count=2))
    other.faults.add(Fault("latency", key="only-this-key", seconds=0.5))
    assert [f.kind for f in other.faults.active()] == ["status_500", "latency"]
    assert store.faults.draw("aithriving", None) == {}
    assert list(other.faults.draw("vyro", "only-this-key")) == ["status_500", "latency"]
    assert other.faults.draw("vyro", "only-this-key")["latency"].seconds == 0.5
    assert [f.kind for f in store.faults.active()] == ["latency"]  # status_500 used its count of 2
    store.faults.clear(fault.id + 1)
    assert other.faults.active() == []


def test_probability_draws_replay_under_a_seed_across_processes(two):
    store, other = two
    store.faults.add(Fault("drop", probability=0.5, seed=11))
    shared = [bool((store, other)[i % 2].faults.draw("vyro", None)) for i in range(40)]
    # The same fault in memory, drawn by one process, fires on the same draws.
    from inpaint_conformance.fakes.faults import FaultBook

    alone = FaultBook()
    alone.add(Fault("drop", probability=0.5, seed=11))
    assert shared == [bool(alone.draw("vyro", None)) for _ in range(40)]
    assert 5 < sum(shared) < 35


def _charge_and_draw(db: str, key: str, times: int, queue) -> None:
    """One process: ``times`` charges of 6 credits, then ``times`` fault draws; how many of each worked."""
    store = open_store(db)
    charged = sum(store.ledger.try_charge(key, 6) is not None for _ in range(times))
    fired = sum("status_500" in store.faults.draw("aithriving", None) for _ in range(times))
    queue.put((charged, fired))
    store.close()


@pytest.mark.slow
def test_charges_and_fault_counts_are_exact_across_processes(shared_db):
    store = open_store(shared_db)
    try:
        store.ledger.add_key("race", 600)
        store.faults.add(Fault("status_500", count=50))
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        # 4 processes x 40: 160 charges of 6 credits where 100 fit, 160 draws of a fault counted 50.
        workers = [context.Process(target=_charge_and_draw, args=(shared_db, "race", 40, queue)) for _ in range(4)]
        for worker in workers:
            worker.start()
        results = [queue.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(30)
        assert sum(charged for charged, _ in results) == 100 and store.ledger.balance("race") == 0
        assert sum(fired for _, fired in results) == 50 and store.faults.active() == []
    finally:
        store.close()


def test_a_voided_request_gets_its_charge_back_and_cannot_be_charged_later(two):
    store, front = two
    store.ledger.add_key("k", 60)
    done, lost, late = (str(uuid.uuid4()) for _ in range(3))
    assert store.ledger.charge_for_request(done, "k", 6) == 54
    assert store.ledger.charge_for_request(lost, "k", 6) == 48
    assert front.ledger.void_request(lost) == 6 and store.ledger.balance("k") == 54
    assert front.ledger.void_request(lost) == 0  # twice is harmless
    assert front.ledger.void_request(late) == 0
    assert store.ledger.charge_for_request(late, "k", 6) is None  # the replica charged after the front gave up
    assert store.ledger.charge_for_request("poor", "nobody", 6) is None
    assert store.ledger.balance("k") == 54


def test_an_old_sqlite_ledger_file_opens_with_its_balances(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the schema ledgers had before initial balances were kept
        db.execute("CREATE TABLE keys (key TEXT PRIMARY KEY, credits INTEGER NOT NULL CHECK (credits >= 0))")
        db.execute("INSERT INTO keys VALUES ('kept', 582)")
    db.close()
    store = open_store(str(path))
    try:
        assert store.ledger.balances() == {"kept": 582}
        store.ledger.try_charge("kept", 6)
        assert store.ledger.restore_initial_balances() == 1 and store.ledger.balance("kept") == 576
        store.start_run("first")
        store.ledger.try_charge("kept", 6)
        store.ledger.restore_initial_balances()
        assert store.ledger.balance("kept") == 576
    finally:
        store.close()
    assert SqliteLedger(path).balances() == {"kept": 576}


def test_store_errors_name_the_fix_and_never_the_password(tmp_path, postgres_server):
    with pytest.raises(StoreError, match="writable file path"):
        open_store(str(tmp_path / "no-such-folder" / "state.db"))
    url = f"postgresql://postgres:hunter2-secret@127.0.0.1:{postgres_server.port}/no_such_database"
    with pytest.raises(StoreError) as error:
        open_store(url)
    message = str(error.value)
    assert "hunter2" not in message and "postgres:***@127.0.0.1" in message and "PGPASSWORD" in message
    assert redact_url("postgresql://u:p@[::1]:5/db?x=1") == "postgresql://u:***@[::1]:5/db?x=1"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"

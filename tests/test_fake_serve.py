"""`inpaint-conformance serve`: the issue's done-when, the banner, shutdown, and refusals."""

from __future__ import annotations

import signal
import socket
import sys
import types
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from test_fake_support import ServeProcess, aithriving_example, parts, run_example, vyro_example, write_example_files

from inpaint_conformance.contracts.exchange import key_hint
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS
from inpaint_conformance.harness.cli import main


@pytest.mark.slow
def test_done_when_seed_examples_get_an_image_and_pay_exactly_6(tmp_path):
    write_example_files(tmp_path)
    server = ServeProcess("--api-key", "k=600", "--show-keys")
    try:
        for path in ("/api/edit/inpaint", "/v1/imagine/api/edits/inpaint", "/__fake__/credits"):
            assert f"{server.url}{path}" in server.banner
        assert "k: 600 credits" in server.banner
        assert f"curl -s {server.url}/api/edit/inpaint -H 'authorization: k'" in server.banner

        ait = run_example(aithriving_example(server.url, "k"), tmp_path)
        assert "error" not in ait and ait["image"]
        probe = httpx.get(f"{server.url}/__fake__/credits", headers={"authorization": "k"}).json()
        assert probe == {"credits": 600 - CREDITS_PER_SUCCESS}
        vyro = run_example(vyro_example(server.url, "k", tmp_path), tmp_path)
        assert vyro["response"].status_code == 200 and vyro["response"].content.startswith(b"\x89PNG")
        assert server.stop(signal.SIGINT) == 0
    finally:
        server.close()


@pytest.mark.slow
def test_without_keys_dev_key_is_made_and_off_loopback_admin_needs_a_token():
    server = ServeProcess("--host", "0.0.0.0", "--ait-failure-status", "4xx")
    try:
        assert "dev-key: 6000 credits" in server.banner
        assert "refused (not bound to loopback): add --admin-token" in server.banner
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{server.url}/__fake__/keys").status_code == 403
        refused = httpx.post(
            f"{server.url}/api/edit/inpaint", headers={"authorization": "dev-key"}, files={}, data={"prompt": "x"}
        )
        assert refused.status_code == 400 and refused.json()["code"] == -1  # --ait-failure-status 4xx
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.close()


@pytest.mark.slow
def test_the_banner_shows_a_hint_of_each_given_key_unless_show_keys():
    secret = "sk-proj-ABCDEFGH12345678"
    server = ServeProcess("--api-key", f"{secret}=60", "--api-key", "short1=6")
    try:
        assert secret not in server.banner and secret[4:] not in server.banner and "short1" not in server.banner
        assert f"{key_hint(secret)}: 60 credits (--show-keys prints it)" in server.banner
        assert f"{key_hint('short1')}: 6 credits" in server.banner
        assert "-H 'authorization: YOUR-KEY'" in server.banner
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.close()


def _serve(capsys, *flags: str) -> tuple[int, str]:
    code = main(["serve", *flags])
    return code, capsys.readouterr().err


def test_a_port_in_use_is_refused_in_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = _serve(capsys, "--port", str(port))
    assert code == 2
    assert err.strip() == f"inpaint-conformance serve: port {port} is in use: pick another with --port"


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--workers", "2"], "--workers > 1 needs --db PATH (SQLite) or --db postgresql://"),
        (["--workers", "2", "--db", "x.db", "--replay", "r.jsonl"], "drop --workers"),
        (["--ingress-replicas", "2"], "only apply with --ray"),
        (["--workers", "2", "--db", "x.db", "--engine", "reference"], "fake engine only"),
        (["--replicas", "3"], "only apply with --ray"),
        (["--port", "70000"], "--port must be in 0..65535"),
        (["--api-key", "has space=5"], "printable ASCII"),
        (["--api-key", "k=5", "--api-key", "k=6"], "given twice"),
        (["--admin-token", " "], "--admin-token is empty"),
        (["--host", "192.0.2.1"], "cannot bind 192.0.2.1:0"),  # TEST-NET: no machine has it, no DNS asked
    ],
)
def test_bad_flags_exit_2_with_a_reason(capsys, flags, words):
    code, err = _serve(capsys, "--port", "0", *flags)
    assert code == 2 and words in err and "Traceback" not in err


def test_ray_hands_over_to_serve_ray(monkeypatch):
    handed = []
    monkeypatch.setitem(
        sys.modules,
        "inpaint_conformance.harness.commands.serve_ray",
        types.SimpleNamespace(run_ray=lambda args: handed.append(args.ray) or 0),
    )
    assert main(["serve", "--ray", "auto"]) == 0 and handed == ["auto"]


WORKER_KEYS = {"load-key-a": 6000, "load-key-b": 6000, "load-key-c": 600, "load-key-d": 300}


@pytest.mark.slow
def test_workers_share_one_ledger_journal_and_fault_list(shared_db):
    """Issue 19's done-when: `serve --workers 2 --db ...`, 600 requests from 32 clients over
    4 keys (two of which run out): no drift against what the clients saw, all 600 journalled."""
    flags = [f for key, credits in WORKER_KEYS.items() for f in ("--api-key", f"{key}={credits}")]
    server = ServeProcess("--workers", "2", "--db", shared_db, *flags, timeout=90)
    keys = list(WORKER_KEYS)
    try:
        assert "2 worker processes sharing the ledger, journal and faults" in server.banner
        assert ("PostgreSQL postgresql://" if shared_db.startswith("postgresql") else f"SQLite {shared_db}") in (
            server.banner
        )

        def send(i: int) -> tuple[str, int]:
            key = keys[i % len(keys)]
            with httpx.Client(timeout=120) as client:
                answer = client.post(
                    f"{server.url}/api/edit/inpaint",
                    headers={"authorization": key},
                    files=parts(),
                    data={"prompt": "x"},
                )
            return key, answer.json()["code"]

        with ThreadPoolExecutor(max_workers=32) as pool:
            seen = list(pool.map(send, range(600)))

        for key, credits in WORKER_KEYS.items():
            successes = sum(1 for k, code in seen if k == key and code == 0)
            balance = httpx.get(f"{server.url}/__fake__/credits", headers={"authorization": key}).json()["credits"]
            assert credits - balance == CREDITS_PER_SUCCESS * successes, key  # drift 0
        assert sum(1 for k, code in seen if k == "load-key-d" and code == 0) == 300 // CREDITS_PER_SUCCESS

        journal = httpx.get(f"{server.url}/__fake__/journal").json()
        assert len(journal) == 600 and len({e["id"] for e in journal}) == 600
        assert [e["id"] for e in journal] == sorted(e["id"] for e in journal)
        assert {e["path"] for e in journal} == {"/api/edit/inpaint"}
        assert not any(key in httpx.get(f"{server.url}/__fake__/journal.jsonl").text for key in keys)  # redacted

        # One fault list: a fault set through either worker fires exactly its count across both.
        assert httpx.post(f"{server.url}/__fake__/faults", json={"kind": "status_500", "count": 3}).status_code == 201
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: send(0)[1], range(12)))
        assert statuses.count(-1) == 3 and httpx.get(f"{server.url}/__fake__/faults").json() == {"faults": []}
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.close()


def test_an_unopenable_db_exits_2(capsys, tmp_path):
    code, err = _serve(capsys, "--port", "0", "--db", str(tmp_path / "missing-dir" / "ledger.db"))
    assert code == 2 and "--db: cannot open" in err and "writable file path" in err


def test_an_unreachable_postgres_exits_2_without_showing_its_password(capsys):
    pytest.importorskip("psycopg", reason="needs the 'postgres' extra")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once the socket is closed
    code, err = _serve(capsys, "--port", "0", "--db", f"postgresql://fake:s3cret-pw@127.0.0.1:{port}/fake")
    assert code == 2 and "Traceback" not in err
    assert f"cannot connect to postgresql://fake:***@127.0.0.1:{port}/fake" in err and "s3cret-pw" not in err


def test_reference_engine_missing_exits_2_with_the_import_message(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "inpaint_conformance.reference_impl", None)  # import fails as if not installed
    code, err = _serve(capsys, "--port", "0", "--engine", "reference")
    assert code == 2 and "reference engine is not available" in err and "pip install" in err


def test_reference_engine_gets_the_flags_and_a_load_failure_exits_2(capsys, monkeypatch):
    calls = []

    def load_engine(model, **options):
        calls.append((model, options))
        raise FileNotFoundError(f"no model at {model}")

    monkeypatch.setitem(
        sys.modules, "inpaint_conformance.reference_impl", types.SimpleNamespace(load_engine=load_engine)
    )
    code, err = _serve(
        capsys,
        "--port",
        "0",
        "--engine",
        "reference",
        "--model",
        "/nowhere",
        "--device",
        "cpu",
        "--steps",
        "3",
        "--max-batch",
        "2",
        "--compile",
    )
    assert code == 2 and "did not load: FileNotFoundError: no model at /nowhere" in err
    assert calls == [("/nowhere", {"device": "cpu", "dtype": None, "steps": 3, "max_batch": 2, "compile": True})]

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
        (["--workers", "2"], "--workers > 1 needs --db PATH"),
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


@pytest.mark.slow
def test_workers_share_the_sqlite_ledger_exactly(tmp_path):
    server = ServeProcess("--workers", "2", "--db", str(tmp_path / "ledger.db"), "--api-key", "sixty=60", timeout=60)
    try:
        assert "2 worker processes" in server.banner
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(
                pool.map(
                    lambda _: httpx.post(
                        f"{server.url}/api/edit/inpaint",
                        headers={"authorization": "sixty"},
                        files=parts(),
                        data={"prompt": "x"},
                        timeout=60,
                    ).json()["code"],
                    range(16),
                )
            )
        assert codes.count(0) == 60 // CREDITS_PER_SUCCESS
        assert httpx.get(f"{server.url}/__fake__/credits", headers={"authorization": "sixty"}).json() == {"credits": 0}
        refused = httpx.get(f"{server.url}/__fake__/journal")
        assert refused.status_code == 409 and "--workers 1" in refused.json()["detail"]
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.close()


def test_an_unopenable_db_exits_2(capsys, tmp_path):
    code, err = _serve(capsys, "--port", "0", "--db", str(tmp_path / "missing-dir" / "ledger.db"))
    assert code == 2 and "cannot open --db" in err


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

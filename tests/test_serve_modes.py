"""`serve` says what it serves: a replay says it replays (and how it matches), a model is never ignored."""

from __future__ import annotations

import base64
import json
import sys
import types

import httpx
import pytest
from test_fake_support import ServeProcess, parts

from inpaint_conformance.contracts.rules import PATHS
from inpaint_conformance.harness.cli import main

AIT, VYRO = PATHS["aithriving"], PATHS["vyro"]


def _recorded(path: str, prompt: str, status: int, headers: dict, body: bytes) -> dict:
    """One line of a `proxy --record` file, built from the request an httpx client would send."""
    request = httpx.Request("POST", f"http://upstream{path}", data={"prompt": prompt}, files=parts())
    request.read()
    return {
        "api": "aithriving" if path == AIT else "vyro",
        "request": {
            "method": "POST",
            "path": path,
            "headers": dict(request.headers),
            "body": base64.b64encode(request.content).decode(),
        },
        "response": {"status": status, "headers": headers, "body": base64.b64encode(body).decode()},
    }


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "rec.jsonl"
    lines = [
        _recorded(AIT, "a red barn", 200, {"content-type": "application/json"}, b'{"code": 0, "recorded": "barn"}'),
        _recorded(AIT, "a blue sky", 200, {"content-type": "application/json"}, b'{"code": 0, "recorded": "sky"}'),
        _recorded(VYRO, "a hat", 200, {"content-type": "image/png"}, b"\x89PNG recorded"),
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _post(url: str, prompt: str) -> httpx.Response:
    return httpx.post(f"{url}{AIT}", data={"prompt": prompt}, files=parts(), timeout=30)


@pytest.mark.slow
def test_replay_prints_its_own_banner_and_strict_refuses_an_unmatched_request(recording):
    server = ServeProcess("--replay", str(recording), "--replay-strict")
    try:
        banner = server.banner
        assert f"replay ready: answers recorded in {recording}" in banner
        assert "3 recorded exchanges (aithriving 2, vyro 1)" in banner
        assert "same method, API and form fields" in banner and "HTTP 404" in banner
        assert "engine: fake" not in banner and "dev-key" not in banner  # no engine, no keys here
        assert _post(server.url, "a blue sky").json() == {"code": 0, "recorded": "sky"}
        missed = _post(server.url, "a green field")
        assert missed.status_code == 404
        assert "no recorded answer for POST /api/edit/inpaint" in missed.json()["detail"]
        assert "strict" in missed.json()["detail"]
    finally:
        server.close()


@pytest.mark.slow
def test_replay_without_strict_answers_the_next_recorded_exchange_and_says_so(recording):
    server = ServeProcess("--replay", str(recording))
    try:
        assert "next unused recorded answer of its API, in recorded order" in server.banner
        assert _post(server.url, "a green field").json() == {"code": 0, "recorded": "barn"}
    finally:
        server.close()


def _serve(capsys, *flags: str) -> tuple[int, str]:
    return main(["serve", "--port", "0", *flags]), capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--engine", "fake", "--model", "tiny-random"], "--model only applies to the reference engine"),
        (["--device", "cpu"], "--device only applies to the reference engine: add --engine reference"),
        (["--replay-strict"], "--replay-strict only applies with --replay FILE"),
        (["--replay", "r.jsonl", "--model", "tiny-random"], "runs no engine: drop --model"),
        (["--replay", "r.jsonl", "--api-key", "k=5"], "no key is checked, nothing is charged): drop --api-key"),
    ],
)
def test_flags_that_would_be_ignored_are_refused(capsys, flags, words):
    code, err = _serve(capsys, *flags)
    assert code == 2 and words in err and "Traceback" not in err


def test_model_alone_picks_the_reference_engine_and_says_it_loads(capsys, monkeypatch):
    """`serve --model tiny-random` must not silently serve the fake: the model is what the user asked for."""
    loaded = []

    def load_engine(model, **options):
        loaded.append(model)
        raise RuntimeError("stop here")  # the load is all this test is about

    monkeypatch.setitem(
        sys.modules, "inpaint_conformance.reference_impl", types.SimpleNamespace(load_engine=load_engine)
    )
    code, err = _serve(capsys, "--model", "tiny-random")
    assert loaded == ["tiny-random"]
    assert "loading the reference engine (tiny-random)" in err
    assert code == 2 and "did not load: RuntimeError: stop here" in err


@pytest.mark.slow
@pytest.mark.reference
def test_the_reference_banner_names_the_reference_engine():
    pytest.importorskip("diffusers")
    server = ServeProcess("--model", "tiny-random", "--device", "cpu", timeout=180)
    try:
        assert "reference provider ready (engine: reference, model tiny-random, device cpu" in server.banner
        assert "fake provider ready" not in server.banner
    finally:
        server.close()


def test_the_default_install_serves_with_uvicorns_fast_parser_and_loop():
    """httptools and uvloop are dependencies, and `serve` ends up on them (not h11 and asyncio)."""
    from importlib.metadata import requires

    from fastapi import FastAPI
    from uvicorn.loops.auto import auto_loop_factory
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from inpaint_conformance.fakes.connection_guard import ConnectionLimits
    from inpaint_conformance.harness.commands.serve import _uvicorn_config

    required = {r.split(">")[0].split(";")[0].strip() for r in requires("inpaint-conformance") or []}
    assert {"httptools", "uvloop"} <= required
    config = _uvicorn_config(FastAPI(), ConnectionLimits())
    config.load()
    # The connection guard wraps uvicorn's own protocol: with httptools installed, that is HttpToolsProtocol.
    assert issubclass(config.http_protocol_class, HttpToolsProtocol)
    assert auto_loop_factory(use_subprocess=False).__module__.startswith("uvloop")


class _CountingEngine:
    """The fake's fill, slowed down, counting how many requests paint at once."""

    name = "counting"

    def __init__(self, max_concurrency: int | None) -> None:
        import threading

        from inpaint_conformance.fakes.engine import FakeEngine

        self.max_concurrency, self.fill = max_concurrency, FakeEngine()
        self.now = self.most = 0
        self.lock = threading.Lock()

    def inpaint(self, job):
        import time

        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.2)
        with self.lock:
            self.now -= 1
        return self.fill.inpaint(job)

    def close(self) -> None:
        return None


@pytest.mark.parametrize("limit", [2, None])
def test_the_server_paints_at_most_the_engines_max_concurrency_at_once(limit):
    from concurrent.futures import ThreadPoolExecutor

    from inpaint_conformance.fakes import FakeProvider
    from inpaint_conformance.fakes.app import create_app
    from inpaint_conformance.fakes.server import serving

    engine = _CountingEngine(limit)
    provider = FakeProvider(engine=engine)
    provider.add_key("k", 6000)
    with serving(create_app(provider)) as server, ThreadPoolExecutor(6) as pool:
        post = lambda _: httpx.post(  # noqa: E731
            f"{server.url}{AIT}", headers={"authorization": "k"}, data={"prompt": "x"}, files=parts(), timeout=30
        )
        answers = list(pool.map(post, range(6)))
    assert [a.json()["code"] for a in answers] == [0] * 6
    assert engine.most == 2 if limit == 2 else engine.most > 2

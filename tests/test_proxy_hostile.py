"""The proxy under a hostile client and a broken upstream: 502s with a reason, cancelled
upstream calls, one-line logs, bounded memory, no duplicated headers, a quick SIGTERM."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from rich.console import Console

from inpaint_conformance.contracts.rules import PATHS
from inpaint_conformance.fakes.server import free_port, serving
from inpaint_conformance.harness.proxy import create_proxy_app, proxy_server_config
from inpaint_conformance.harness.recording import Recorder

AIT, VYRO = PATHS.values()
SECRET = "sk-live-0123456789abcdef"


def _proxy(upstream: str | None = None, transport=None, api: str = "aithriving", **options):
    console = Console(record=True, width=300)
    app = create_proxy_app(api, upstream or "http://upstream.test", transport=transport, console=console, **options)
    return app, console


# -- a broken upstream ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer, words",
    [
        ((200, {"content-encoding": "gzip"}, b"this is no gzip"), "does not decode"),
        ((200, {"content-encoding": "gzip"}, gzip.compress(b"x" * 100)[:20]), "decode"),
        ((999, {}, b"{}"), "status 999"),
        ((102, {}, b""), "status 102"),
    ],
    ids=["not-gzip", "truncated-gzip", "status-999", "status-102"],
)
def test_a_malformed_upstream_answer_gets_a_502_with_the_reason(answer, words):
    status, headers, raw = answer
    # A stream, not content=: httpx would decode (and fail on) the body as the answer is built.
    app, console = _proxy(
        transport=httpx.MockTransport(
            lambda request: httpx.Response(status, headers=headers, stream=httpx.ByteStream(raw))
        )
    )
    with serving(app) as proxy:
        response = httpx.post(f"{proxy.url}{AIT}", content=b"x", headers={"authorization": "k"}, timeout=30)
    assert response.status_code == 502 and words in response.json()["detail"]
    assert "malformed" in console.export_text()


class _RawUpstream:
    """A socket server that answers every connection with the given bytes (or never, with None)."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.closed_by_peer = threading.Event()
        self.received = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(60)
        try:
            conn.recv(65536)
            self.received.set()
            if self.answer is not None:
                conn.sendall(self.answer)
                conn.close()
                return
            while conn.recv(65536):  # hold on until the proxy closes its side
                pass
            self.closed_by_peer.set()
        except OSError:
            self.closed_by_peer.set()

    def close(self) -> None:
        self.sock.close()


def test_an_upstream_status_999_on_the_wire_gets_a_502():
    upstream = _RawUpstream(b"HTTP/1.1 999 Weird\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
    app, _ = _proxy(upstream.url)
    try:
        with serving(app) as proxy:
            response = httpx.post(f"{proxy.url}{AIT}", content=b"x", timeout=30)
    finally:
        upstream.close()
    assert response.status_code == 502 and "999" in response.json()["detail"]


def test_an_upstream_that_breaks_off_mid_body_gets_a_502():
    upstream = _RawUpstream(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly this")
    app, _ = _proxy(upstream.url)
    try:
        with serving(app) as proxy:
            response = httpx.post(f"{proxy.url}{AIT}", content=b"x", timeout=30)
    finally:
        upstream.close()
    assert response.status_code == 502 and "broke off" in response.json()["detail"]


# -- a client that leaves ---------------------------------------------------------------------
def test_the_upstream_call_is_cancelled_when_the_client_leaves():
    upstream = _RawUpstream(None)  # never answers
    app, console = _proxy(upstream.url)
    try:
        with serving(app) as proxy:
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{proxy.url}{AIT}", content=b"x", timeout=httpx.Timeout(30, read=1.0))
            # The proxy closes its upstream connection once it sees the client go.
            assert upstream.closed_by_peer.wait(20), "the upstream call was never cancelled"
            deadline = time.monotonic() + 10
            while "client left" not in console.export_text(clear=False) and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        upstream.close()
    text = console.export_text()
    assert "the client left" in text and "upstream call was cancelled" in text


def test_an_aborted_upload_is_one_log_line_not_a_traceback(live_fake, caplog):
    app, console = _proxy(live_fake[0])
    with caplog.at_level(logging.WARNING), serving(app) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
            sock.sendall(
                f"POST {AIT} HTTP/1.1\r\nHost: x\r\ncontent-length: 1000000\r\n"
                "content-type: application/octet-stream\r\n\r\n".encode()
                + b"x" * 5000
            )
            time.sleep(0.3)
        deadline = time.monotonic() + 10
        while "left during its upload" not in console.export_text(clear=False) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert console.export_text().count("left during its upload") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# -- what the proxy keeps and says ------------------------------------------------------------
def test_the_proxy_keeps_verdicts_not_bodies(live_fake):
    seen = []
    app, _ = _proxy(live_fake[0], on_exchange=seen.append)
    with serving(app) as proxy:
        httpx.post(f"{proxy.url}{AIT}", headers={"authorization": "test-key"}, data={"prompt": "x"}, timeout=30)
    (kept,) = app.state.exchanges
    assert seen[0].request.body and kept.request.body == b"" and kept.response.body == b""
    assert [v.clause for v in kept.request_violations] == [v.clause for v in seen[0].request_violations]


def test_a_request_of_the_other_api_is_named_as_such(live_fake):
    app, console = _proxy(live_fake[0], api="vyro")
    with serving(app) as proxy:
        httpx.post(f"{proxy.url}{AIT}", headers={"authorization": "test-key"}, data={"prompt": "x"}, timeout=30)
    text = console.export_text()
    assert "not an inpaint request" not in text
    assert "a AIThriving inpaint request: this proxy judges Vyro" in text and "--api aithriving" in text


def test_answers_through_the_proxy_carry_date_and_server_once(live_fake):
    app, _ = _proxy(live_fake[0])
    config = proxy_server_config(app, "127.0.0.1", free_port())
    with serving(app, config=config) as proxy:
        answer = httpx.get(f"{proxy.url}/__fake__/credits", headers={"authorization": "test-key"}, timeout=30)
        own = httpx.post(f"{proxy.url}{AIT}", content=b"x" * (21 * 1024 * 1024), timeout=60)  # the proxy's 413
    raw = [name.lower() for name, _ in answer.headers.raw]
    assert raw.count(b"date") == 1 and raw.count(b"server") == 1, answer.headers.raw
    assert own.status_code == 413 and "date" in own.headers and own.headers["connection"] == "close"


@pytest.mark.parametrize("header", ["api-key", "x-auth-token", "token", "x-goog-api-key", "cookie"])
def test_a_key_in_any_credential_header_or_form_field_is_not_recorded(live_fake, tmp_path, header):
    record = tmp_path / "r.jsonl"
    app, _ = _proxy(live_fake[0], recorder=Recorder(record))
    with serving(app) as proxy:
        httpx.post(
            f"{proxy.url}{AIT}",
            headers={"authorization": SECRET, header: SECRET},
            data={"prompt": "a cat", "api_key": SECRET, "seed": SECRET},
            files={"image": ("i.png", b"\x89PNG\r\n\x1a\n", "image/png")},
            timeout=30,
        )
    text = record.read_text()
    line = json.loads(text)
    body = base64.b64decode(line["request"]["body"])
    assert SECRET not in text and SECRET.encode() not in body and SECRET[4:].encode() not in body
    assert b'name="prompt"\r\n\r\na cat' in body  # the other fields stay as they were


# -- shutting down ----------------------------------------------------------------------------
def test_sigterm_stops_the_proxy_while_an_upstream_hangs(tmp_path):
    upstream = _RawUpstream(None)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "inpaint_conformance.harness.cli", "proxy", "--api", "aithriving"]
        + ["--upstream", upstream.url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        hung = threading.Thread(
            target=lambda: _quietly(lambda: httpx.post(f"http://127.0.0.1:{port}{AIT}", content=b"x", timeout=60)),
            daemon=True,
        )
        hung.start()
        assert upstream.received.wait(20), "the request never reached the upstream"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)  # it used to wait 118 s for the hung upstream
    finally:
        if proc.poll() is None:
            proc.kill()
        upstream.close()
    assert proc.returncode == 0, output
    assert "Traceback" not in output


def _quietly(call) -> None:
    try:
        call()
    except httpx.HTTPError:
        pass


def test_recording_streams_large_bodies_as_valid_json(tmp_path):
    record = Recorder(tmp_path / "big.jsonl")
    body = bytes(range(256)) * 40_000  # 10 MB, not a multiple of the slice size
    record.write({"request": {"body": body}, "note": "\x00body-fake-0\x00"})
    line = json.loads((tmp_path / "big.jsonl").read_text())
    assert base64.b64decode(line["request"]["body"]) == body and line["note"] == "\x00body-fake-0\x00"

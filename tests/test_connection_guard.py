"""`serve` under slow and greedy clients: bounded waits for headers, body chunks and idle
connections, a header size limit, a connection cap that still lets a normal request in,
and a 413 that closes its connection. Timeouts here are 1 s; reads wait up to 15 s."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from test_fake_support import ServeProcess

from inpaint_conformance.contracts.rules import MAX_UPLOAD_BYTES, PATHS
from inpaint_conformance.harness.cli import main

pytestmark = pytest.mark.slow
AIT = next(iter(PATHS.values()))
CAP = 6


@pytest.fixture(scope="module")
def server():
    process = ServeProcess(
        "--api-key",
        "guard-key=6000",
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--keep-alive-timeout",
        "1",
        "--max-connections",
        str(CAP),
    )
    process.port = int(process.url.rsplit(":", 1)[1])
    yield process
    process.close()


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """What the server sent until it closed the connection; fails if it is still open after 15 s."""
    out = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return out
        except TimeoutError:
            raise AssertionError(f"the connection is still open after 15 s; received {out[:80]!r}") from None
        if not data:
            return out
        out += data


def _status_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0].decode("latin-1")


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /__fake__/credits HTTP/1.1\r\nHost: x\r\n", b"GET /__fake__/cre"],
    ids=["nothing", "headers-without-end", "half-a-request-line"],
)
def test_headers_that_never_complete_get_408_and_the_connection_closes(server, sent):
    with _connect(server) as sock:
        sock.sendall(sent)
        answer = _read_until_closed(sock)
    assert _status_line(answer) == "HTTP/1.1 408 Request Timeout" and b"headers" in answer


def test_a_body_that_stops_coming_gets_408(server):
    with _connect(server) as sock:
        sock.sendall(
            f"POST {AIT} HTTP/1.1\r\nHost: x\r\nauthorization: guard-key\r\ncontent-length: 1000\r\n\r\n".encode()
            + b"ab"
        )
        answer = _read_until_closed(sock)
    assert _status_line(answer) == "HTTP/1.1 408 Request Timeout" and b"body" in answer


def test_an_idle_keep_alive_connection_is_closed(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /__fake__/credits HTTP/1.1\r\nHost: x\r\nauthorization: guard-key\r\n\r\n")
        answer = _read_until_closed(sock)  # the answer, then the close of the idle connection
    assert _status_line(answer) == "HTTP/1.1 200 OK" and answer.endswith(b'{"credits":6000}')


def test_headers_over_64_kb_get_431(server):
    with _connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000)
        answer = _read_until_closed(sock)
    assert _status_line(answer) == "HTTP/1.1 431 Request Header Fields Too Large"


def test_idle_and_slow_connections_give_way_to_a_normal_request(server):
    slow = [_connect(server) for _ in range(CAP + 3)]
    for sock in slow:
        sock.sendall(b"GET /__fake__/credits HTTP/1.1\r\n")  # slowloris: a request line, no end of headers
    try:
        answer = httpx.get(f"{server.url}/__fake__/credits", headers={"authorization": "guard-key"}, timeout=15)
        assert answer.json() == {"credits": 6000}
    finally:
        for sock in slow:
            sock.close()


def test_when_every_connection_is_busy_the_newcomer_gets_503_with_retry_after(server):
    time.sleep(1.5)  # the previous test's connections are gone
    busy = []
    for _ in range(CAP):
        sock = _connect(server)
        # A body arriving fast enough to count as real work, whose end never comes (within the test).
        sock.sendall(f"POST {AIT} HTTP/1.1\r\nHost: x\r\ncontent-length: 10000000\r\n\r\n".encode() + b"x" * 200_000)
        busy.append(sock)
    try:
        time.sleep(0.3)
        with _connect(server) as sock:
            sock.sendall(b"GET /__fake__/credits HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = _read_until_closed(sock)
        assert _status_line(answer) == "HTTP/1.1 503 Service Unavailable" and b"retry-after: 1" in answer
    finally:
        for sock in busy:
            sock.close()


def test_a_413_closes_its_connection(server):
    time.sleep(1.5)
    with _connect(server) as sock:
        head = (
            f"POST {AIT} HTTP/1.1\r\nHost: x\r\nauthorization: guard-key\r\n"
            f"content-type: multipart/form-data; boundary=b\r\ncontent-length: {MAX_UPLOAD_BYTES * 10}\r\n\r\n"
        )
        sock.sendall(head.encode())
        try:
            chunk = b"x" * 1_000_000
            for _ in range(MAX_UPLOAD_BYTES * 3 // len(chunk)):  # well past the limit and the drain
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_until_closed(sock)
    # Either the 413 was read, or the connection was already closed under the sender: never left open.
    assert answer == b"" or _status_line(answer) == "HTTP/1.1 413 Request Entity Too Large"


@pytest.mark.parametrize(
    "flag, value", [("--header-timeout", "0"), ("--body-timeout", "-1"), ("--max-connections", "0")]
)
def test_bad_limits_are_refused_at_start(capsys, flag, value):
    assert main(["serve", "--port", "0", flag, value]) == 2
    assert flag in capsys.readouterr().err

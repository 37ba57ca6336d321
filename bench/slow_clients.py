"""Slow clients against `inpaint-conformance serve`: does a normal request still get in?

    python bench/slow_clients.py                       # 1100 slow connections, server under ulimit -n 1024
    python bench/slow_clients.py --mode body --connections 1100
    python bench/slow_clients.py --quick               # 300 connections, 15 s

The server runs with its open-file limit set to `--nofile` (like `ulimit -n 1024`). The
bench opens `--connections` sockets that each misbehave as `--mode` says:

- `headers`: send a request line, then one header byte every 2 s (slowloris);
- `body`: send complete headers announcing 1 MB, then one body byte every 2 s;
- `idle`: connect and send nothing.

Slow sockets that the server closes are reopened, as an attacker would. While they
hold on, a normal client sends `GET /__fake__/credits` and a small AIThriving inpaint
request every second on a fresh connection; the table shows how long those took and
what came back, and what the slow sockets were answered. Target (issue 14): the normal
request is answered within 5 s. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import resource
import selectors
import shlex
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_KEY,
    REPO,
    build_call,
    command_line,
    console,
    load_average,
    print_machine,
    write_json,
)
from _load import LOOPBACK, ServerProcess, checkout_env, free_port, serve_argv

from inpaint_conformance.contracts import Api

TARGET_S = 5.0
_HEADER_BYTES = b"X-Slow: " + b"a" * 10_000


class SlowCrowd:
    """Sockets that misbehave, in one thread with a selector; closed ones are reopened."""

    def __init__(self, port: int, count: int, mode: str) -> None:
        self.port, self.count, self.mode = port, count, mode
        self.answers: Counter[str] = Counter()
        self.open = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SlowCrowd:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _first_bytes(self) -> bytes:
        if self.mode == "idle":
            return b""
        if self.mode == "headers":
            return b"GET /__fake__/credits HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        return (
            f"POST /api/edit/inpaint HTTP/1.1\r\nHost: 127.0.0.1\r\nauthorization: {BENCH_KEY}\r\n"
            "content-type: multipart/form-data; boundary=b\r\ncontent-length: 1000000\r\n\r\n"
        ).encode()

    def _connect(self, selector: selectors.BaseSelector) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect_ex((LOOPBACK, self.port))
        except OSError:
            sock.close()
            return
        selector.register(sock, selectors.EVENT_READ, {"sent": 0, "next": time.monotonic() + 0.5, "first": True})
        self.open += 1

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        while not self._stop.is_set():
            while self.open < self.count and not self._stop.is_set():
                self._connect(selector)
            now = time.monotonic()
            for key, _ in selector.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if data:
                    self.answers[data.split(b"\r\n", 1)[0].decode("latin-1", "replace")] += 1
                else:
                    self.answers["closed without an answer"] += 1
                selector.unregister(key.fileobj)
                key.fileobj.close()
                self.open -= 1
            for key in list(selector.get_map().values()):
                state = key.data
                if now < state["next"]:
                    continue
                state["next"] = now + 2.0
                try:
                    if state["first"]:
                        key.fileobj.send(self._first_bytes())
                        state["first"] = False
                    elif self.mode != "idle":
                        key.fileobj.send(
                            _HEADER_BYTES[state["sent"] % len(_HEADER_BYTES) : state["sent"] % len(_HEADER_BYTES) + 1]
                        )
                        state["sent"] += 1
                except OSError:
                    pass
        for key in list(selector.get_map().values()):
            key.fileobj.close()


def normal_request(port: int, kind: str) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
        if kind == "credits":
            conn.request("GET", "/__fake__/credits", headers={"authorization": BENCH_KEY})
        else:
            call = build_call(Api.AITHRIVING, 256)
            conn.request("POST", call.path, body=call.body, headers=call.headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        outcome = str(response.status)
    except (OSError, http.client.HTTPException) as exc:
        outcome = type(exc).__name__
    return time.perf_counter() - started, outcome


def run(args: argparse.Namespace) -> dict:
    port = free_port()
    argv = serve_argv(port, args.serve_args)
    # The shell's own `ulimit -n`, then exec: the server is the process measured, under that limit.
    shell = ["sh", "-c", f"ulimit -n {args.nofile} && exec {shlex.join(argv)}"]
    server = ServerProcess("fake", shell, port, env=checkout_env(), cwd=REPO)
    with server:
        server.wait_ready()
        crowd = SlowCrowd(port, args.connections, args.mode).start()
        samples: list[tuple[float, float, str, str]] = []
        started = time.monotonic()
        try:
            time.sleep(2.0)  # let the crowd connect
            while time.monotonic() - started < args.seconds:
                for kind in ("credits", "inpaint"):
                    seconds, outcome = normal_request(port, kind)
                    samples.append((round(time.monotonic() - started, 1), seconds, kind, outcome))
                time.sleep(1.0)
        finally:
            open_slow = crowd.open
            crowd.stop()
    latencies = [s for _, s, _, outcome in samples if outcome == "200"]
    return {
        "connections": args.connections,
        "mode": args.mode,
        "seconds": args.seconds,
        "nofile": args.nofile,
        "slow_open_at_end": open_slow,
        "slow_answers": dict(crowd.answers.most_common()),
        "normal_requests": len(samples),
        "normal_ok": len(latencies),
        "normal_outcomes": dict(Counter(outcome for *_, outcome in samples)),
        "normal_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "normal_max_s": round(max(s for _, s, _, _ in samples), 3) if samples else None,
        "within_target": bool(samples) and all(s <= TARGET_S and o == "200" for _, s, _, o in samples),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=1100)
    parser.add_argument("--mode", choices=("headers", "body", "idle"), action="append")
    parser.add_argument("--nofile", type=int, default=1024, help="the server's open-file limit (ulimit -n)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the crowd holds on")
    parser.add_argument("--quick", action="store_true", help="300 connections, 15 s, headers mode")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("serve_args", nargs="*", help="more `serve` flags, after --")
    args = parser.parse_args(argv)
    if args.quick:
        args.connections, args.seconds = 300, 15.0
    modes = args.mode or (["headers"] if args.quick else ["headers", "body", "idle"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 256
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            print(f"this shell allows {hard} open files; the bench needs {wanted}: raise ulimit -Hn", file=sys.stderr)
            return 2
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    con = console()
    info = print_machine(con, "bench/slow_clients.py", command_line())
    from rich.table import Table

    table = Table(title=f"normal requests among slow connections (target: answered within {TARGET_S:g} s)")
    for column in ("mode", "slow conns", "server ulimit -n", "normal ok", "p50 s", "max s", "what the slow ones got"):
        table.add_column(column)
    results = []
    for mode in modes:
        args.mode = mode
        result = run(args)
        results.append(result)
        colour = "green" if result["within_target"] else "red"
        table.add_row(
            mode,
            str(result["connections"]),
            str(result["nofile"]),
            f"[{colour}]{result['normal_ok']}/{result['normal_requests']}[/]",
            str(result["normal_p50_s"]),
            f"[{colour}]{result['normal_max_s']}[/]",
            ", ".join(f"{k}: {v}" for k, v in list(result["slow_answers"].items())[:3]) or "-",
        )
    con.print(table)
    write_json(
        args.json,
        {
            "machine": info,
            "command": command_line(),
            "target_s": TARGET_S,
            "results": results,
            "load average at end": load_average(),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

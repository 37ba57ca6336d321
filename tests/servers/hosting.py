"""Hosting the independent test servers on loopback, each started once and switched between mutants.

`fastapi_hosted` runs tests/servers/fastapi_server.py in this process (uvicorn in a
thread); `node_hosted` starts tests/servers/node/server.js with node and talks to its
/__control__ endpoint. Both give a `Hosted`: its URL, its credits URL, and `switch(mutant)`,
which resets the credits and turns on one mutant (None: the correct server).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_MODULES = ("busboy", "sharp")
NODE_MIN = (20, 9)


@dataclass
class Hosted:
    name: str
    url: str
    credits_url: str
    mutants: dict[str, str]
    switch: Callable[..., None]


@functools.cache
def node_missing() -> str | None:
    """Why the Node.js server cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed: the Node.js server needs node >= 20.9 (sharp 0.35)"
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if tuple(int(part) for part in re.findall(r"\d+", version)[:2]) < NODE_MIN:
        return f"node {version} is too old: the Node.js server needs node >= 20.9 (sharp 0.35)"
    missing = [m for m in NODE_MODULES if not (NODE_DIR / "node_modules" / m).is_dir()]
    if missing:
        return f"npm modules {', '.join(missing)} are missing: run `npm ci` in {NODE_DIR}"
    return None


@contextlib.contextmanager
def fastapi_hosted(keys: dict[str, int]) -> Iterator[Hosted]:
    from inpaint_conformance.fakes.server import serving

    from .fastapi_server import MUTANTS, create_app

    app = create_app(keys)
    with serving(app) as server:
        yield Hosted(
            "fastapi", server.url, f"{server.url}/credits", MUTANTS, lambda mutant=None, **_: app.state.reset(mutant)
        )


@contextlib.contextmanager
def node_hosted(keys: dict[str, int]) -> Iterator[Hosted]:
    why = node_missing()
    if why is not None:
        raise RuntimeError(why)
    argv = ["node", str(NODE_DIR / "server.js"), "--port", "0"]
    for key, amount in keys.items():
        argv += ["--key", f"{key}={amount}"]
    process = subprocess.Popen(argv, cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise RuntimeError(f"the Node.js server did not start: {process.stderr.read() if process.stderr else ''}")
        url = json.loads(line)["url"]
        client = httpx.Client(timeout=10)

        def switch(mutant: str | None = None, throttle: int | None = None) -> None:
            wanted = {"mutant": mutant} | ({"throttle": throttle} if throttle is not None else {})
            client.post(f"{url}/__control__", json=wanted).raise_for_status()

        mutants = client.post(f"{url}/__control__", json={"mutant": None}).json()["mutants"]
        yield Hosted("node", url, f"{url}/v1/credits", mutants, switch)
        client.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# Keys the tests give every server: longer than 16 characters, with letters, sharing a first word.
MAIN, SECOND, LOW = "indie-main-key-0123456789", "indie-second-key-0123456789", "indie-low-key-0123"
KEYS = {MAIN: 10**6, SECOND: 10**6, LOW: 3}


def run_verify(
    server: Hosted, report: Path, *, api: str | None = None, examples: int = 0
) -> tuple[int, dict[str, dict]]:
    """`inpaint-conformance verify` against a hosted server with every key role; (exit code, results by clause).

    A report path ending in .xml asks for JUnit (no pictures are made for it: a faster run),
    anything else for the JSON report. Results carry status, level and detail either way.
    """
    from inpaint_conformance.harness.cli import main

    junit = report.suffix == ".xml"
    argv = [
        "verify",
        "--base-url",
        server.url,
        "--api-key",
        MAIN,
        "--api-key",
        SECOND,
        "--low-credit-key",
        LOW,
        "--credits-url",
        server.credits_url,
        "--examples",
        str(examples),
        "--yes",
        "--junit-xml" if junit else "--json-report",
        str(report),
    ]
    code = main(argv + (["--api", api] if api else []))
    if not junit:
        return code, {r["clause"]: r for r in json.loads(report.read_text())["results"]}
    results = {}
    words = {"unverified": "unverified", "not exercised": "not_exercised"}
    for case in ET.parse(report).getroot().iter("testcase"):
        failure, skipped = case.find("failure"), case.find("skipped")
        status, detail = "passed", ""
        if failure is not None:
            status, detail = "failed", failure.get("message") or ""
        elif skipped is not None:  # the message starts with the status: "unverified: why" or "not exercised: why"
            word, _, detail = (skipped.get("message") or "").partition(": ")
            status = words[word]
        level = case.get("classname", "").rsplit(".", 1)[-1]
        results[case.get("name")] = {"status": status, "level": level, "detail": detail}
    return code, results

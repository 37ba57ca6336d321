"""Stoplight Prism, the mock a user would pick instead: installed from npm, run on loopback.

Prism serves canned answers from the OpenAPI document (static mode, no `--dynamic`):
no image work at all, so it is the bar for "fast enough" at small images. Anything
that goes wrong here (no npm, no registry, no OpenAPI export yet) becomes a note
and an empty column, never a failed benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from _common import REPO, Call
from _load import LOOPBACK, ServerProcess, free_port, which

PACKAGE = "@stoplight/prism-cli"
INSTALL_TIMEOUT_S = 300


def default_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "inpaint-conformance" / "prism"


def install(prefix: Path) -> tuple[Path | None, str]:
    """Prism's executable under ``prefix`` (npm-installing it there once), or None and why."""
    binary = prefix / "node_modules" / ".bin" / "prism"
    if binary.exists():
        return binary, f"{PACKAGE} already installed in {prefix}"
    npm = which("npm")
    if npm is None:
        return None, "npm is not installed (Debian: apt-get install npm): Prism column skipped"
    prefix.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", PACKAGE],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return None, f"npm install {PACKAGE} took over {INSTALL_TIMEOUT_S} s: Prism column skipped"
    if done.returncode != 0 or not binary.exists():
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"npm install {PACKAGE} failed ({reason[0]}): Prism column skipped"
    return binary, f"installed {PACKAGE} into {prefix}"


def openapi_json(api) -> tuple[dict | None, str]:
    """The project's exported OpenAPI document for one API, or None and why."""
    try:
        from inpaint_conformance.contracts.openapi import openapi_document
    except ImportError as exc:
        return None, f"the OpenAPI export (contracts/openapi.py) is not available ({exc}): Prism column skipped"
    try:
        return openapi_document(api), ""
    except Exception as exc:  # a broken export must not sink the whole benchmark
        return None, f"openapi_document({api.value!r}) failed: {type(exc).__name__}: {exc}: Prism column skipped"


def launch(binary: Path, document: dict, name: str) -> ServerProcess:
    """`prism mock DOC -p PORT` (static answers, request validation on: Prism's defaults); not yet ready."""
    folder = Path(tempfile.mkdtemp(prefix="bench-prism-"))
    spec = folder / f"{name}.json"
    spec.write_text(json.dumps(document))
    port = free_port()
    argv = [str(binary), "mock", str(spec), "-h", LOOPBACK, "-p", str(port)]
    server = ServerProcess(f"prism-{name}", argv, port, cwd=REPO)
    server.remove_on_stop.append(folder)
    return server


def probe(port: int, call: Call) -> tuple[str | None, str]:
    """(None, what Prism answered) for a 2xx to the workload's request; else (what went wrong, "")."""
    import http.client

    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        conn.request("POST", call.path, body=call.body, headers=call.headers)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}", ""
    finally:
        conn.close()
    if 200 <= response.status < 300:
        shown = body[:70].decode("utf-8", "replace") + ("..." if len(body) > 70 else "")
        return None, f"HTTP {response.status} {response.getheader('content-type')}, {len(body)} bytes: {shown}"
    return f"HTTP {response.status}: {body[:300].decode('utf-8', 'replace')}", ""

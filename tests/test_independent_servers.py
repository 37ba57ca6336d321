"""Proof of power, part 1: servers written without this project's code pass `verify` with no failed clause.

A stock FastAPI server (tests/servers/fastapi_server.py) and a Node.js server on node:http,
busboy and sharp (tests/servers/node/server.js) each take allowed roads the fake does not
(see their docstrings): AIThriving failures as HTTP 200 vs 4xx, blended vs thresholded
masks, other fills and encoder settings, credentials checked after vs before the form,
Vyro errors as JSON vs text, non-UTF-8 text served (B1), 429s with Retry-After. A false
alarm on any of them is a bug in the suite. tests/test_verify_remote.py verifies a third
(tests/independent_server.py); tests/test_mutants.py breaks each of them one bug at a time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from servers.hosting import KEYS, fastapi_hosted, node_hosted, node_missing, run_verify

SERVERS = Path(__file__).resolve().parent / "servers"


def failures(results: dict[str, dict]) -> list[str]:
    return [f"{clause} ({r['level']}): {r['detail']}" for clause, r in results.items() if r["status"] == "failed"]


def test_the_servers_use_nothing_of_this_project():
    tree = ast.parse((SERVERS / "fastapi_server.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not [name for name in imported if name.startswith("inpaint_conformance") or not name]
    required = set(re.findall(r"require\('([^']+)'\)", (SERVERS / "node" / "server.js").read_text()))
    assert required == {"node:http", "node:crypto", "busboy", "sharp"}


def test_a_stock_fastapi_server_passes_every_clause(tmp_path):
    with fastapi_hosted(KEYS) as server:
        code, results = run_verify(server, tmp_path / "report.json", examples=2)
    assert failures(results) == []
    assert code == 0
    # Its choices were seen, not skipped: failures answered 200, JSON Vyro errors, blended masks.
    assert "HTTP 200 failure" in results["ait.failure.status"]["detail"]
    assert "application/json" in results["vyro.errors.body"]["detail"]
    for clause in ("ait.mask.partial", "ait.mask.resize", "vyro.mask.size", "ait.credits.isolation"):
        assert results[clause]["status"] == "passed", clause
    # B1: Starlette decoded the non-UTF-8 prompt as latin-1 and served it; that is allowed and was charged.
    assert results["ait.robust.malformed"]["status"] == "passed"
    assert results["ait.credits.success"]["status"] == "passed"
    # A13: FastAPI reads seed="" as omitted and serves a random seed; that is allowed.
    assert results["ait.seed.empty"]["status"] == "passed"
    assert "HTTP 200 png" in results["ait.seed.empty"]["detail"]


@pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")
def test_a_node_server_passes_every_clause(tmp_path):
    with node_hosted(KEYS) as server:
        server.switch(None, throttle=1)  # the first request of each API gets 429 with Retry-After: 1
        code, results = run_verify(server, tmp_path / "report.json", examples=2)
    assert failures(results) == []
    assert code == 0
    for clause in ("ait.rate.retry_after", "vyro.rate.retry_after", "ait.limits.size", "vyro.limits.size"):
        assert results[clause]["status"] == "passed", clause
    assert "HTTP 401 failure" in results["ait.auth.status"]["detail"]  # auth checked before the body is read
    assert "text/plain" in results["vyro.errors.body"]["detail"]
    assert results["vyro.auth.authorization_bearer"]["status"] == "passed"
    assert results["ait.credits.insufficient"]["status"] == "passed"
    # A13: this one refuses seed="" (the other allowed answer), and charges nothing for it.
    assert "HTTP 400 failure charged 0 credits" in results["ait.seed.empty"]["detail"]

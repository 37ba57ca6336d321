"""The benchmark scripts run on a fresh checkout and print their comparisons.

Numbers are never asserted (they belong to bench/README.md, measured on a quiet
machine); what is checked is that each script runs to the end, compares what the issue
asks it to compare, and writes its JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_bench(script: str, *args: str, tmp_path: Path) -> tuple[str, dict]:
    out = tmp_path / "numbers.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout, json.loads(out.read_text())


def test_fake_bench_compares_the_server_with_the_floor(tmp_path):
    text, numbers = run_bench(
        "fake.py",
        "--quick",
        "--no-prism",
        "--sizes",
        "64",
        "--clients",
        "1",
        "--seconds",
        "0.3",
        "--rounds",
        "1",
        "--api",
        "vyro",
        tmp_path=tmp_path,
    )
    assert "vyro 64x64" in text
    assert numbers["results"], numbers


def test_verify_bench_times_the_default_verify_and_counts_its_requests(tmp_path):
    text, numbers = run_bench("verify.py", "--quick", "--no-schemathesis", "--examples", "2", tmp_path=tmp_path)
    assert "verify (embedded fake, in-process)" in text and "exit 0" in text
    assert "target: default verify" in text
    default, live = numbers["verify"]
    assert default["requests"] > 0 and live["requests"] > 0  # the live run is counted at the fake's journal


def test_verify_bench_compares_with_schemathesis_like_for_like(tmp_path):
    pytest.importorskip("schemathesis")
    text, numbers = run_bench("verify.py", "--quick", "--examples", "2", tmp_path=tmp_path)
    comparison = numbers["comparison"]
    assert "like for like (over loopback" in text
    assert comparison["schemathesis"]["distinct_checks"] > 0
    assert comparison["overlap"]["clauses"], "no clause found on the ground Schemathesis' checks cover"
    for finding in comparison["findings"]:  # what Schemathesis reported, printed as it said it
        assert finding["code"] in text and finding["check"]


def test_hotpath_bench_splits_the_handlers_time(tmp_path):
    text, numbers = run_bench("hotpath.py", "--quick", "--sizes", "64", tmp_path=tmp_path)
    assert {row["api"] for row in numbers["results"]} == {"aithriving", "vyro"}
    for row in numbers["results"]:
        assert row["floor_cpu_ms"] > 0 and row["handler_cpu_ms"] > 0 and row["server_errors"] == 0
        assert abs(sum(row["parts_percent"].values()) - 100) < 1


@pytest.fixture
def bench_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import _common
    import _load

    return _common, _load


@pytest.mark.parametrize("api", ["aithriving", "vyro"])
def test_load_counts_only_served_answers_as_throughput(bench_modules, live_fake, api):
    """AIThriving refuses with HTTP 200 (code -1): a fast refusal must not count as a served request."""
    _common, _load = bench_modules
    url, provider = live_fake
    port = int(url.rsplit(":", 1)[1])
    call = _common.build_call(_common.Api(api), 64)
    provider.add_key(_common.BENCH_KEY, 0)  # no credits: AIThriving refuses every request
    refused = _load.run_concurrently(_load.http_worker(port, call), 2, 0.3, max_requests=6)
    if api == "aithriving":
        assert refused.ok == 0 and refused.errors == 6
        assert "not a success envelope" in refused.first_error and '"code": -1' in refused.first_error
    else:  # Vyro's price is not documented: the fake serves it whatever the balance
        assert refused.ok == 6
    provider.ledger.set_balance(_common.BENCH_KEY, 10**6)
    served = _load.run_concurrently(_load.http_worker(port, call), 2, 0.3, max_requests=6)
    assert (served.ok, served.errors) == (6, 0)


def test_a_vyro_answer_that_is_not_png_is_not_served(bench_modules):
    _common, _ = bench_modules
    vyro = _common.Api.VYRO
    assert _common.not_served(vyro, 200, "image/png", b"\x89PNG\r\n\x1a\n...") is None
    assert "not a PNG" in _common.not_served(vyro, 200, "image/jpeg", b"\x89PNG\r\n\x1a\n...")
    assert "not a PNG" in _common.not_served(vyro, 200, "image/png", b"<html>busy</html>")
    assert "HTTP 400" in _common.not_served(vyro, 400, "application/json", b"{}")


def test_scaling_ingress_bench_compares_workers_and_stores(tmp_path, monkeypatch):
    from inpaint_conformance.fakes.throwaway_postgres import unavailable_reason

    if unavailable_reason():
        pytest.skip(f"needs a throwaway PostgreSQL server: {unavailable_reason()}")
    # The Ray group is left out here: tests/test_ray_cluster.py runs the same deployment.
    text, numbers = run_bench(
        "scaling_ingress.py", "--quick", "--no-ray", "--sizes", "64", "--seconds", "0.3", tmp_path=tmp_path
    )
    servers = {row["server"] for row in numbers["results"]}
    assert servers == {
        "serve --workers 1, in memory",
        "serve --workers 1, SQLite",
        "serve --workers 1, PostgreSQL",
        "serve --workers 2, SQLite",
        "serve --workers 2, PostgreSQL",
    }
    assert all(row["errors"] == 0 and row["ok"] > 0 for row in numbers["results"]), numbers["results"]
    assert "aithriving 64x64" in text
    # bench/README.md's part, as bench/report.py would write it from these numbers
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import _doc_parts_load

    monkeypatch.setattr(_doc_parts_load, "load", lambda _: numbers)
    part = _doc_parts_load.part_scaling_ingress("scaling-ingress")
    assert "| `serve --workers 2`, PostgreSQL |" in part and "| server | 64 px req/s | 64 px CPU ms/req |" in part
    assert "Errors: none in any cell" in part and "CPU per request a shared store adds" in part

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
    text, numbers = run_bench("verify.py", "--quick", "--no-schemathesis", tmp_path=tmp_path)
    assert "verify (embedded fake)" in text and "exit 0" in text
    assert "target: default verify" in text


def test_mock_bench_compares_each_mocked_library_with_the_floor(tmp_path):
    text, numbers = run_bench("mock.py", "--quick", "--sizes", "64", "--rounds", "1", tmp_path=tmp_path)
    doors = {row["door"] for row in numbers["results"]}
    assert doors == {"httpx (respx)", "requests (responses)"}
    assert all(row["floor_cpu_ms"] > 0 and row["cpu_ratio"] > 0 for row in numbers["results"])


def test_scaling_ingress_bench_compares_workers_and_stores(tmp_path):
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

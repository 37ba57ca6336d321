"""bench/memory.py and bench/slow_clients.py run to the end and report what they measure
(numbers are never asserted: they belong to bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(script: str, *args: str, tmp_path: Path) -> tuple[str, dict]:
    out = tmp_path / "numbers.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout, json.loads(out.read_text())


def test_memory_bench_reports_fake_proxy_and_floor(tmp_path):
    text, numbers = _run(
        "memory.py",
        "--side",
        "512",
        "--clients",
        "3",
        "--proxy-uploads",
        "2",
        "--proxy-mb",
        "1",
        tmp_path=tmp_path,
    )
    assert "floor" in text and "fake (3 x 512x512" in text and "proxy (2 x" in text
    fake, proxy = numbers["fake"], numbers["proxy"]
    assert fake["answers"] == 3 and fake["5xx_or_no_answer"] == 0 and fake["charged_only_successes"]
    assert proxy["answers"] == 2 and proxy["peak_mb"] >= proxy["idle_mb"] > 0


def test_slow_clients_bench_times_a_normal_request_among_slow_connections(tmp_path):
    text, numbers = _run(
        "slow_clients.py", "--connections", "40", "--seconds", "4", "--mode", "headers", tmp_path=tmp_path
    )
    [result] = numbers["results"]
    assert result["mode"] == "headers" and result["normal_requests"] >= 2
    assert "normal requests among slow connections" in text

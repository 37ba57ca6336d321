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


def rendered(name: str, numbers: dict, monkeypatch: pytest.MonkeyPatch) -> str:
    """The bench/README.md part bench/report.py would write from these numbers."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import _doc_parts_load

    monkeypatch.setattr(_doc_parts_load, "load", lambda _: numbers)
    return _doc_parts_load.PARTS[name](name)


def test_memory_bench_reports_fake_proxy_and_floor(tmp_path, monkeypatch):
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
    part = rendered("memory", numbers, monkeypatch)
    assert "| `serve`, 3 such uploads" in part and "| `proxy` in front of `serve`, 2 uploads" in part
    assert f"| credits | only successes charged | {fake['credits_spent']} for {fake['ok']} ok | met |" in part
    assert "| `proxy` peak RSS | < 300 MB |" in part and "python bench/memory.py --side 512" in part


def test_slow_clients_bench_times_a_normal_request_among_slow_connections(tmp_path, monkeypatch):
    text, numbers = _run(
        "slow_clients.py", "--connections", "40", "--seconds", "4", "--mode", "headers", tmp_path=tmp_path
    )
    [result] = numbers["results"]
    assert result["mode"] == "headers" and result["normal_requests"] >= 2
    assert "normal requests among slow connections" in text
    part = rendered("slow-clients", numbers, monkeypatch)
    assert "40 slow connections per mode" in part and "| dribble headers (a byte every 2 s) |" in part
    assert "Target: every normal request answered 200 within 5 s" in part

"""B1 as decided: a stock FastAPI server that decodes a non-UTF-8 prompt as latin-1 and serves it passes.

tests/stock_fastapi_server.py imports nothing of this project; every clause `verify`
judges it on must pass, the non-UTF-8 request included (served, and charged like any
success: the harness judges the charge of whichever answer came).
"""

from __future__ import annotations

import json

import pytest
from stock_fastapi_server import create_app

from inpaint_conformance.fakes.server import serving
from inpaint_conformance.harness.cli import main

MAIN, SECOND, LOW = "stock-main-key", "stock-second-key", "stock-low-key"


@pytest.fixture(scope="module")
def stock():
    # The second key holds credits for two results: ait.credits.no_overdraft sends it more at once.
    credits = {MAIN: 100_000, SECOND: 14, LOW: 3}
    with serving(create_app(credits)) as server:
        yield server.url, credits


def test_a_stock_fastapi_server_serving_non_utf8_text_passes_with_exit_0(tmp_path, stock):
    url, credits = stock
    report_path = tmp_path / "report.json"
    code = main(
        [
            "verify",
            "--base-url",
            url,
            "--api-key",
            MAIN,
            "--api-key",
            SECOND,
            "--low-credit-key",
            LOW,
            "--credits-url",
            f"{url}/credits",
            "--examples",
            "2",
            "--yes",
            "--strict",
            "--json-report",
            str(report_path),
        ]
    )
    report = json.loads(report_path.read_text())
    results = {r["clause"]: r for r in report["results"]}
    assert [f"{c}: {r['detail']}" for c, r in results.items() if r["status"] == "failed"] == []
    assert report["summary"]["must_unverified"] == 0
    assert code == 0  # even with --strict: nothing failed, every MUST verified
    # The non-UTF-8 prompt was served (Starlette falls back to latin-1), on both APIs.
    for prefix in ("ait", "vyro"):
        assert results[f"{prefix}.text.non_utf8"]["status"] == "passed"
        assert "HTTP 200 png" in results[f"{prefix}.text.non_utf8"]["detail"]
    # ...and its AIThriving success was charged like any other, which credits.success judged.
    assert results["ait.credits.success"]["status"] == "passed"
    assert credits[LOW] == 3

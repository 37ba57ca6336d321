"""`verify --base-url` against live servers on loopback: the fake's server door, and an
independent implementation that takes the other allowed road at every choice."""

from __future__ import annotations

import json

import pytest
from independent_server import create_app as create_independent_app
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from inpaint_conformance.fakes.server import free_port, serving
from inpaint_conformance.harness.cli import main

KEYS = {"indie-key-one-0123456789": 100_000, "indie-key-two-0123456789": 100_000, "indie-low-key": 3}
MAIN, SECOND, LOW = KEYS


@pytest.fixture(scope="module")
def independent():
    app = create_independent_app(KEYS, throttle_first=1, retry_after="1")
    with serving(app) as server:
        yield server.url, app.state.server


def verify(tmp_path, base_url: str, *flags: str) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    code = main(["verify", "--base-url", base_url, "--yes", "--json-report", str(report), *flags])
    return code, json.loads(report.read_text())


def statuses(report: dict) -> dict[str, str]:
    return {r["clause"]: r["status"] for r in report["results"]}


def test_independent_server_has_no_failures(tmp_path, independent, capsys):
    url, server = independent
    code, report = verify(
        tmp_path,
        url,
        "--api-key",
        MAIN,
        "--api-key",
        SECOND,
        "--low-credit-key",
        LOW,
        "--credits-url",
        f"{url}/balance",
        "--examples",
        "4",
    )
    failed = [f"{r['clause']}: {r['detail']}" for r in report["results"] if r["status"] == "failed"]
    assert failed == []
    assert code == 0
    seen = statuses(report)
    for clause in (
        "ait.credits.success",
        "ait.credits.failure",
        "ait.credits.insufficient",
        "ait.credits.isolation",
        "ait.rate.retry_after",
        "vyro.rate.retry_after",
        "vyro.mask.size",
        "ait.mask.resize",
        "vyro.auth.authorization_bearer",
        "ait.failure.status",
        "vyro.errors.body",
    ):
        assert seen[clause] == "passed", clause
    # It said what the run would cost before sending anything.
    assert "credits" in capsys.readouterr().err
    # The keys were used, never written.
    text = (tmp_path / "report.json").read_text()
    assert MAIN not in text and SECOND not in text and LOW not in text
    assert server.credits[LOW] == 3  # never charged below the price


def test_fake_server_door_over_loopback(tmp_path, live_fake):
    url, provider = live_fake
    code, report = verify(
        tmp_path, url, "--api-key", "test-key", "--credits-url", f"{url}/__fake__/credits", "--examples", "1"
    )
    assert [r for r in report["results"] if r["status"] == "failed"] == []
    assert code == 0
    seen = statuses(report)
    assert seen["ait.credits.success"] == "passed"
    # No second key and no low-credit key were given: those clauses are unverified, with the flag to pass.
    assert seen["ait.credits.isolation"] == seen["ait.credits.no_overdraft"] == "unverified"
    assert seen["ait.credits.insufficient"] == "unverified"
    fixes = {r["clause"]: r["fix"] for r in report["results"] if r["status"] == "unverified"}
    assert fixes["ait.credits.isolation"] == fixes["ait.credits.no_overdraft"] == "pass a second --api-key"
    assert fixes["ait.credits.insufficient"].startswith("pass --low-credit-key")
    assert seen["ait.credits.concurrent"] == seen["ait.credits.sequence"] == "passed"
    assert report["summary"]["must_unverified"] == 3


def test_credit_clauses_are_unverified_never_passed_without_credits_url(tmp_path, independent):
    url, _ = independent
    code, report = verify(tmp_path, url, "--api-key", MAIN, "--api", "aithriving", "--examples", "0")
    assert code == 0
    credit = [r for r in report["results"] if r["clause"].startswith("ait.credits.")]
    assert {r["status"] for r in credit} == {"unverified"}
    assert all(r["fix"].startswith("pass --credits-url") for r in credit)


def test_max_credits_refuses_before_sending_anything(tmp_path, independent, capsys):
    url, server = independent
    before = dict(server.credits)
    code = main(
        [
            "verify",
            "--base-url",
            url,
            "--api-key",
            MAIN,
            "--credits-url",
            f"{url}/balance",
            "--max-credits",
            "12",
            "--yes",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "over --max-credits 12" in err and "Traceback" not in err
    assert server.credits == before


def test_unreachable_base_url_exits_2_with_one_line(capsys):
    port = free_port()  # nothing listens there
    code = main(["verify", "--base-url", f"http://127.0.0.1:{port}", "--api-key", "k", "--yes"])
    assert code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(lines) == 1 and f"cannot reach http://127.0.0.1:{port}" in lines[0]


def test_missing_key_for_a_remote_server_exits_2(monkeypatch, capsys, independent):
    monkeypatch.delenv("VYRO_TOKEN", raising=False)
    url, _ = independent
    assert main(["verify", "--base-url", url, "--api", "vyro", "--yes"]) == 2
    assert "pass --api-key KEY or set VYRO_TOKEN" in capsys.readouterr().err


def test_keys_a_server_echoes_are_redacted_in_the_report(tmp_path):
    """A server that quotes the token back in every error: the report must not carry it."""
    token = "echoed-secret-token-0123456789"

    async def echo(request):
        key = request.headers.get("bearer")
        return PlainTextResponse(
            f"no inpainting today for {key}", status_code=500, headers={"x-debug-caller": f"{key}"}
        )

    app = Starlette(routes=[Route("/v1/imagine/api/edits/inpaint", echo, methods=["POST"])])
    with serving(app) as server:
        code, report = verify(
            tmp_path,
            server.url,
            "--api",
            "vyro",
            "--api-key",
            token,
            "--examples",
            "0",
            "--html-report",
            str(tmp_path / "report.html"),
        )
    assert code == 1
    text = (tmp_path / "report.json").read_text()
    assert token not in text
    assert "[redacted]" in text
    assert "$VYRO_TOKEN" in text
    assert "x-debug-caller" in text  # the evidence shows the answer's headers, the key scrubbed out of them
    assert token not in (tmp_path / "report.html").read_text()


def test_a_hang_is_a_robustness_failure(tmp_path):
    """A server that never answers a truncated upload: verify gives up after --timeout and says so."""
    import asyncio

    async def hangs_on_truncated_bodies(request):
        body = await request.body()
        if not body.rstrip().endswith(b"--"):
            await asyncio.sleep(1.5)
        return PlainTextResponse("bad request", status_code=400)

    app = Starlette(routes=[Route("/v1/imagine/api/edits/inpaint", hangs_on_truncated_bodies, methods=["POST"])])
    with serving(app) as server:
        code, report = verify(
            tmp_path, server.url, "--api", "vyro", "--api-key", "k", "--examples", "0", "--timeout", "0.5"
        )
    assert code == 1
    (robust,) = [r for r in report["results"] if r["clause"] == "vyro.robust.malformed"]
    assert robust["status"] == "failed"
    assert "no answer within 0.5 s" in robust["detail"]

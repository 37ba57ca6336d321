"""A user's mistake is not the server's fault: `verify --base-url` tells a broken setup from a broken
server before any probe, in a few requests, and exits 2 naming the flag to fix.

Speed is not timed here (bench/ measures it); what keeps these runs short is counted
instead: the requests the server received before verify gave up.
"""

from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import PATHS
from inpaint_conformance.fakes import FakeProvider
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.server import free_port, serving
from inpaint_conformance.harness.cli import main

MAX_SETUP_REQUESTS = 4  # the origin, one valid request per API, a made-up key to compare with


def verify(*flags: str) -> int:
    return main(["verify", "--yes", "--examples", "0", *flags])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if "error:" in line]
    return line


def test_a_wrong_key_exits_2_naming_the_flag_after_a_few_requests(live_fake, capsys):
    url, provider = live_fake
    assert verify("--base-url", url, "--api-key", "not-a-key-of-this-server") == 2
    line = one_error_line(capsys)
    assert "refused the key given with --api-key" in line and "pass a key this server knows with --api-key" in line
    assert "not-a-key-of-this-server" not in line
    assert len(provider.journal.entries()) <= MAX_SETUP_REQUESTS


def test_a_wrong_key_with_a_credits_url_is_blamed_on_the_key_not_the_url(live_fake, capsys):
    url, provider = live_fake
    flags = ("--base-url", url, "--api-key", "not-a-key", "--credits-url", f"{url}/__fake__/credits")
    assert verify(*flags) == 2
    line = one_error_line(capsys)
    assert "--api-key" in line and "check --credits-url" not in line
    assert provider.ledger.balance("test-key") == 6000


@pytest.mark.parametrize("api", list(Api))
def test_a_base_url_ending_in_the_endpoint_path_exits_2_saying_which_base_url_to_use(live_fake, capsys, api):
    url, provider = live_fake
    assert verify("--base-url", url + PATHS[api], "--api-key", "test-key") == 2
    line = one_error_line(capsys)
    assert f"pass --base-url {url}" in line and line.rstrip().endswith(url)
    assert provider.journal.entries() == []  # told before anything was sent


def test_a_down_server_exits_2(capsys):
    port = free_port()  # nothing listens there
    assert verify("--base-url", f"http://127.0.0.1:{port}", "--api-key", "k") == 2
    assert f"cannot reach http://127.0.0.1:{port}" in one_error_line(capsys)


def only(path: str | None, requests: list[str]) -> Starlette:
    """A server with one API's endpoint (or none): it serves anything sent there with a PNG or an envelope."""

    async def endpoint(request):
        requests.append(request.url.path)
        if path == PATHS[Api.VYRO]:
            return Response(b"\x89PNG\r\n\x1a\n", media_type="image/png")
        return JSONResponse({"code": 0, "message": "success", "data": {"image": "", "seed": 1}})

    async def root(request):
        requests.append("/")
        return PlainTextResponse("hello")

    routes = [Route("/", root)] + ([Route(path, endpoint, methods=["POST"])] if path else [])
    return Starlette(routes=routes)


def test_no_endpoint_at_the_base_url_exits_2(capsys):
    requests: list[str] = []
    with serving(only(None, requests)) as server:
        assert verify("--base-url", server.url, "--api-key", "k") == 2
    line = one_error_line(capsys)
    assert "no AIThriving inpaint endpoint" in line and "(HTTP 404)" in line and "--base-url" in line
    assert len(requests) <= MAX_SETUP_REQUESTS


def test_the_other_api_at_the_base_url_is_named(capsys):
    requests: list[str] = []
    with serving(only(PATHS[Api.VYRO], requests)) as server:
        assert verify("--base-url", server.url, "--api-key", "k", "--api", "aithriving") == 2
        assert "the Vyro endpoint answers there instead: pass --api vyro" in one_error_line(capsys)
        assert verify("--base-url", server.url, "--api-key", "k") == 2
        assert "though the Vyro one answers there: pass --api vyro" in one_error_line(capsys)


def test_a_base_url_that_swallowed_the_start_of_the_path_is_corrected(live_fake, capsys):
    url, _ = live_fake  # Vyro's documented origin is https://api.vyro.ai/v1/imagine/api
    assert verify("--base-url", f"{url}/v1/imagine/api", "--api-key", "test-key", "--api", "vyro") == 2
    assert f"--base-url already ends in /v1/imagine/api; pass --base-url {url}" in one_error_line(capsys)


def refusing_credits(status: int) -> Starlette:
    async def credits(request):
        return JSONResponse({"detail": "no"}, status_code=status)

    return Starlette(routes=[Route("/credits", credits)])


def test_a_credits_url_that_refuses_the_key_names_the_key_role(live_fake, capsys):
    url, _ = live_fake
    with serving(refusing_credits(401)) as credits:
        flags = ("--base-url", url, "--api-key", "test-key", "--credits-url", f"{credits.url}/credits")
        assert verify(*flags, "--api", "aithriving") == 2
    line = one_error_line(capsys)
    assert "the credits URL refused the key given with --api-key, which the inpaint endpoint accepts" in line
    assert "check that key" in line


def test_a_credits_url_that_refuses_the_second_key_names_it(live_fake, capsys):
    url, _ = live_fake
    flags = ("--base-url", url, "--api-key", "test-key", "--api-key", "unknown-second-key", "--api", "aithriving")
    assert verify(*flags, "--credits-url", f"{url}/__fake__/credits") == 2
    assert "refused the second key (the second --api-key)" in one_error_line(capsys)


def test_a_credits_url_with_nothing_there_is_blamed_on_the_url(live_fake, capsys):
    url, _ = live_fake
    with serving(refusing_credits(404)) as credits:
        flags = ("--base-url", url, "--api-key", "test-key", "--credits-url", f"{credits.url}/nowhere")
        assert verify(*flags, "--api", "aithriving") == 2
    assert "check --credits-url" in one_error_line(capsys)


def test_a_broken_server_is_judged_not_blamed_on_the_setup(tmp_path, capsys):
    """Every request answered with a 500: a server fault, so the probes run and the verdict says it (exit 1)."""

    async def crash(request):
        return PlainTextResponse("Internal Server Error", status_code=500)

    async def root(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", root), *(Route(p, crash, methods=["POST"]) for p in PATHS.values())])
    with serving(app) as server:
        code = verify("--base-url", server.url, "--api-key", "k", "--json-report", str(tmp_path / "r.json"))
    assert code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["must_failed"] > 0


def test_a_server_refusing_bad_input_passes_the_preflight(tmp_path):
    """The fake refuses every malformed probe; none of that is mistaken for a setup problem."""
    provider = FakeProvider()
    provider.add_key("good-key", 100_000)
    with serving(create_app(provider)) as server:
        code = verify("--base-url", server.url, "--api-key", "good-key", "--json-report", str(tmp_path / "r.json"))
    assert code == 0
    first = provider.journal.entries()[0]
    assert first["status"] == 200 and first["violations"] == []  # the preflight's valid request, served

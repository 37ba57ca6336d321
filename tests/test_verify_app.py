"""`verify --app MODULE:ATTR` and `harness.verify(app=...)`: an application verified in-process, without a port.

The application is tests/servers/fastapi_server.py (written without this project's code), made
at module level in tests/servers/inprocess_apps.py. In-process, the verdicts must be those of
the same application served by uvicorn on a socket, for the correct server and for a mutant.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from servers.fastapi_server import create_app
from servers.hosting import KEYS, LOW, MAIN, SECOND, fastapi_hosted, run_verify

from inpaint_conformance import harness
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.inprocess import InProcessApp, load_app
from inpaint_conformance.harness.reports import load_json

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests.servers.inprocess_apps"
KEY_ARGS = ["--api-key", MAIN, "--api-key", SECOND, "--low-credit-key", LOW, "--credits-url", "/credits"]


def verify_app(attr: str, report: Path, *more: str) -> tuple[int, dict[str, dict]]:
    argv = ["verify", "--app", f"{MODULE}:{attr}", "--app-dir", str(ROOT), *KEY_ARGS, "--examples", "0"]
    code = main([*argv, "--json-report", str(report), *more])
    return code, {r["clause"]: r for r in json.loads(report.read_text())["results"]}


def statuses(results: dict[str, dict]) -> dict[str, str]:
    return {clause: r["status"] for clause, r in results.items()}


@pytest.fixture(scope="module")
def served():
    with fastapi_hosted(KEYS) as hosted:
        yield hosted


def test_the_stock_fastapi_app_passes_in_process_with_the_verdicts_it_gets_over_http(tmp_path, served):
    code, in_process = verify_app("app", tmp_path / "app.json")
    served.switch(None)
    http_code, over_http = run_verify(served, tmp_path / "http.json")
    assert [f"{c}: {r['detail']}" for c, r in in_process.items() if r["status"] == "failed"] == []
    assert code == 0
    # Every MUST clause verified, credits included, but two that say why: the second key holds a
    # million credits here (hosting.KEYS), too many to drain within a run, and --examples 0 draws
    # no sequence of requests.
    unverified = {c for c, r in in_process.items() if r["status"] == "unverified" and r["level"] == "MUST"}
    assert unverified <= {"ait.credits.no_overdraft", "ait.credits.sequence"}
    assert in_process["ait.credits.success"]["status"] == "passed"  # read at --credits-url /credits on the app
    assert statuses(in_process) == statuses(over_http)
    assert http_code == code
    report = json.loads((tmp_path / "app.json").read_text())
    assert report["target"] == f"{MODULE}:app (ASGI application, in-process)"


def test_a_mutant_fails_in_process_as_it_fails_over_http(tmp_path, served):
    code, in_process = verify_app("seed_mutant", tmp_path / "mutant.json", "--api", "aithriving")
    served.switch("seed_range_off_by_one")
    http_code, over_http = run_verify(served, tmp_path / "http.json", api="aithriving")
    assert code == http_code == 1
    assert [c for c, r in in_process.items() if r["status"] == "failed"] == ["ait.seed.range"]
    assert statuses(in_process) == statuses(over_http)
    # The reproducer replays against the app once served, and says how to serve it.
    assert "curl -sS -X POST http://127.0.0.1:8000/api/edit/inpaint" in in_process["ait.seed.range"]["reproduce"]
    assert f"uvicorn {MODULE}:seed_mutant --port 8000" in in_process["ait.seed.range"]["reproduce"]


def test_an_app_that_needs_its_lifespan_is_started_and_shut_down(tmp_path):
    started_later = load_app(f"{MODULE}:started_later", ROOT)  # the object verify will load
    assert started_later.inner is None
    code, results = verify_app("started_later", tmp_path / "r.json", "--api", "vyro")
    assert code == 0
    assert results["vyro.success.status"]["status"] == "passed"
    assert started_later.inner is not None and started_later.shut_down


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("tests.servers.no_such_module:app", "no module tests.servers.no_such_module in"),
        (f"{MODULE}:missing", "has no attribute 'missing' (applications in it: app, seed_mutant, started_later)"),
        (f"{MODULE}:ready", "is a str, not an ASGI or WSGI application"),
        (f"{MODULE}:create_something", "if it is a factory, create the application at module level"),
        ("just-a-name", "--app must be module:attribute, like mypackage.main:app"),
        (f"{MODULE}:not_found_wsgi", "is --app tests.servers.inprocess_apps:not_found_wsgi the application that"),
    ],
)
def test_an_app_that_cannot_be_verified_exits_2_naming_the_problem_and_the_fix(spec, said, capsys):
    code = main(["verify", "--app", spec, "--app-dir", str(ROOT), "--api-key", MAIN, "--examples", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert said in err
    assert "Traceback" not in err


def test_a_module_that_raises_on_import_is_named_with_its_error(tmp_path, capsys):
    (tmp_path / "broken_service.py").write_text("raise RuntimeError('DATABASE_URL is not set')\n")
    code = main(["verify", "--app", "broken_service:app", "--app-dir", str(tmp_path), "--api-key", MAIN])
    err = capsys.readouterr().err
    assert code == 2
    assert "importing broken_service raised RuntimeError: DATABASE_URL is not set: fix the module" in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--base-url", "http://127.0.0.1:9"], "--app and --base-url name two targets"),
        (["--credits-url", "http://localhost/credits"], "--credits-url with --app is a path on the same application"),
        (["--deviation", "seed_echo_wrong"], "--deviation turns on a deviation of the embedded fake"),
    ],
)
def test_flags_that_do_not_go_with_app_exit_2(argv, said, capsys):
    code = main(["verify", "--app", f"{MODULE}:app", "--app-dir", str(ROOT), "--api-key", MAIN, *argv])
    assert code == 2
    assert said in capsys.readouterr().err


# -- the Python API -------------------------------------------------------------------------------
def test_the_python_api_returns_a_report_to_assert_on_and_write(tmp_path):
    app = create_app(KEYS)
    report = harness.verify(
        api="aithriving", app=app, api_key=[MAIN, SECOND], low_credit_key=LOW, credits_url="/credits", examples=0
    )
    assert report.failed() == []
    assert report.clause("ait.seed.range").status == "passed"
    assert report.clause("ait.credits.success").level == "MUST"
    assert report.exit_code() == 0
    assert report.target.endswith("FastAPI object (ASGI application, in-process)")
    with pytest.raises(KeyError, match="no verdict for 'vyro.success.status'"):
        report.clause("vyro.success.status")
    written = [report.write_json(tmp_path / "r.json"), report.write_junit(tmp_path / "r.xml")]
    written.append(report.write_html(tmp_path / "r.html"))
    assert all(path.stat().st_size > 0 for path in written)
    assert load_json(tmp_path / "r.json").statuses() == report.statuses()
    assert "<testcase" in (tmp_path / "r.xml").read_text()


def test_the_python_api_reports_a_mutant_by_its_clause():
    app = create_app(KEYS)
    app.state.reset("price_five")
    report = harness.verify(api="aithriving", app=app, api_key=MAIN, credits_url="/credits", examples=0)
    assert "ait.credits.success" in [r.clause for r in report.failed("MUST")]
    assert report.exit_code() == 1


def test_the_python_api_raises_configuration_error_where_the_cli_exits_2():
    with pytest.raises(harness.ConfigurationError, match="--app and --base-url name two targets"):
        harness.verify(app=create_app(KEYS), base_url="http://127.0.0.1:9", api_key=MAIN)
    with pytest.raises(harness.ConfigurationError, match="no module no_such_service"):
        harness.verify(app="no_such_service:app", api_key=MAIN)
    with pytest.raises(harness.ConfigurationError, match="refused the key given with --api-key"):
        harness.verify(app=create_app(KEYS), api="aithriving", api_key="a-key-nobody-knows-1234")


def test_the_python_api_verifies_the_embedded_fake_by_default():
    report = harness.verify(api="vyro", examples=0, pictures=False)
    assert report.target.startswith("embedded fake")
    assert report.failed() == [] and report.with_status("passed")


# -- the transports: a server's manners ---------------------------------------------------------
def test_an_exception_escaping_an_asgi_app_is_a_500_as_a_server_answers():
    async def crashing(scope, receive, send):
        if scope["type"] == "lifespan":
            raise RuntimeError("lifespan not supported")  # as uvicorn's `auto`: served without it
        raise ValueError("a bug")

    app = InProcessApp(crashing, "ASGI")
    try:
        with httpx.Client(transport=app.transport) as client:
            assert client.get("http://localhost/").status_code == 500
            assert client.get("http://localhost/").status_code == 500  # the loop survives
    finally:
        app.close()


def test_an_asgi_app_that_never_answers_times_out():
    async def stuck(scope, receive, send):
        if scope["type"] == "http":
            await __import__("anyio").sleep(60)

    app = InProcessApp(stuck, "ASGI")
    try:
        with httpx.Client(transport=app.transport, timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
            client.get("http://localhost/")
    finally:
        app.close()


def test_a_failed_lifespan_startup_is_a_configuration_error():
    async def refuses(scope, receive, send):
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "cannot open the model"})

    with pytest.raises(harness.ConfigurationError, match="lifespan startup failed: cannot open the model"):
        InProcessApp(refuses, "ASGI")


def test_a_wsgi_app_is_reached_and_its_crash_or_hang_answered_as_a_server_would():
    def wsgi(environ, start_response):
        if environ["PATH_INFO"] == "/crash":
            raise ValueError("a bug")
        if environ["PATH_INFO"] == "/hang":
            time.sleep(2)
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"got " + body]

    app = InProcessApp(wsgi, "WSGI")
    with httpx.Client(transport=app.transport, timeout=0.3) as client:
        assert client.post("http://localhost/echo", content=b"abc").text == "got abc"
        assert client.get("http://localhost/crash").status_code == 500
        with pytest.raises(httpx.ReadTimeout):
            client.get("http://localhost/hang")

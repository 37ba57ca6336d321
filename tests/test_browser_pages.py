"""The HTML report and the fake's dashboard, opened in a real browser (Chromium through Playwright).

Browser tests are marked `browser`; without Playwright or a Chromium executable they
are skipped with the reason (and a warning in the summary). `.ci/run` installs
Debian's Chromium; set INPAINT_CHROMIUM to use another build. Screenshots go to
test-artifacts/ (or $INPAINT_TEST_ARTIFACTS); with INPAINT_UPDATE_SCREENSHOTS=1 they
also replace docs/images/report.png and docs/images/dashboard.png.

The dashboard's HTTP side (what the page polls, who may see it) is tested here too,
without a browser.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import shutil
import warnings
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS, PATHS
from inpaint_conformance.fakes import FakeControl, FakeProvider
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.dashboard import MAX_ENTRIES, install_dashboard
from inpaint_conformance.fakes.server import serving
from inpaint_conformance.harness import runner as runner_module
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.commands import verify as verify_command
from inpaint_conformance.harness.probes import valid_spec

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("INPAINT_TEST_ARTIFACTS") or ROOT / "test-artifacts")
UPDATE_DOCS = os.environ.get("INPAINT_UPDATE_SCREENSHOTS") == "1"
KEY = "browser-test-key-0123456789"
# A closed network makes Chromium retry its own services noisily; none of them is wanted here.
CHROMIUM_ARGS = [
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 1000}
DASHBOARD_HOOKED = "install_dashboard" in inspect.getsource(
    __import__("inpaint_conformance.fakes.inspection", fromlist=["x"])
)
HTML_REPORT_WIRED = "write_html" in inspect.getsource(verify_command)


class BrowserTestsSkipped(UserWarning):
    """Shown in pytest's warnings summary, so a skipped browser suite is noticed."""


def chromium_executable() -> str | None:
    for candidate in (
        os.environ.get("INPAINT_CHROMIUM"),
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ):
        if not candidate:
            continue
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _skip(reason: str):
    warnings.warn(BrowserTestsSkipped(f"browser tests skipped: {reason}"), stacklevel=2)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip("Playwright is not installed: pip install '.[test]'")
    executable = chromium_executable()
    if executable is None:
        _skip("no Chromium executable found: apt-get install chromium, or set INPAINT_CHROMIUM=/path/to/chrome")
    args = CHROMIUM_ARGS + (["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=args)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.errors = []  # script errors and console errors: a page that throws is a broken page
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    yield tab
    context.close()


def screenshot(tab, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    tab.screenshot(path=str(path), animations="disabled")
    if UPDATE_DOCS:
        docs = ROOT / "docs" / "images"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, docs / name)
    return path


@contextlib.contextmanager
def pictures_kept():
    """verify's runs keep pictures: harness/runner.py's PictureBook hook, or a stand-in until it has one."""
    if "PictureBook" in inspect.getsource(runner_module):
        yield
        return
    from test_html_report import PicturedRunner  # the one stand-in, shared with the non-browser tests

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(verify_command, "Runner", PicturedRunner)
        yield


# -- the report ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mask_inverting_run(tmp_path_factory) -> dict[str, Path]:
    """`verify --base-url` against a live fake that inverts masks; its JSON report and HTML pages."""
    folder = tmp_path_factory.mktemp("report")
    provider = FakeProvider()
    provider.add_key(KEY, 1_000_000)
    FakeControl(provider).inject("mask_inverted")
    paths = {"json": folder / "report.json", "verify_html": folder / "verify.html", "html": folder / "report.html"}
    with serving(create_app(provider)) as server, pictures_kept():
        code = main(
            [
                "verify",
                "--api",
                "aithriving",
                "--base-url",
                server.url,
                "--api-key",
                KEY,
                "--examples",
                "2",
                "--yes",
                "--json-report",
                str(paths["json"]),
                "--html-report",
                str(paths["verify_html"]),
            ]
        )
    assert code == 1  # MUST clauses (mask meaning) failed
    assert main(["report", str(paths["json"]), "--html", str(paths["html"])]) == 0
    return paths


def open_offline(tab, path: Path) -> list[str]:
    """Open a page from disk with the network cut; returns every URL the page asked for."""
    asked: list[str] = []
    tab.context.set_offline(True)
    tab.on("request", lambda request: asked.append(request.url))
    tab.goto(path.as_uri())
    tab.wait_for_load_state("load")
    return asked


def broken_images(tab, selector: str = "img") -> list[str]:
    return tab.eval_on_selector_all(
        selector,
        "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.outerHTML.slice(0, 80))",
    )


@pytest.mark.browser
def test_report_shows_the_failing_kept_pixel_clause_with_its_pictures_offline(page, mask_inverting_run):
    from playwright.sync_api import expect

    asked = open_offline(page, mask_inverting_run["html"])
    row = page.locator('details.clause[data-clause="ait.kept_pixels"]')
    expect(row).to_have_attribute("data-status", "failed")
    expect(row).to_have_attribute("open", "")
    for role in ("input", "mask", "output", "difference"):
        picture = row.locator(f'.pic[data-role="{role}"] img').first
        expect(picture).to_be_visible()
        assert picture.evaluate("img => img.naturalWidth") > 0, role
    expect(row.locator(".pic[data-role=difference] figcaption").first).to_contain_text("PSNR")
    expect(row.locator("pre.reproduce")).to_contain_text("$AIT_API_KEY")
    assert broken_images(page, "img[data-pic]") == []  # every picture, the borrowed ones included
    assert [url for url in asked if not url.startswith(("file:", "data:"))] == []
    assert KEY not in page.content()
    assert page.errors == []


@pytest.mark.browser
def test_report_filters_hide_passed_rows_and_narrow_by_level(page, mask_inverting_run):
    from playwright.sync_api import expect

    open_offline(page, mask_inverting_run["html"])
    passed = page.locator("details.clause[data-status=passed]")
    visible_passed = "rows => rows.filter(r => r.offsetParent !== null).length"
    assert passed.count() > 10 and passed.evaluate_all(visible_passed) == passed.count()

    page.locator("input[name=status][value=passed]").uncheck()
    assert passed.evaluate_all(visible_passed) == 0
    failed = page.locator("details.clause[data-status=failed]")
    expect(failed.first).to_be_visible()
    others = page.locator("details.clause:not([data-status=passed])").count()  # failed, unverified, not exercised
    expect(page.locator("#shown")).to_have_text(f"{others} of {page.locator('details.clause').count()} clauses shown")
    screenshot(page, "report.png")

    page.locator("input[name=level][value=SHOULD]").uncheck()
    expect(page.locator('details.clause[data-clause="ait.kept_pixels"]')).to_be_hidden()  # a SHOULD clause
    expect(page.locator('details.clause[data-clause="ait.mask.meaning"]')).to_be_visible()  # a MUST one


@pytest.mark.browser
def test_report_filters_by_api_and_words_and_from_the_summary_counts(page, tmp_path):
    from playwright.sync_api import expect

    from inpaint_conformance.harness.html_report import write_html
    from inpaint_conformance.harness.results import ClauseResult, RunReport

    results = [
        ClauseResult("aithriving", "ait.seed.range", "MUST", "passed", "4 checks"),
        ClauseResult("aithriving", "ait.kept_pixels", "SHOULD", "failed", "kept pixels changed"),
        ClauseResult("vyro", "vyro.success.png", "MUST", "failed", "not a PNG"),
        ClauseResult("vyro", "vyro.unknown_fields", "MAY", "unverified", "no probe"),
    ]
    path = write_html(RunReport(["aithriving", "vyro"], "two APIs", results, "", "test"), tmp_path / "r.html")
    open_offline(page, path)
    shown = "rows => rows.filter(r => r.offsetParent !== null).map(r => r.dataset.clause)"
    rows = page.locator("details.clause")

    page.locator("select[name=api]").select_option("vyro")
    assert sorted(rows.evaluate_all(shown)) == ["vyro.success.png", "vyro.unknown_fields"]
    page.locator("input[name=text]").fill("png")
    assert rows.evaluate_all(shown) == ["vyro.success.png"]
    # A count in a summary table shows exactly those clauses.
    page.locator("table[data-api=aithriving] button.pick[data-level=SHOULD][data-status=failed]").click()
    assert rows.evaluate_all(shown) == ["ait.kept_pixels"]
    # A link to a hidden clause shows it again, opened.
    page.evaluate("location.hash = '#clause-ait.seed.range'")
    seed_range = page.locator('details.clause[data-clause="ait.seed.range"]')
    expect(seed_range).to_be_visible()
    expect(seed_range).to_have_attribute("open", "")
    assert page.errors == []


@pytest.mark.browser
def test_report_shows_a_picture_full_size_on_one_click_and_copies_a_reproducer(page, mask_inverting_run):
    from playwright.sync_api import expect

    open_offline(page, mask_inverting_run["html"])
    row = page.locator('details.clause[data-clause="ait.kept_pixels"]')
    row.locator(".pic[data-role=difference] button.zoom").first.click()
    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    assert page.locator("#viewer-img").evaluate("img => img.complete && img.naturalWidth") > 0
    expect(page.locator("#viewer-caption")).to_contain_text("PSNR")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    copy = row.locator("button.copy")
    copy.click()
    expect(copy).to_have_text(re.compile("copied|select and copy"))  # headless pages may lack a clipboard
    assert page.errors == []


@pytest.mark.browser
@pytest.mark.skipif(
    not HTML_REPORT_WIRED, reason="harness/commands/verify.py does not call write_html for --html-report yet"
)
def test_verify_html_report_is_the_same_page(page, mask_inverting_run):
    asked = open_offline(page, mask_inverting_run["verify_html"])
    row = page.locator('details.clause[data-clause="ait.kept_pixels"]')
    assert row.get_attribute("data-status") == "failed"
    assert row.locator(".pic[data-role=difference] img").first.evaluate("img => img.naturalWidth") > 0
    assert [url for url in asked if not url.startswith(("file:", "data:"))] == []


# -- the dashboard -----------------------------------------------------------------------------
def dashboard_app(provider: FakeProvider, **options):
    app = create_app(provider, **options)
    if not any(getattr(route, "path", None) == "/__fake__/" for route in app.routes):
        install_dashboard(app, provider)  # until fakes/inspection.py installs it with its guards
    return app


def inpaint(client: httpx.Client, api: Api, *, key: str = KEY, **fields: str) -> httpx.Response:
    spec = valid_spec(**fields)
    files = [(name, (part.filename, part.data, part.content_type)) for name, part in spec.files.items()]
    header = "authorization" if api is Api.AITHRIVING else "bearer"
    return client.post(PATHS[api], headers={header: key}, data=spec.fields, files=files)


@pytest.fixture
def live_dashboard():
    provider = FakeProvider()
    provider.add_key(KEY, 600)
    with serving(dashboard_app(provider)) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield server.url, provider, client


@pytest.mark.browser
def test_dashboard_shows_requests_as_they_arrive_without_a_reload(page, live_dashboard):
    from playwright.sync_api import expect

    url, provider, client = live_dashboard
    page.goto(f"{url}/__fake__/")
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#live")).to_contain_text("live")
    page.evaluate("window.__sameDocument = true")

    assert inpaint(client, Api.AITHRIVING).json()["code"] == 0
    entries = page.locator("#entries > li.entry")
    expect(entries).to_have_count(1)
    FakeControl(provider).inject("mask_inverted", api="vyro")
    spec = valid_spec()
    files = [(n, (p.filename, p.data, p.content_type)) for n, p in spec.files.items()]
    client.post(
        PATHS[Api.AITHRIVING], headers={"authorization": KEY}, files=files, data={"prompt": "a red boat", "seed": "-1"}
    )
    assert inpaint(client, Api.VYRO).status_code == 200
    expect(entries).to_have_count(3)

    assert page.evaluate("window.__sameDocument") is True  # updated live, not reloaded
    assert [int(i) for i in entries.evaluate_all("lis => lis.map(li => li.dataset.id)")] == [3, 2, 1]  # newest first
    newest, refused, first = entries.nth(0), entries.nth(1), entries.nth(2)
    expect(newest).to_contain_text("vyro")
    expect(newest.locator(".fired")).to_contain_text("mask_inverted")
    for role in ("image", "mask", "output"):
        assert newest.locator(f"img[data-role={role}]").evaluate("img => img.complete && img.naturalWidth") > 0
    expect(refused).to_contain_text("ait.seed.range")
    expect(refused.locator(".credits")).to_contain_text("not charged")
    expect(first.locator(".credits")).to_contain_text(f"600 → {600 - CREDITS_PER_SUCCESS}")
    expect(first.locator(".key")).not_to_contain_text(KEY)
    expect(page.locator("#balances")).to_contain_text(str(600 - CREDITS_PER_SUCCESS))
    expect(page.locator("#faults li[data-kind=mask_inverted]")).to_contain_text("deviation")
    screenshot(page, "dashboard.png")

    page.locator("#clear-faults").click()
    expect(page.locator("#faults li")).to_have_count(0)
    assert provider.faults.active() == []
    assert KEY not in page.content()
    assert page.errors == []


@pytest.mark.browser
def test_dashboard_shows_what_a_client_sent_as_text_never_as_markup(page, live_dashboard):
    from playwright.sync_api import expect

    url, provider, client = live_dashboard
    page.goto(f"{url}/__fake__/")
    hostile = '<img src=x onerror="window.__injected = 1"><b>bold</b>'
    assert inpaint(client, Api.AITHRIVING, prompt=hostile).json()["code"] == 0
    entry = page.locator("#entries > li.entry")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(hostile)
    assert entry.locator("b:text('bold')").count() == 0
    assert page.evaluate("window.__injected") is None


@pytest.mark.browser
def test_dashboard_drops_rows_when_the_journal_is_cleared(page, live_dashboard):
    from playwright.sync_api import expect

    url, provider, client = live_dashboard
    inpaint(client, Api.AITHRIVING)
    page.goto(f"{url}/__fake__/")
    expect(page.locator("#entries > li")).to_have_count(1)
    page.locator("#clear-journal").click()
    expect(page.locator("#entries > li")).to_have_count(0)
    assert provider.journal.entries() == []
    inpaint(client, Api.VYRO)
    expect(page.locator("#entries > li")).to_have_count(1)


# -- the dashboard's HTTP side (no browser) --------------------------------------------------------
def test_dashboard_state_gives_new_entries_balances_and_faults():
    provider = FakeProvider()
    provider.add_key(KEY, 600)
    with TestClient(dashboard_app(provider)) as client:
        page = client.get("/__fake__/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<script src" not in page.text and "http://" not in page.text and "https://" not in page.text

        inpaint(client, Api.AITHRIVING)
        FakeControl(provider).inject("latency", seconds=0.01)
        FakeControl(provider).inject("seed_echo_wrong")
        state = client.get("/__fake__/dashboard/state", params={"since": 0}).json()
        assert [e["id"] for e in state["entries"]] == [1] and state["last_id"] == 1 and state["first_id"] == 1
        assert state["entries"][0]["thumbnails"]["output"].startswith("data:image/jpeg;base64,")
        assert state["keys"] == [{"key": state["entries"][0]["key"], "credits": 600 - CREDITS_PER_SUCCESS}]
        assert KEY not in str(state)
        assert {(f["kind"], f["deviation"]) for f in state["faults"]} == {("latency", False), ("seed_echo_wrong", True)}

        again = client.get("/__fake__/dashboard/state", params={"since": 1}).json()
        assert again["entries"] == [] and again["last_id"] == 1

        bad = client.get("/__fake__/dashboard/state", params={"since": "last"})
        assert bad.status_code == 400 and "whole number" in bad.json()["detail"]


def test_dashboard_state_caps_what_one_answer_carries():
    provider = FakeProvider(thumbnails=False)
    provider.add_key(KEY, 10_000)
    with TestClient(dashboard_app(provider)) as client:
        for _ in range(MAX_ENTRIES + 5):
            client.post(PATHS[Api.AITHRIVING], headers={"authorization": KEY}, data={"prompt": "x"})
        state = client.get("/__fake__/dashboard/state").json()
    assert len(state["entries"]) == MAX_ENTRIES and state["left_out"] == 5
    assert state["entries"][-1]["id"] == state["last_id"] == MAX_ENTRIES + 5  # the newest are the ones kept


@pytest.mark.skipif(not DASHBOARD_HOOKED, reason="fakes/inspection.py does not install the dashboard yet")
@pytest.mark.parametrize("path", ["/__fake__/", "/__fake__/dashboard/state"])
def test_dashboard_follows_the_admin_rule_of_the_rest_of_fake(path):
    provider = FakeProvider()
    with TestClient(create_app(provider, admin_token="admin-secret", loopback_only=False)) as client:
        assert client.get(path).status_code == 403
        assert client.get(path, headers={"x-admin-token": "admin-secret"}).status_code == 200


# -- the dashboard says what happened, in words ----------------------------------------------------
def _journal(provider: FakeProvider, *requests_: tuple[Api, str, dict]) -> None:
    """Run requests straight through the provider (no socket): what a client's traffic leaves in the journal."""
    from inpaint_conformance.contracts import HttpRequest

    for api, key, fields in requests_:
        spec = valid_spec(**fields)
        files = {name: (part.filename, part.data, part.content_type) for name, part in spec.files.items()}
        built = httpx.Request("POST", f"http://fake{PATHS[api]}", data=spec.fields, files=files)
        header = "authorization" if api is Api.AITHRIVING else "bearer"
        headers = {**dict(built.headers), header: key}
        provider.handle(HttpRequest("POST", str(built.url), headers, built.read()))


def test_outcome_tells_a_refusal_from_a_client_mistake():
    from inpaint_conformance.fakes.dashboard import dashboard_state

    provider = FakeProvider(thumbnails=False)
    provider.add_key(KEY, 600)
    provider.add_key("poor-key", 3)
    control = FakeControl(provider)
    _journal(
        provider,
        (Api.AITHRIVING, KEY, {}),
        (Api.AITHRIVING, "nobody-knows-this-key", {}),
        (Api.AITHRIVING, "poor-key", {}),
        (Api.AITHRIVING, KEY, {"seed": "-1"}),
        (Api.VYRO, "nobody-knows-this-key", {}),
    )
    control.inject("drop")
    _journal(provider, (Api.VYRO, KEY, {}))
    state = dashboard_state(control)
    by_id = {e["id"]: e for e in state["entries"]}
    assert by_id[1]["outcome"] == {"kind": "served", "text": f"HTTP 200: painted, seed {by_id[1]['seed']}"}
    unknown = by_id[2]["outcome"]
    assert unknown["kind"] == "refused" and "the fake refused it: unknown API key" in unknown["text"]
    assert "AIThriving's failure envelope" in unknown["text"] and by_id[2]["violations"] == []
    assert "insufficient credits" in by_id[3]["outcome"]["text"]
    assert by_id[4]["outcome"]["kind"] == "refused" and by_id[4]["violations"][0]["clause"] == "ait.seed.range"
    assert by_id[5]["outcome"]["text"].startswith("HTTP 401: the fake refused it: unknown API key")
    assert by_id[6]["outcome"]["kind"] == "no answer" and "closed the connection" in by_id[6]["outcome"]["text"]

    summary = state["summary"]
    assert summary["requests"] == 6 and summary["outcomes"] == {"served": 1, "refused": 4, "no answer": 1}
    assert summary["statuses"] == {"200": 4, "401": 1, "no answer": 1}
    assert summary["client_broke_a_clause"] == 1
    assert summary["clauses"] == [{"clause": "ait.seed.range", "level": "MUST", "requests": 1}]


def test_table_view_carries_the_whole_journal_without_pictures():
    from inpaint_conformance.fakes.dashboard import MAX_TABLE_ENTRIES

    provider = FakeProvider()
    provider.add_key(KEY, 10_000)
    _journal(provider, *[(Api.VYRO, KEY, {})] * 3)
    with TestClient(dashboard_app(provider)) as client:
        state = client.get("/__fake__/dashboard/state", params={"view": "table"}).json()
        assert len(state["entries"]) == 3 and all("thumbnails" not in e for e in state["entries"])
        assert client.get("/__fake__/dashboard/state", params={"view": "wall"}).status_code == 400
    assert MAX_TABLE_ENTRIES >= provider.journal.capacity  # one answer can hold every kept entry


@pytest.mark.browser
def test_dashboard_reads_a_refusal_as_the_fakes_answer_and_the_clients_verdict_apart(page, live_dashboard):
    from playwright.sync_api import expect

    url, provider, client = live_dashboard
    inpaint(client, Api.AITHRIVING, key="nobody-knows-this-key")
    inpaint(client, Api.AITHRIVING, seed="-1")
    page.goto(f"{url}/__fake__/?view=cards")
    unknown, bad_seed = page.locator("li.entry[data-id='1']"), page.locator("li.entry[data-id='2']")
    expect(unknown.locator(".outcome")).to_have_text("HTTP 200 · refused")
    expect(unknown.locator(".answer")).to_contain_text("the fake refused it: unknown API key")
    expect(unknown.locator(".client")).to_contain_text("broke no clause")
    expect(bad_seed.locator(".client")).to_contain_text("broke a MUST clause")
    expect(bad_seed.locator(".client")).to_contain_text("ait.seed.range")
    assert "failure" not in unknown.locator(".outcome").inner_text()  # the old "HTTP 200 failure"
    assert page.errors == []


@pytest.mark.browser
def test_dashboard_fault_cards_count_in_words(page, live_dashboard):
    from playwright.sync_api import expect

    url, provider, client = live_dashboard
    control = FakeControl(provider)
    control.inject("status_500", api="vyro")
    control.inject("seed_echo_wrong")
    page.goto(f"{url}/__fake__/")
    transport, deviation = (
        page.locator("#faults li[data-kind=status_500]"),
        page.locator("#faults li[data-kind=seed_echo_wrong]"),
    )
    expect(transport).to_contain_text("not fired yet")
    expect(transport).to_contain_text("fires for the next 1 request")
    expect(deviation).to_contain_text("on until cleared")
    inpaint(client, Api.AITHRIVING)
    expect(deviation.locator(".fired-count")).to_have_text("fired 1 time")
    inpaint(client, Api.AITHRIVING)
    expect(deviation.locator(".fired-count")).to_have_text("fired 2 times")
    assert "0x" not in page.locator("#faults").inner_text()


@pytest.mark.browser
def test_dashboard_summary_counts_and_filters_by_broken_clause(page, live_dashboard):
    from playwright.sync_api import expect

    url, provider, client = live_dashboard
    inpaint(client, Api.AITHRIVING)
    inpaint(client, Api.AITHRIVING, seed="-1")
    inpaint(client, Api.AITHRIVING, seed="abc")
    inpaint(client, Api.VYRO, key="nobody-knows-this-key")
    page.goto(f"{url}/__fake__/")
    expect(page.locator("#sum-requests")).to_have_text("4")
    expect(page.locator("#sum-served")).to_have_text("1")
    expect(page.locator("#sum-refused")).to_have_text("3")
    expect(page.locator("#sum-statuses")).to_contain_text("HTTP 200 ×3")
    expect(page.locator("#sum-statuses")).to_contain_text("HTTP 401 ×1")
    expect(page.locator("#sum-broke")).to_have_text("The client broke a clause in 2 requests:")
    chip = page.locator("#sum-clauses button[data-clause='ait.seed.range']")
    expect(chip).to_contain_text("MUST ×1")
    chip.click()
    visible = "els => els.filter(e => e.offsetParent !== null).map(e => e.dataset.id)"
    assert page.locator("#entries > li.entry").evaluate_all(visible) == ["2"]
    page.locator("#clear-clause-filter").click()
    assert len(page.locator("#entries > li.entry").evaluate_all(visible)) == 4
    assert page.errors == []


@pytest.mark.browser
def test_a_long_journal_opens_as_a_compact_table_with_a_summary(page, live_dashboard):
    from playwright.sync_api import expect

    url, provider, _ = live_dashboard
    provider.thumbnails = False
    provider.ledger.set_balance(KEY, 100_000)
    FakeControl(provider).inject("mask_inverted", api="vyro")
    FakeControl(provider).inject("status_429", api="vyro", key=KEY, count=20)
    # A day of mixed traffic, interleaved: per 50 requests 6 bad seeds, 4 unknown keys, 25 + 15 good ones.
    kinds = [(Api.AITHRIVING, KEY, {"seed": "-1"})] * 6 + [(Api.VYRO, "nobody-knows-this-key", {})] * 4
    kinds += [(Api.AITHRIVING, KEY, {})] * 25 + [(Api.VYRO, KEY, {})] * 15
    _journal(provider, *[kinds[(i * 7) % 50] for i in range(500)])
    page.goto(f"{url}/__fake__/")
    rows = page.locator("#rows > tr.entry")
    expect(rows).to_have_count(500)
    expect(page.locator("#view")).to_have_value("table")
    expect(page.locator("#entries")).to_be_hidden()
    expect(page.locator("#sum-requests")).to_have_text("500")
    expect(page.locator("#sum-no-answer")).to_have_text("0")
    expect(page.locator("#sum-statuses")).to_contain_text("HTTP 429 ×20")
    expect(page.locator("#sum-clauses button[data-clause='ait.seed.range']")).to_contain_text("×60")
    expect(page.locator("#sum-served")).to_have_text(str(500 - 60 - 40 - 20))
    page.locator("#sum-clauses button[data-clause='ait.seed.range']").click()
    visible = "els => els.filter(e => e.offsetParent !== null).length"
    assert rows.evaluate_all(visible) == 60
    page.locator("#clear-clause-filter").click()
    screenshot(page, "dashboard-table.png")
    page.locator("#view").select_option("cards")
    expect(page.locator("#entries > li.entry")).to_have_count(100)  # one answer's worth of cards
    expect(page.locator("#left-out")).to_contain_text("400 older requests not shown")
    assert page.errors == []


@pytest.mark.browser
def test_report_paints_no_zero_red(page, tmp_path):
    """Red means something failed: a count of 0 failed is grey, wherever it stands."""
    from inpaint_conformance.harness.html_report import write_html
    from inpaint_conformance.harness.results import ClauseResult, RunReport

    results = [
        ClauseResult("vyro", "vyro.success.png", "MUST", "passed", "ok"),
        ClauseResult("vyro", "vyro.unknown_fields", "MAY", "not_exercised", "no probe"),
    ]
    path = write_html(RunReport(["vyro"], "all good", results, "", "test"), tmp_path / "r.html")
    open_offline(page, path)
    fail_colour = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--fail').trim()")
    red = page.evaluate(
        f"(() => {{ const e = document.createElement('i'); e.style.color = '{fail_colour}'; "
        "document.body.append(e); return getComputedStyle(e).color; })()"
    )
    colours = page.locator("td.count.failed").evaluate_all(
        "tds => tds.map(td => getComputedStyle(td.querySelector('button') || td).color)"
    )
    assert colours and red not in colours, colours
    assert page.locator("[data-testid=verdict]").evaluate("e => e.className") == "verdict good"


# -- the matrix of several runs ----------------------------------------------------------------
@pytest.fixture(scope="module")
def three_runs_matrix(tmp_path_factory) -> Path:
    """`report a.json b.json c.json --html`: the fake, and two mutants of it that break different clauses."""
    folder = tmp_path_factory.mktemp("matrix")
    reports = []
    for deviation in (None, "mask_inverted", "size_rounded"):
        path = folder / f"{deviation or 'fake'}.json"
        argv = ["verify", "--api", "aithriving", "--examples", "2", "--json-report", str(path)]
        main(argv + (["--deviation", deviation] if deviation else []))
        reports.append(str(path))
    page = folder / "matrix.html"
    labels = ["--label", "fake", "--label", "masks inverted", "--label", "sizes rounded"]
    assert main(["report", *reports, *labels, "--html", str(page)]) == 0
    return page


@pytest.mark.browser
def test_matrix_of_three_runs_loads_offline_with_differences_marked_and_cells_linking_to_evidence(
    page, three_runs_matrix
):
    from playwright.sync_api import expect

    asked = open_offline(page, three_runs_matrix)
    assert [url for url in asked if not url.startswith(("file:", "data:"))] == []
    headers = page.locator("#matrix thead th[data-run]")
    expect(headers).to_have_count(3)
    assert [t.strip().splitlines()[0] for t in headers.all_inner_texts()] == ["fake", "masks inverted", "sizes rounded"]
    size_row = page.locator('#matrix tr[data-clause="ait.output.size"]')
    expect(size_row).to_have_class(re.compile(r"\bdiffers\b"))
    assert size_row.locator("td.cell").evaluate_all("cells => cells.map(c => c.dataset.status)") == [
        "passed",
        "passed",
        "failed",
    ]
    agreeing = page.locator('#matrix tr[data-clause="ait.auth.missing"]')
    expect(agreeing).not_to_have_class(re.compile(r"\bdiffers\b"))
    # Highlighted: a differing row is painted unlike an agreeing one.
    assert size_row.locator("th.clause").evaluate("e => getComputedStyle(e).borderLeftWidth") == "4px"
    # A cell links to that run's evidence of the clause, further down the same page.
    size_row.locator('td.cell[data-run="2"] a').click()
    evidence = page.locator("article.evidence-item:target")
    expect(evidence).to_have_attribute("id", "r2-ait.output.size")
    expect(evidence).to_be_in_viewport()
    expect(evidence).to_contain_text("failed")
    expect(evidence.locator("pre.reproduce")).to_contain_text("$AIT_API_KEY")
    # Only the differences, on request.
    page.locator("#only-differing").check()
    expect(agreeing).to_be_hidden()
    expect(size_row).to_be_visible()
    screenshot(page, "matrix.png")
    assert page.errors == []

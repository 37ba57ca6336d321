"""The validating proxy in front of the live fake, its recordings, and their replay."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image
from rich.console import Console

from inpaint_conformance.contracts import Api, redact_secret
from inpaint_conformance.contracts.rules import PATHS
from inpaint_conformance.fakes import Fault
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.replay import RecordingError, ReplayProvider, load_recording
from inpaint_conformance.fakes.server import serving
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.proxy import create_proxy_app
from inpaint_conformance.harness.recording import Recorder

KEY = "test-key"
LONG_KEY = "sk-live-0123456789abcdef"  # long enough that redaction keeps a hint: the rest must vanish
AIT, VYRO = PATHS[Api.AITHRIVING], PATHS[Api.VYRO]


def rgba_png() -> bytes:
    """An RGBA image whose transparent half is the mask (A9)."""
    image = Image.new("RGBA", (96, 64), (40, 120, 200, 255))
    image.paste((0, 0, 0, 0), (48, 0, 96, 64))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def rgb_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (40, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def ait_post(base: str, key: str = KEY, **fields) -> httpx.Response:
    data = {"prompt": "a red barn", **fields}
    return httpx.post(
        f"{base}{AIT}",
        headers={"authorization": key},
        data=data,
        files={"image": ("image.png", rgba_png(), "image/png")},
        timeout=30,
    )


@pytest.fixture
def proxied(live_fake):
    """(proxy_url, proxy_app, provider, console) with the proxy judging AIThriving traffic."""
    url, provider = live_fake
    console = Console(record=True, width=200)
    app = create_proxy_app("aithriving", url, console=console)
    with serving(app) as proxy:
        yield proxy.url, app, provider, console


def test_conforming_request_passes_through_with_the_upstreams_body(proxied, live_fake):
    proxy_url, app, _, console = proxied
    through = ait_post(proxy_url, seed="1234")
    direct = ait_post(live_fake[0], seed="1234")  # same seed: the fake paints the same bytes

    assert through.status_code == 200
    assert through.content == direct.content
    assert through.json()["data"]["seed"] == 1234
    (exchange,) = app.state.exchanges
    assert exchange.request_violations == [] and exchange.response_violations == []
    assert "client ok  server ok" in console.export_text()


def test_a_violating_client_request_is_flagged_with_its_clause(proxied):
    proxy_url, app, _, console = proxied
    answer = ait_post(proxy_url, seed="-5")

    assert answer.json()["code"] == -1  # the upstream's refusal reaches the client unchanged
    (exchange,) = app.state.exchanges
    assert [v.clause for v in exchange.request_violations] == ["ait.seed.range"]
    assert exchange.response_violations == []  # the fake refused it, as it must
    assert "client ait.seed.range [MUST]" in console.export_text()


def test_a_deviating_upstream_is_flagged(proxied):
    proxy_url, app, provider, console = proxied
    provider.faults.add(Fault(kind="seed_echo_wrong"))
    answer = ait_post(proxy_url, seed="77")

    assert answer.json()["data"]["seed"] == 78  # passed on as it came: the proxy observes, never corrects
    (exchange,) = app.state.exchanges
    assert exchange.request_violations == []
    assert "ait.seed.echo" in [v.clause for v in exchange.response_violations]
    assert "server ait.seed.echo [MUST]" in console.export_text()


def test_other_paths_are_forwarded_without_judging(proxied):
    proxy_url, app, _, console = proxied
    answer = httpx.get(f"{proxy_url}/__fake__/credits", headers={"authorization": KEY})

    assert answer.status_code == 200 and answer.json() == {"credits": 6000}
    assert app.state.exchanges[0].api is None
    assert "forwarded, not judged" in console.export_text()


def test_a_client_on_a_wrong_inpaint_path_is_judged_and_the_upstreams_404_is_not(proxied):
    proxy_url, app, provider, console = proxied
    answer = httpx.post(
        f"{proxy_url}/api/edit/inpainting",
        headers={"authorization": KEY},
        data={"prompt": "a barn"},
        files={"image": ("image.png", rgba_png(), "image/png")},
        timeout=30,
    )

    assert answer.status_code == 404
    (exchange,) = app.state.exchanges
    assert exchange.near_miss and "ait.transport.post" in [v.clause for v in exchange.request_violations]
    assert exchange.response_violations == []
    assert provider.ledger.balance(KEY) == 6000
    assert "not judged (wrong path)" in console.export_text()


def test_an_unreachable_upstream_gets_a_502_and_the_proxy_keeps_serving():
    with serving(create_app()) as closed:
        dead_url = closed.url  # a port nobody listens on once this block ends
    console = Console(record=True, width=200)
    app = create_proxy_app("aithriving", dead_url, console=console)
    with serving(app) as proxy:
        first = ait_post(proxy.url)
        second = ait_post(proxy.url)

    assert first.status_code == second.status_code == 502
    assert "upstream is unreachable" in first.json()["detail"]
    assert dead_url in first.json()["detail"]
    assert "upstream: the upstream is unreachable" in console.export_text()


def test_a_bad_upstream_url_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="must be an http\\(s\\) URL"):
        create_proxy_app("vyro", "api.vyro.ai")


def test_recording_redacts_secrets_and_replays_to_the_same_answers(live_fake, tmp_path):
    url, provider = live_fake
    provider.add_key(LONG_KEY, 600)
    record = tmp_path / "exchanges.jsonl"
    app = create_proxy_app("aithriving", url, Recorder(record), console=Console(file=io.StringIO()))
    with serving(app) as proxy:
        answers = [
            ait_post(proxy.url, key=LONG_KEY, seed="99"),
            ait_post(proxy.url, key=LONG_KEY, seed="abc"),
            ait_post(proxy.url, key=LONG_KEY),
        ]

    text = record.read_text()
    assert LONG_KEY not in text and LONG_KEY[4:] not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["api"] for line in lines] == ["aithriving"] * 3
    assert lines[0]["request"]["headers"]["authorization"] == redact_secret(LONG_KEY)
    assert lines[1]["request_violations"][0]["clause"] == "ait.seed.integer"
    assert base64.b64decode(lines[0]["response"]["body"]) == answers[0].content

    replay = ReplayProvider(record)
    with serving(create_app(replay)) as replayed:
        # Out of order on purpose: each request is answered by the exchange it matches.
        again = [
            ait_post(replayed.url, key="any-key", seed="abc"),
            ait_post(replayed.url, key="any-key", seed="99"),
            ait_post(replayed.url, key="any-key"),
        ]
    assert [a.content for a in again] == [answers[1].content, answers[0].content, answers[2].content]
    assert replay.remaining == 0
    assert [e["violations"][0]["clause"] if e["violations"] else None for e in replay.journal.entries()] == [
        "ait.seed.integer",
        None,
        None,
    ]


def test_replay_answers_in_order_when_nothing_matches_and_says_so_when_exhausted(live_fake, tmp_path):
    url, _ = live_fake
    record = tmp_path / "r.jsonl"
    app = create_proxy_app("aithriving", url, Recorder(record), console=Console(file=io.StringIO()))
    with serving(app) as proxy:
        recorded = ait_post(proxy.url, seed="5")

    lenient, strict = ReplayProvider(record), ReplayProvider(record, strict=True)
    with serving(create_app(lenient)) as loose, serving(create_app(strict)) as tight:
        assert ait_post(loose.url, seed="6").content == recorded.content  # next in order
        missed = ait_post(loose.url, seed="7")
        refused = ait_post(tight.url, seed="6")
    assert missed.status_code == 404 and "all 1 recorded exchange(s)" in missed.json()["detail"]
    assert refused.status_code == 404 and "strict" in refused.json()["detail"]


def test_a_broken_recording_names_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"request": {"method": "POST", "path": "/x", "body": ""}, "response": null}\nnot json\n')
    with pytest.raises(RecordingError, match="bad.jsonl:2: not JSON"):
        load_recording(bad)


def test_vyro_proxy_judges_vyro_rules(live_fake):
    url, _ = live_fake
    app = create_proxy_app("vyro", url, console=Console(file=io.StringIO()))
    with serving(app) as proxy:
        answer = httpx.post(
            f"{proxy.url}{VYRO}",
            headers={"bearer": KEY},
            data={"prompt": "sky"},
            files={"image": ("i.png", rgb_png(), "image/png")},
            timeout=30,
        )
    assert answer.status_code == 400
    (exchange,) = app.state.exchanges
    assert [v.clause for v in exchange.request_violations] == ["vyro.mask.required"]
    assert exchange.response_violations == []


def test_proxy_command_refuses_a_bad_upstream(capsys):
    assert main(["proxy", "--api", "aithriving", "--upstream", "ftp://example"]) == 2
    assert "must be an http(s) URL" in capsys.readouterr().err

"""B3, structurally: secrets are removed where they stand, so a one-character key breaks no report.

The README's own key is `k`. Replacing every "k" in a report (the old way) corrupted
details, curl reproducers (`-F 'mas[redacted]=@…'`), JSON keys and base64 pictures,
and the HTML report died with a traceback. Here a real `inpaint-conformance serve
--api-key k=6000` is verified with every report format, and servers that echo the key
show it redacted as a whole token only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from inpaint_conformance.fakes.server import free_port, serving
from inpaint_conformance.harness.cli import main

KEY = "k"
INSIDE_A_WORD = re.compile(r"\w\[redacted\]|\[redacted\]\w")


@pytest.fixture(scope="module")
def served_k():
    """`inpaint-conformance serve --api-key k=6000`, as the README starts it, in its own process."""
    port = free_port()
    command = [sys.executable, "-m", "inpaint_conformance.harness.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--api-key", f"{KEY}=6000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/__fake__/credits", headers={"authorization": KEY}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {process.stderr.read().decode() if process.stderr else ''}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def strings(value):
    """Every string in a JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_a_one_character_key_works_end_to_end_in_every_report_format(tmp_path, served_k, capsys):
    paths = {name: tmp_path / f"r.{name}" for name in ("json", "html", "xml")}
    code = main(
        [
            "verify",
            "--base-url",
            served_k,
            "--api-key",
            KEY,
            "--credits-url",
            f"{served_k}/__fake__/credits",
            "--examples",
            "1",
            "--yes",
            "--json-report",
            str(paths["json"]),
            "--html-report",
            str(paths["html"]),
            "--junit-xml",
            str(paths["xml"]),
        ]
    )
    console = capsys.readouterr().out
    assert code == 0, console[-3000:]
    report = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert report["summary"]["failed"] == 0
    # Nothing was replaced inside a word: not in details, reproducers, JSON keys or picture data.
    corrupted = [text[:120] for text in strings(report) if INSIDE_A_WORD.search(text)]
    assert corrupted == []
    assert "[redacted]" not in console
    assert '"psnr_kept"' in paths["json"].read_text()  # JSON keys with a k survive
    # Pictures are intact base64 PNG data.
    assert re.search(r"data:image/png;base64,iVBORw0KGgo[A-Za-z0-9+/=]+", paths["json"].read_text())
    page = paths["html"].read_text(encoding="utf-8")
    assert "<html" in page and not INSIDE_A_WORD.search(page)
    cases = ET.parse(paths["xml"]).getroot().findall(".//testcase")
    assert len(cases) == len(report["results"])


def test_failures_against_a_one_character_key_keep_their_reproducers_whole(tmp_path, served_k, capsys):
    """The same server with a deviation turned on: every failure's curl line and detail are intact."""
    httpx.post(f"{served_k}/__fake__/faults", json={"kind": "seed_range_unchecked", "count": 1000}).raise_for_status()
    try:
        code = main(
            ["verify", "--base-url", served_k, "--api-key", KEY, "--api", "aithriving", "--examples", "0", "--yes"]
            + ["--json-report", str(tmp_path / "r.json"), "--html-report", str(tmp_path / "r.html")]
        )
    finally:
        httpx.post(f"{served_k}/__fake__/reset").raise_for_status()
    console = capsys.readouterr().out
    assert code == 1
    failed = [r for r in json.loads((tmp_path / "r.json").read_text())["results"] if r["status"] == "failed"]
    assert [r["clause"] for r in failed] == ["ait.seed.range"]
    command = failed[0]["reproduce"]
    assert (
        '-H "authorization: $AIT_API_KEY"' in command and "-F 'mask=@" in command and "--form-string seed=" in command
    )
    assert not INSIDE_A_WORD.search(command + failed[0]["detail"] + console)
    assert not INSIDE_A_WORD.search((tmp_path / "r.html").read_text(encoding="utf-8"))


def echoing_server():
    """A Vyro server that quotes the token back in its error text, its JSON and a header."""

    async def echo(request):
        key = request.headers.get("bearer", "")
        return JSONResponse(
            {"error": f"no inpainting today for {key}; check the mask", key: "kept", "token": key},
            status_code=401,
            headers={"x-debug-caller": key},
        )

    async def root(request):
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", root), Route("/v1/imagine/api/edits/inpaint", echo, methods=["POST"])])


def test_an_echoed_one_character_key_is_redacted_as_a_whole_token_only(tmp_path, capsys):
    with serving(echoing_server()) as server:
        # The key is refused on a valid request: the preflight says so (exit 2), naming the flag.
        code = main(["verify", "--base-url", server.url, "--api", "vyro", "--api-key", KEY, "--yes"])
        err = capsys.readouterr().err
        assert code == 2 and "--api-key" in err
        assert "for [redacted]; check the mask" in err  # the server's text, the key replaced, "check" intact
        assert not INSIDE_A_WORD.search(err)


def test_a_report_that_cannot_be_rendered_exits_2_with_a_message(tmp_path, capsys):
    broken = {
        "results": [
            {
                "api": "vyro",
                "clause": "vyro.success.png",
                "level": "MUST",
                "status": "passed",
                "detail": "1 check",
                "evidence": {"observed": {"HTTP 200 png": "many"}},  # a count that is not a number
            }
        ]
    }
    source = tmp_path / "broken.json"
    source.write_text(json.dumps(broken))
    assert main(["report", str(source), "--html", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "cannot render the report as HTML" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("evidence", [[1, 2], "text"])
def test_a_report_whose_evidence_is_not_an_object_is_refused_when_read(tmp_path, capsys, evidence):
    result = {"api": "vyro", "clause": "vyro.success.png", "level": "MUST", "status": "passed", "detail": "x"}
    source = tmp_path / "odd.json"
    source.write_text(json.dumps({"results": [{**result, "evidence": evidence}]}))
    assert main(["report", str(source), "--html", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "evidence must be an object" in err and "Traceback" not in err

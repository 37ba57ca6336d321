"""`check-client`: a client's verdict from the fake's journal or a HAR file."""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET

import httpx
import pytest
from PIL import Image

from inpaint_conformance.contracts import Api, clauses
from inpaint_conformance.contracts.rules import PATHS
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.client_check import client_results, load_client_input

AIT_URL = f"https://www.aithriving.com{PATHS[Api.AITHRIVING]}"
VYRO_URL = f"https://api.vyro.ai{PATHS[Api.VYRO]}"


def png(mode: str = "RGB") -> bytes:
    image = Image.new(mode, (96, 64), (40, 120, 200) if mode == "RGB" else (40, 120, 200, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def ait_files() -> dict:
    return {"image": ("image.png", png("RGBA"), "image/png")}


def vyro_files() -> dict:
    return {"image": ("image.png", png(), "image/png"), "mask": ("mask.png", png(), "image/png")}


def by_clause(report: dict) -> dict[str, dict]:
    return {r["clause"]: r for r in report["results"]}


# -- from the fake's journal ---------------------------------------------------------


def drive_client(base: str) -> None:
    """A client with two mistakes: an out-of-range seed, and a Vyro call without a mask."""
    ait, vyro = f"{base}{PATHS[Api.AITHRIVING]}", f"{base}{PATHS[Api.VYRO]}"
    httpx.post(ait, headers={"authorization": "test-key"}, data={"prompt": "a barn", "seed": "5"}, files=ait_files())
    httpx.post(
        ait, headers={"authorization": "test-key"}, data={"prompt": "a barn", "seed": "4294967295"}, files=ait_files()
    )
    httpx.post(
        vyro, headers={"bearer": "test-key"}, data={"prompt": "sky"}, files={"image": ("i.png", png(), "image/png")}
    )


def test_journal_from_the_live_fake_is_judged_clause_by_clause(live_fake, tmp_path, capsys):
    url, _ = live_fake
    drive_client(url)
    journal = tmp_path / "journal.jsonl"
    journal.write_text(httpx.get(f"{url}/__fake__/journal.jsonl").text)

    code = main(
        [
            "check-client",
            str(journal),
            "--json-report",
            str(tmp_path / "r.json"),
            "--junit-xml",
            str(tmp_path / "r.xml"),
        ]
    )

    assert code == 1  # MUST clauses failed
    results = by_clause(json.loads((tmp_path / "r.json").read_text()))
    seed = results["ait.seed.range"]
    assert seed["status"] == "failed"
    assert "1 of 2 aithriving request(s)" in seed["detail"] and "#2 POST /api/edit/inpaint" in seed["detail"]
    assert "4294967295" in seed["detail"]
    assert results["vyro.mask.required"]["status"] == "failed"
    assert results["ait.prompt.required"]["status"] == "passed"
    assert results["vyro.auth.header"]["status"] == "passed"
    client_ids = {c.id for c in clauses(side="client")}
    assert client_ids <= results.keys()
    junit = ET.parse(tmp_path / "r.xml").getroot()
    failed = {case.get("name") for case in junit.iter("testcase") if case.find("failure") is not None}
    assert failed == {"ait.seed.range", "vyro.mask.required"}
    out = capsys.readouterr().out
    assert "3 inpaint request(s) in journal" in out and "ait.seed.range" in out


def test_client_results_reads_journal_entries_in_process(provider):
    from inpaint_conformance.contracts import HttpRequest

    request = httpx.Request(
        "POST",
        AIT_URL,
        headers={"authorization": "test-key"},
        data={"prompt": "a barn", "output_format": "gif"},
        files=ait_files(),
    )
    request.read()
    provider.handle(HttpRequest("POST", str(request.url), list(request.headers.items()), request.content))

    results = {r.clause: r for r in client_results(provider.journal.entries())}
    assert results["ait.output_format.enum"].status == "failed"
    assert results["ait.prompt.required"].status == "passed"
    # No request sent a seed: the seed clauses were not exercised, so they did not pass.
    assert results["ait.seed.range"].status == "not_exercised"
    assert results["vyro.mask.required"].status == "not_exercised"
    assert results["vyro.mask.required"].detail == "no vyro request in the input"


def test_a_conforming_client_exits_0_and_unused_api_is_not_exercised(live_fake, tmp_path):
    url, _ = live_fake
    httpx.post(
        f"{url}{PATHS[Api.AITHRIVING]}",
        headers={"authorization": "test-key"},
        data={"prompt": "a barn"},
        files=ait_files(),
    )
    journal = tmp_path / "journal.json"
    journal.write_text(httpx.get(f"{url}/__fake__/journal").text)  # the JSON (array) form works too

    assert main(["check-client", str(journal), "--json-report", str(tmp_path / "r.json")]) == 0
    results = by_clause(json.loads((tmp_path / "r.json").read_text()))
    # The client sent no seed, no output_format and no mask part: those clauses were not exercised; every other one passed.
    not_sent = {"ait.seed.range", "ait.seed.integer", "ait.output_format.enum", "ait.mask.format"}
    assert {c for c, r in results.items() if c.startswith("ait.") and r["status"] != "passed"} == not_sent
    assert {results[c]["status"] for c in not_sent} == {"not_exercised"}
    assert {r["status"] for c, r in results.items() if c.startswith("vyro.")} == {"not_exercised"}


def test_strict_counts_a_should_clause(tmp_path):
    entry = {
        "id": 1,
        "time": 1700000000.0,
        "api": "vyro",
        "method": "POST",
        "path": PATHS[Api.VYRO],
        "status": 400,
        "checked": [c.id for c in clauses("vyro", side="client")],
        "violations": [
            {
                "clause": "vyro.model_version.unknown",
                "level": "SHOULD",
                "message": "model_version '9' is unknown",
                "refuse": True,
            }
        ],
    }
    journal = tmp_path / "j.jsonl"
    journal.write_text(json.dumps(entry) + "\n")
    assert main(["check-client", str(journal)]) == 0
    assert main(["check-client", str(journal), "--strict"]) == 1


# -- from a HAR file -------------------------------------------------------------------


def har_entry(request: httpx.Request, form: str = "text", started: str = "2024-05-01T10:00:00.000Z") -> dict:
    body = request.read()
    headers = [{"name": k, "value": v} for k, v in request.headers.multi_items()]
    post: dict = {"mimeType": request.headers.get("content-type", "")}
    if form == "text":  # how tools that keep binary bodies write them: bytes as latin-1 characters
        post["text"] = body.decode("latin-1")
    elif form == "base64":
        post.update(text=base64.b64encode(body).decode(), encoding="base64")
    elif form == "lossy":  # how tools that decode everything as UTF-8 write them
        post["text"] = body.decode("utf-8", errors="replace")
    entry = {
        "startedDateTime": started,
        "request": {"method": request.method, "url": str(request.url), "httpVersion": "HTTP/1.1", "headers": headers},
    }
    if body:
        entry["request"]["postData"] = post
    return entry


def write_har(path, entries: list[dict]) -> str:
    path.write_text(
        json.dumps({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": entries}})
    )
    return str(path)


def test_har_requests_are_rebuilt_and_judged(tmp_path, capsys):
    good = httpx.Request(
        "POST", AIT_URL, headers={"authorization": "k"}, data={"prompt": "a barn", "seed": "12"}, files=ait_files()
    )
    bearer = httpx.Request(
        "POST", AIT_URL, headers={"authorization": "Bearer k"}, data={"prompt": "x"}, files=ait_files()
    )
    vyro = httpx.Request(
        "POST", VYRO_URL, headers={"bearer": "k"}, data={"prompt": "sky", "model_version": "1"}, files=vyro_files()
    )
    elsewhere = httpx.Request("GET", "https://www.aithriving.com/pricing")
    preflight = httpx.Request("OPTIONS", AIT_URL)
    har = write_har(
        tmp_path / "c.har",
        [
            har_entry(good),
            har_entry(bearer, "base64", "2024-05-01T10:00:01.000Z"),
            har_entry(vyro),
            har_entry(elsewhere),
            har_entry(preflight),
        ],
    )

    assert main(["check-client", har, "--json-report", str(tmp_path / "r.json")]) == 1
    results = by_clause(json.loads((tmp_path / "r.json").read_text()))
    header = results["ait.auth.header"]
    assert header["status"] == "failed"
    assert "HAR entry 1, 2024-05-01T10:00:01.000Z" in header["detail"] and "Bearer" in header["detail"]
    failed = {c for c, r in results.items() if r["status"] == "failed"}
    assert failed == {"ait.auth.header"}  # the binary images survived the round trip: no image.invalid
    assert {r["status"] for c, r in results.items() if c.startswith("vyro.")} == {"passed"}
    assert "3 inpaint request(s) in har" in capsys.readouterr().out
    assert load_client_input(har).ignored == 2


def test_har_params_form_is_rebuilt_as_multipart(tmp_path):
    entry = {
        "startedDateTime": "",
        "request": {
            "method": "POST",
            "url": AIT_URL,
            "headers": [{"name": "authorization", "value": "k"}],
            "postData": {
                "mimeType": "multipart/form-data",
                "params": [
                    {"name": "prompt", "value": "a barn"},
                    {"name": "seed", "value": "-3"},
                    {
                        "name": "image",
                        "fileName": "image.png",
                        "contentType": "image/png",
                        "value": png("RGBA").decode("latin-1"),
                    },
                ],
            },
        },
    }
    found = load_client_input(write_har(tmp_path / "p.har", [entry]))
    (request,) = found.requests
    assert [v["clause"] for v in request.violations] == ["ait.seed.range"]


def test_har_urlencoded_form_is_a_multipart_violation(tmp_path):
    entry = {
        "request": {
            "method": "POST",
            "url": AIT_URL,
            "headers": [{"name": "authorization", "value": "k"}],
            "postData": {
                "mimeType": "application/x-www-form-urlencoded",
                "params": [{"name": "prompt", "value": "a barn"}],
            },
        }
    }
    (request,) = load_client_input(write_har(tmp_path / "u.har", [entry])).requests
    assert [v["clause"] for v in request.violations] == ["ait.transport.multipart"]


def test_har_that_lost_the_image_bytes_raises_no_false_alarm(tmp_path, capsys):
    request = httpx.Request(
        "POST", AIT_URL, headers={"authorization": "k"}, data={"prompt": "a barn"}, files=ait_files()
    )
    har = write_har(tmp_path / "lossy.har", [har_entry(request, "lossy")])

    assert main(["check-client", har, "--json-report", str(tmp_path / "r.json")]) == 0
    results = by_clause(json.loads((tmp_path / "r.json").read_text()))
    assert results["ait.image.invalid"]["status"] == "unverified"
    assert "lost their file bytes" in results["ait.image.invalid"]["detail"]
    assert "HAR with its content" in results["ait.image.invalid"]["fix"]
    assert results["ait.prompt.required"]["status"] == "passed"
    assert "its image bytes are not judged" in capsys.readouterr().out


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("", "is empty"),
        ('{"api": "aithriving", "violations": []}\n{oops\n', "line 2 is not JSON"),
        ('{"hello": 1}', "entry 1 is not a journal entry"),
        ('{"log": {"entries": [{"request": {}}]}}', "log.entries[0] has no request"),
    ],
)
def test_unreadable_input_exits_2_with_the_reason(tmp_path, capsys, content, message):
    path = tmp_path / "input.jsonl"
    if content is not None:
        path.write_text(content)
    assert main(["check-client", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_input_without_any_inpaint_request_exits_2(tmp_path, capsys):
    har = write_har(tmp_path / "none.har", [har_entry(httpx.Request("GET", "https://example.com/"))])
    assert main(["check-client", har]) == 2
    assert "nothing to judge" in capsys.readouterr().err

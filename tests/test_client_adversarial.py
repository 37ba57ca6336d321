"""Clients nobody on the team wrote: each is judged by the fake and by check-client.

The client code here builds its requests by hand or with httpx/requests only (no
project helper), the way an outside client would; each case is either a correct
client making a choice the documents allow (no MUST clause broken, success, 6
credits for AIThriving) or a client with one realistic bug (its clause, a clear
failure, no charge). Regressions for false alarms and misses found by hand.
"""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
import requests
from PIL import Image

from inpaint_conformance.contracts import HttpRequest, validate_request
from inpaint_conformance.harness.client_check import client_results, load_client_input

AIT = "https://www.aithriving.com/api/edit/inpaint"
VYRO = "https://api.vyro.ai/v1/imagine/api/edits/inpaint"


def _png(mode: str = "RGB", size=(96, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (40, 120, 200) if mode == "RGB" else 0).save(buffer, "PNG")
    return buffer.getvalue()


IMAGE, MASK = _png(), _png("L")


def multipart(fields, files, boundary="advc-b0undary", *, preamble=b"", epilogue=b"") -> tuple[bytes, str]:
    """A multipart/form-data body written by hand: fields (name, bytes|str), files (name, filename, bytes)."""
    out = [preamble]
    for name, value in fields:
        data = value.encode() if isinstance(value, str) else value
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + data + b"\r\n")
    for name, filename, data in files:
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode() + epilogue)
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def clauses(inpaint_fake) -> list[str]:
    return [v["clause"] for entry in inpaint_fake.journal() for v in entry["violations"]]


def failed(inpaint_fake) -> set[str]:
    return {r.clause for r in client_results(inpaint_fake.journal()) if r.status == "failed"}


# -- correct clients: no false alarm --------------------------------------------------


def test_preamble_and_epilogue_are_legal_multipart(inpaint_fake):
    # RFC 2046 5.1.1: text before the first and after the last delimiter is ignored.
    body, ctype = multipart(
        [("prompt", "a hat")],
        [("image", "i.png", IMAGE), ("mask", "m.png", MASK)],
        preamble=b"This is a multi-part message in MIME format.\r\n",
        epilogue=b"trailing words\r\n",
    )
    r = httpx.post(AIT, headers={"authorization": inpaint_fake.key, "content-type": ctype}, content=body)
    assert r.json()["code"] == 0, r.json()
    assert inpaint_fake.balance() == 6000 - 6
    inpaint_fake.assert_client_conformant()


def test_declared_charset_on_a_text_part_is_honoured(inpaint_fake):
    # RFC 7578 4.4; Java's Apache HttpClient sends text parts as ISO-8859-1 by default.
    b = "jv"
    body = (
        f'--{b}\r\nContent-Disposition: form-data; name="prompt"\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n\r\n'.encode()
        + "café".encode("latin-1")
        + b"\r\n"
    )
    more, _ = multipart([], [("image", "i.png", IMAGE), ("mask", "m.png", MASK)], boundary=b)
    r = requests.post(
        AIT,
        headers={"authorization": inpaint_fake.key, "content-type": f"multipart/form-data; boundary={b}"},
        data=body + more,
    )
    assert r.json()["code"] == 0, r.json()
    assert inpaint_fake.journal()[-1]["request"]["prompt"] == "café"
    inpaint_fake.assert_client_conformant()


def test_undeclared_latin1_text_is_refused_by_the_fake_and_flagged_at_may(inpaint_fake):
    """B1: a server may refuse text that is not UTF-8 (the fake does, uncharged) or serve it;
    the client is told at a MAY clause, so it is not a MUST breach of the client's."""
    before = inpaint_fake.balance()
    body, ctype = multipart(
        [("prompt", "café".encode("latin-1"))], [("image", "i.png", IMAGE), ("mask", "m.png", MASK)]
    )
    r = requests.post(AIT, headers={"authorization": inpaint_fake.key, "content-type": ctype}, data=body)
    assert r.json()["code"] == -1 and "UTF-8" in r.json()["message"]
    assert clauses(inpaint_fake) == ["ait.text.non_utf8"]
    assert inpaint_fake.balance() == before
    inpaint_fake.assert_client_conformant()  # MUST level: nothing broken


def test_chrome_har_without_upload_bytes_is_not_judged_on_them(tmp_path):
    # Chrome's DevTools export the multipart text with every upload left empty.
    body, ctype = multipart([("prompt", "a hat")], [("image", "i.png", b""), ("mask", "m.png", b"")])
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "entries": [
                {
                    "startedDateTime": "2024-01-01T00:00:00Z",
                    "request": {
                        "method": "POST",
                        "url": AIT,
                        "headers": [{"name": "authorization", "value": "k"}],
                        "postData": {"mimeType": ctype, "text": body.decode()},
                    },
                }
            ],
        }
    }
    path = tmp_path / "chrome.har"
    path.write_text(json.dumps(har))
    found = load_client_input(path)
    assert found.requests[0].violations == () and found.notes
    # One empty file beside a full one was really sent empty: still judged.
    body, ctype = multipart([("prompt", "a hat")], [("image", "i.png", b""), ("mask", "m.png", MASK)])
    har["log"]["entries"][0]["request"]["postData"] = {"mimeType": ctype, "text": body.decode("latin-1")}
    path.write_text(json.dumps(har))
    assert [v["clause"] for v in load_client_input(path).requests[0].violations] == ["ait.image.invalid"]


# -- one bug each: flagged with its clause, refused clearly, never charged ------------


def test_content_type_set_by_hand_without_boundary(inpaint_fake):
    # The classic requests bug: files=... plus headers={"Content-Type": "multipart/form-data"}.
    r = requests.post(
        AIT,
        headers={"authorization": inpaint_fake.key, "Content-Type": "multipart/form-data"},
        files={"image": IMAGE, "mask": MASK},
        data={"prompt": "a hat"},
    )
    answer = r.json()
    assert answer["code"] == -1 and "boundary" in answer["message"] and "Content-Type yourself" in answer["message"]
    assert clauses(inpaint_fake) == ["ait.transport.multipart"]
    assert inpaint_fake.balance() == 6000


@pytest.mark.parametrize(
    "url, clause, name",
    [
        ("https://www.aithriving.com/api/edit/inpainting", "ait.transport.post", "POST /api/edit/inpaint"),
        ("https://api.vyro.ai/v1/imagine/edits/inpaint", "vyro.transport.post", "POST /v1/imagine/api/edits/inpaint"),
    ],
)
def test_wrong_inpaint_path_is_journalled_and_named(inpaint_fake, url, clause, name):
    r = requests.post(
        url,
        headers={"authorization": inpaint_fake.key, "bearer": inpaint_fake.key},
        files={"image": IMAGE, "mask": MASK},
        data={"prompt": "a hat"},
    )
    assert r.status_code == 404 and name in r.json()["message"]
    assert clause in failed(inpaint_fake)
    assert inpaint_fake.balance() == 6000


def test_other_provider_paths_stay_unjournalled(inpaint_fake):
    r = httpx.post(
        "https://api.vyro.ai/v1/imagine/api/generations", headers={"bearer": inpaint_fake.key}, data={"prompt": "x"}
    )
    assert r.status_code == 404 and inpaint_fake.journal() == []


def test_wrong_path_on_the_live_server(inpaint_server):
    r = httpx.post(
        f"{inpaint_server.url}/api/edit/inpainting",
        headers={"authorization": inpaint_server.key},
        files={"image": IMAGE, "mask": MASK},
        data={"prompt": "a hat"},
    )
    assert r.status_code == 404 and "POST /api/edit/inpaint" in r.json()["message"]
    (entry,) = inpaint_server.journal()
    assert [v["clause"] for v in entry["violations"]] == ["ait.transport.post"]


def test_trailing_slash_is_answered_not_redirected_and_noted(inpaint_server):
    # httpx does not follow redirects: a 307 left the client with nothing, and unjournalled.
    r = httpx.post(
        f"{inpaint_server.url}/api/edit/inpaint/",
        headers={"authorization": inpaint_server.key},
        files={"image": IMAGE, "mask": MASK},
        data={"prompt": "a hat"},
    )
    assert r.status_code == 200 and r.json()["code"] == 0
    (entry,) = inpaint_server.journal()
    assert [(v["clause"], v["refuse"]) for v in entry["violations"]] == [("ait.transport.post", False)]


@pytest.mark.parametrize(
    "url, header, value, clause",
    [
        (AIT, "authorization", "Bearer test-key", "ait.auth.header"),
        (VYRO, "bearer", "Bearer test-key", "vyro.auth.header"),
    ],
)
def test_bearer_prefix_is_named_in_the_refusal(inpaint_fake, url, header, value, clause):
    r = httpx.post(url, headers={header: value}, files={"image": IMAGE, "mask": MASK}, data={"prompt": "a hat"})
    body = r.json()
    assert "Bearer <" in body["message"] and clause in body["message"]
    assert clauses(inpaint_fake) == [clause]
    assert inpaint_fake.balance() == 6000


def test_base64_image_in_a_form_field_says_how_to_fix_it(inpaint_fake):
    r = requests.post(
        AIT,
        headers={"authorization": inpaint_fake.key},
        data={"prompt": "a hat", "image": base64.b64encode(IMAGE).decode()},
        files={"mask": MASK},
    )
    assert "base64" in r.json()["message"] and "file part" in r.json()["message"]
    assert clauses(inpaint_fake) == ["ait.image.invalid"]


def test_image_sent_under_another_name_is_named(inpaint_fake):
    r = requests.post(
        VYRO, headers={"bearer": inpaint_fake.key}, files={"file": IMAGE, "mask": MASK}, data={"prompt": "x"}
    )
    assert r.status_code == 400 and "`file`" in r.json()["message"]
    assert "vyro.image.required" in clauses(inpaint_fake)


def test_validator_alone_agrees():
    """The same judgements from contracts.validate_request, without any fake."""
    body, ctype = multipart(
        [("prompt", "a hat")],
        [("image", "i.png", IMAGE), ("mask", "m.png", MASK)],
        preamble=b"preamble\r\n",
        epilogue=b"epilogue",
    )
    ok = validate_request("aithriving", HttpRequest("POST", AIT, {"authorization": "k", "content-type": ctype}, body))
    assert ok.violations == []
    no_boundary = validate_request(
        "aithriving", HttpRequest("POST", AIT, {"authorization": "k", "content-type": "multipart/form-data"}, body)
    )
    assert no_boundary.clause_ids() == ["ait.transport.multipart"]
    truncated = validate_request(
        "aithriving", HttpRequest("POST", AIT, {"authorization": "k", "content-type": ctype}, body[:-30])
    )
    assert truncated.clause_ids() == ["ait.robust.malformed"]

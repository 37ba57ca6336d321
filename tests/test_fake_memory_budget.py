"""The memory budget: image work priced from the headers, admitted in turn, refused with the
API's 429 + Retry-After when the wait runs out, never charged; the same for every door."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import requests
from hostile_support import deep_png, multipart, png

from inpaint_conformance.contracts import Api, HttpRequest
from inpaint_conformance.contracts.rules import INPUT_FORMATS, PATHS
from inpaint_conformance.fakes import FakeProvider
from inpaint_conformance.fakes.memory_budget import (
    WORKING_BYTES_PER_PIXEL,
    MemoryBudget,
    format_size,
    parse_size,
    request_cost,
)
from inpaint_conformance.fakes.mocks import mock_providers

KEY = "budget-key"
MB = 1024 * 1024


def _ait(image: bytes) -> HttpRequest:
    body = multipart([("image", image, "image.png"), ("prompt", b"a wall", None)], "b")
    return HttpRequest(
        "POST",
        f"http://127.0.0.1{PATHS[Api.AITHRIVING]}",
        {"authorization": KEY, "content-type": "multipart/form-data; boundary=b"},
        body,
    )


def test_a_request_is_priced_by_its_decoded_pixels_not_its_upload_size():
    upload = deep_png(4096, 4096)
    assert len(upload) < 200_000  # 127 KB on the wire...
    cost = request_cost("multipart/form-data; boundary=b", _ait(upload).body, INPUT_FORMATS[Api.AITHRIVING])
    assert cost == 4096 * 4096 * 8 + 4096 * 4096 * WORKING_BYTES_PER_PIXEL  # ...128 MB of pixels, and their copies
    small = request_cost("multipart/form-data; boundary=b", _ait(png((64, 48))).body, INPUT_FORMATS[Api.AITHRIVING])
    assert small == 64 * 48 * 4 + 64 * 48 * WORKING_BYTES_PER_PIXEL


@pytest.mark.parametrize(
    "content_type, body",
    [("text/plain", b"hello"), ("multipart/form-data; boundary=b", b"--b\r\nbroken"), ("", b"")],
)
def test_a_request_that_decodes_nothing_costs_nothing(content_type, body):
    assert request_cost(content_type, body, INPUT_FORMATS[Api.AITHRIVING]) == 0


def test_work_waits_its_turn_first_come_first_served():
    budget = MemoryBudget(100, max_wait=10)
    order = []
    with budget.admit(80) as first:
        assert first.admitted and budget.in_use == 80

        def later(name: str, cost: int) -> None:
            with budget.admit(cost) as admission:
                order.append((name, admission.admitted))

        big = threading.Thread(target=later, args=("big", 60))
        big.start()
        time.sleep(0.2)
        small = threading.Thread(target=later, args=("small", 10))  # fits now, but arrived second
        small.start()
        time.sleep(0.2)
        assert order == []  # the small one does not overtake the big one waiting
    big.join(5)
    small.join(5)
    assert order[0] == ("big", True) and ("small", True) in order
    assert budget.in_use == 0


def test_work_over_the_wait_is_refused_with_a_retry_after():
    budget = MemoryBudget(100, max_wait=0.2)
    with budget.admit(100):
        with budget.admit(50) as refused:
            assert not refused.admitted and refused.retry_after >= 1
    with budget.admit(50) as admitted:
        assert admitted.admitted


def test_a_job_bigger_than_the_whole_budget_runs_alone():
    budget = MemoryBudget(100, max_wait=1)
    with budget.admit(500) as alone:
        assert alone.admitted
        with budget.admit(1) as other:
            assert not other.admitted  # nothing runs beside it


@pytest.mark.parametrize("text, value", [("512M", 512 * MB), ("1G", 1024 * MB), ("1.5GiB", 1536 * MB), ("1000", 1000)])
def test_sizes_read_as_a_user_writes_them(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "5Q"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(ValueError, match="512M"):
        parse_size(text)


def test_format_size_reads_back():
    assert format_size(1024 * MB) == "1 GiB" and parse_size(format_size(768 * MB).replace(" ", "")) == 768 * MB


@pytest.fixture
def busy() -> FakeProvider:
    """A fake whose budget is taken (a 4096 px request is in work) and that waits 0.1 s at most."""
    provider = FakeProvider(thumbnails=False, memory_budget=MemoryBudget(64 * MB, max_wait=0.1))
    provider.add_key(KEY, 600)
    return provider


@pytest.mark.parametrize("api", list(Api))
def test_over_budget_work_gets_the_apis_429_with_retry_after_and_is_not_charged(busy, api):
    header = "authorization" if api is Api.AITHRIVING else "bearer"
    parts = [("image", png(), "image.png"), ("mask", png(mode="L"), "mask.png"), ("prompt", b"x", None)]
    request = HttpRequest(
        "POST",
        f"http://127.0.0.1{PATHS[api]}",
        {header: KEY, "content-type": "multipart/form-data; boundary=b"},
        multipart(parts, "b"),
    )
    with busy.memory.admit(64 * MB):
        answer = busy.handle(request).response
    body = json.loads(answer.body)
    assert answer.status == 429 and int(answer.headers["retry-after"]) >= 1
    assert (body["code"] == -1) if api is Api.AITHRIVING else ("message" in json.dumps(body))
    assert busy.ledger.balance(KEY) == 600
    [entry] = busy.journal.entries()
    assert entry["status"] == 429 and entry["credits_after"] == 600
    assert busy.handle(request).response.status == 200  # once the budget is free, the same request is served


def test_the_mocks_share_the_budget(busy):
    with mock_providers(busy), busy.memory.admit(64 * MB):
        with_httpx = httpx.post(
            f"https://www.aithriving.com{PATHS[Api.AITHRIVING]}",
            headers={"authorization": KEY},
            files={"image": ("i.png", png(), "image/png")},
            data={"prompt": "x"},
        )
        with_requests = requests.post(
            f"https://www.aithriving.com{PATHS[Api.AITHRIVING]}",
            headers={"authorization": KEY},
            files={"image": ("i.png", png(), "image/png")},
            data={"prompt": "x"},
        )
    assert with_httpx.status_code == with_requests.status_code == 429
    assert busy.ledger.balance(KEY) == 600


def test_a_request_without_images_is_not_held_up(busy):
    request = HttpRequest("POST", f"http://127.0.0.1{PATHS[Api.AITHRIVING]}", {"authorization": KEY}, b"")
    with busy.memory.admit(64 * MB):
        answer = busy.handle(request).response
    assert answer.status != 429  # refused for what it is (not multipart), at once

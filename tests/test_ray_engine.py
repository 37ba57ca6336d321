"""The Ray app's engine plumbing without Ray: batches, a dying replica, the replica header.

`RemoteEngine` is driven with a stand-in for a Serve deployment handle, so what the
shared HTTP layer does when a replica dies (answer in the API's failure shape, charge
nothing) is checked in milliseconds; tests/test_ray_serve.py does it with real replicas.
"""

from __future__ import annotations

import io
import json

import anyio
import httpx
import pytest
from PIL import Image
from urllib3 import encode_multipart_formdata

from inpaint_conformance.contracts import Api, HttpRequest
from inpaint_conformance.contracts.envelopes import AIT_FAILURE_CODE
from inpaint_conformance.contracts.rules import AUTH_HEADER, PATHS
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.engine import FakeEngine, InpaintJob
from inpaint_conformance.fakes.provider import FakeProvider
from inpaint_conformance.fakes.server import serving
from inpaint_conformance.reference_impl.ray_engine import (
    REPLICA_HEADER,
    Painted,
    RemoteEngine,
    RemoteEngineError,
    ReplicaHeader,
    paint_jobs,
)


def _job(seed: int, size=(64, 64)) -> InpaintJob:
    return InpaintJob(Image.new("RGB", size, (10, 20, 30)), Image.new("L", size, 255), "a wall", None, seed)


class _BatchEngine:
    """An engine with a batch call that fails whole batches holding a poisoned seed."""

    name = "batching"

    def __init__(self, poison: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.poison = poison

    def inpaint_batch(self, jobs):
        self.calls.append([job.seed for job in jobs])
        if any(job.seed == self.poison for job in jobs):
            raise RuntimeError("CUDA out of memory")
        return [FakeEngine().inpaint(job) for job in jobs]


def test_a_serve_batch_is_one_engine_call_and_one_bad_job_cannot_fail_its_mates():
    engine = _BatchEngine()
    pictures = paint_jobs(engine, [_job(1), _job(2), _job(3)])
    assert engine.calls == [[1, 2, 3]] and all(isinstance(p, Image.Image) for p in pictures)

    poisoned = _BatchEngine(poison=2)
    results = paint_jobs(poisoned, [_job(1), _job(2), _job(3)])
    assert poisoned.calls == [[1, 2, 3], [1], [2], [3]]  # the batch, then each job alone
    assert isinstance(results[0], Image.Image) and isinstance(results[2], Image.Image)
    assert isinstance(results[1], RuntimeError)


def test_engines_without_a_batch_call_paint_each_job_with_its_own_seed():
    results = paint_jobs(FakeEngine(), [_job(1), _job(2), _job(1)])
    assert results[0].tobytes() == results[2].tobytes() != results[1].tobytes()


class _Handle:
    """Stands in for a Serve DeploymentHandle: `handle.paint.remote(job).result(timeout_s=...)`."""

    def __init__(self, outcome) -> None:
        self.outcome = outcome
        self.paint = self

    def remote(self, job):
        return self

    def result(self, timeout_s=None):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class ActorDiedError(RuntimeError):
    """Named like Ray's: what `.result()` raises when the replica died mid-request."""


def _request(api: Api, key: str) -> HttpRequest:
    png, mask = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (96, 64), (40, 120, 200)).save(png, "PNG")
    Image.new("L", (96, 64), 255).save(mask, "PNG")
    fields = {
        "prompt": "a wall",
        "image": ("i.png", png.getvalue(), "image/png"),
        "mask": ("m.png", mask.getvalue(), "image/png"),
    }
    body, content_type = encode_multipart_formdata(fields)
    return HttpRequest("POST", "http://fake" + PATHS[api], {"content-type": content_type, AUTH_HEADER[api]: key}, body)


@pytest.mark.parametrize("api", list(Api))
def test_a_replica_that_dies_mid_request_is_a_failure_in_the_apis_shape_and_costs_nothing(api):
    provider = FakeProvider(engine=RemoteEngine(_Handle(ActorDiedError("the actor died unexpectedly")), 5.0))
    provider.add_key("k", 60)
    response = provider.handle(_request(api, "k")).response
    assert response.status == 500
    if api is Api.AITHRIVING:
        envelope = json.loads(response.body)
        assert envelope["code"] == AIT_FAILURE_CODE and envelope["data"] is None and envelope["message"]
    assert provider.ledger.balance("k") == 60


def test_a_replica_that_reports_a_failed_job_is_a_remote_engine_error():
    engine = RemoteEngine(_Handle(Painted(None, "r1", 2, "RuntimeError: CUDA out of memory")), 5.0)
    with pytest.raises(RemoteEngineError, match="r1 failed: RuntimeError: CUDA out of memory"):
        engine.inpaint(_job(1))


def test_answers_name_the_replica_that_painted_them_and_the_ingress_counts_its_jobs():
    picture = FakeEngine().inpaint(_job(1, (96, 64)))
    engine = RemoteEngine(_Handle(Painted(picture, "replica-a", 3)), 5.0)
    provider = FakeProvider(engine=engine)
    provider.add_key("k", 60)
    app = create_app(provider)

    @app.get("/thread-budget")
    async def thread_budget() -> dict:
        return {"tokens": anyio.to_thread.current_default_thread_limiter().total_tokens}

    app.add_middleware(ReplicaHeader, threads=64)
    request = _request(Api.AITHRIVING, "k")
    with serving(app) as server, httpx.Client(base_url=server.url) as client:
        painted = client.post(PATHS[Api.AITHRIVING], content=request.body, headers=dict(request.headers))
        refused = client.post(PATHS[Api.AITHRIVING], headers={"authorization": "k"}, data={"prompt": "x"})
        tokens = client.get("/thread-budget").json()["tokens"]
    assert painted.status_code == 200 and painted.json()["code"] == 0
    assert painted.headers[REPLICA_HEADER] == "replica-a"
    assert REPLICA_HEADER not in refused.headers  # no replica painted a refused request
    assert engine.replicas() == {"replica-a": {"jobs": 1, "in_batches_of_2_or_more": 1}}
    assert tokens >= 64  # every request waits on a replica in a worker thread: room for 64

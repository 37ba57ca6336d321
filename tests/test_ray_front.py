"""The Ray app's front door without Ray: a lost ingress replica costs the caller nothing.

`FrontDoor` runs on a real loopback socket; its "ingress replicas" are this process's
fake apps over one shared store, reached through a stand-in for the Serve handle that
can lose a replica before it answers, or after it charged and before its answer left:
the cases a node's death produces (tests/test_ray_cluster.py kills real nodes).
"""

from __future__ import annotations

import json

import httpx
import pytest
from test_fake_support import parts

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.envelopes import AIT_FAILURE_CODE, AIT_SUCCESS_CODE
from inpaint_conformance.contracts.rules import AUTH_HEADER, CREDITS_PER_SUCCESS, MAX_UPLOAD_BYTES, PATHS
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.provider import FakeProvider
from inpaint_conformance.fakes.server import serving
from inpaint_conformance.fakes.store import open_store
from inpaint_conformance.reference_impl.ray_front import (
    INGRESS_HEADER,
    FrontDoor,
    RequestChargingLedger,
    run_forwarded,
)

KEY = "front-door-key"


class ReplicaLost(Exception):
    """Stands for Ray's RayActorError: the replica's node went away."""


class Replicas:
    """Ingress replicas over one store; `lose` says which calls lose their replica, and when."""

    def __init__(self, db: str, count: int = 2) -> None:
        self.stores = [open_store(db) for _ in range(count)]
        self.apps = []
        for store in self.stores:
            provider = FakeProvider(
                ledger=RequestChargingLedger(store.db), journal=store.journal, faults=store.faults, thumbnails=False
            )
            self.apps.append(create_app(provider))
        self.calls = 0
        self.lose: dict[int, str] = {}  # call number -> "before" (nothing ran) or "after" (it ran and charged)

    async def forward(self, request):
        self.calls += 1
        call = self.calls
        if self.lose.get(call) == "before":
            raise ReplicaLost(f"replica of call {call} died before it started")
        answer = await run_forwarded(self.apps[call % len(self.apps)], request, replica=f"ingress-{call % 2}")
        if self.lose.get(call) == "after":
            raise ReplicaLost(f"replica of call {call} died after it answered")
        return answer

    def balance(self) -> int | None:
        return self.stores[0].ledger.balance(KEY)

    def close(self) -> None:
        for store in self.stores:
            store.close()


@pytest.fixture
def replicas(shared_db):
    ingress = Replicas(shared_db)
    ingress.stores[0].ledger.add_key(KEY, 600)
    yield ingress
    ingress.close()


def _door(replicas: Replicas, *, voids: bool = True, attempts: int = 3) -> FrontDoor:
    void = replicas.stores[0].ledger.void_request if voids else None
    return FrontDoor(replicas.forward, lost=(ReplicaLost,), void=void, timeout_s=30, attempts=attempts)  # type: ignore[attr-defined]


def _post(url: str, api: Api = Api.AITHRIVING, **kw) -> httpx.Response:
    return httpx.post(
        url + PATHS[api], headers={AUTH_HEADER[api]: KEY}, files=parts(), data={"prompt": "x"}, timeout=30, **kw
    )


def test_the_door_replays_the_replicas_answer_and_names_the_ingress(replicas):
    with serving(_door(replicas)) as server:
        answers = [_post(server.url) for _ in range(4)]
        vyro = _post(server.url, Api.VYRO)
        journal = httpx.get(server.url + "/__fake__/journal").json()
    assert [a.json()["code"] for a in answers] == [AIT_SUCCESS_CODE] * 4
    assert {a.headers[INGRESS_HEADER] for a in answers} == {"ingress-0", "ingress-1"}
    assert vyro.status_code == 200 and vyro.content.startswith(b"\x89PNG")
    assert replicas.balance() == 600 - 4 * CREDITS_PER_SUCCESS
    assert len(journal) == 5  # either replica answers for the shared journal


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_lost_replica_is_voided_and_the_request_sent_to_another(replicas, when):
    replicas.lose = {1: when}  # "after": the replica charged 6, then its answer was lost with it
    with serving(_door(replicas)) as server:
        answer = _post(server.url)
    assert answer.status_code == 200 and answer.json()["code"] == AIT_SUCCESS_CODE
    assert replicas.calls == 2
    assert replicas.balance() == 600 - CREDITS_PER_SUCCESS  # charged once: for the answer the caller got


@pytest.mark.parametrize("api", list(Api))
def test_when_every_attempt_is_lost_the_caller_gets_the_apis_failure_and_pays_nothing(replicas, api):
    replicas.lose = {1: "after", 2: "after", 3: "before"}
    with serving(_door(replicas)) as server:
        answer = _post(server.url, api)
    assert replicas.calls == 3 and answer.status_code == 500
    if api is Api.AITHRIVING:
        envelope = answer.json()
        assert envelope["code"] == AIT_FAILURE_CODE and envelope["data"] is None
        assert "nothing was charged" in envelope["message"]
    else:
        assert "nothing was charged" in json.dumps(answer.json())
    assert replicas.balance() == 600


def test_without_a_store_the_door_reaches_it_never_retries(replicas):
    replicas.lose = {1: "before"}
    with serving(_door(replicas, voids=False)) as server:
        answer = _post(server.url)
    assert answer.status_code == 500 and answer.json()["code"] == AIT_FAILURE_CODE
    assert replicas.calls == 1  # a retry could charge twice when the first charge cannot be voided


def test_faults_and_limits_pass_through_the_door(replicas):
    with serving(_door(replicas)) as server:
        assert httpx.post(server.url + "/__fake__/faults", json={"kind": "drop", "count": 1}).status_code == 201
        with pytest.raises(httpx.RemoteProtocolError):  # the drop closes the caller's connection, as without a door
            _post(server.url, Api.VYRO)
        huge = httpx.post(
            server.url + PATHS[Api.VYRO],
            headers={"bearer": KEY},
            files={"image": ("i.png", b"\0" * (MAX_UPLOAD_BYTES + 10))},
            timeout=30,
        )
        assert huge.status_code == 413
        assert httpx.get(server.url + "/nowhere").status_code == 404
    assert replicas.balance() == 600

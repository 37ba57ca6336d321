"""Many machines, simulated: a 3-node Ray cluster on this machine loses a node under load.

`ray.cluster_utils.Cluster` starts one raylet per "node": a head (no CPUs: Serve's
proxy and controller and the app's front door live there) and two workers with 2 CPUs
each. The app runs the fake engine (no model), 2 ingress replicas over one PostgreSQL
store and 2 engine replicas; Serve spreads each pair over the two workers. Then the
worker holding an ingress and an engine replica is removed (its raylet and the replicas'
processes killed at once) while 8 clients keep sending requests, just after a round of
charges (a latency fault holds each answer 0.5 s after its charge, so the lost replica
takes charged, unanswered requests with it). What a user would check:
every request got an answer in the API's documented shape, the ledger is exact against
the successes the clients saw (no failure charged, no success free), and Serve brings
both deployments back to 2 replicas on the surviving node, which then serve.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

pytest.importorskip("ray.serve", reason="needs the 'cluster' extra: pip install 'inpaint-conformance[cluster]'")
httpx = pytest.importorskip("httpx")

from ray_support import documented_shape  # noqa: E402
from test_fake_support import parts  # noqa: E402

from inpaint_conformance.contracts import Api  # noqa: E402
from inpaint_conformance.contracts.rules import AUTH_HEADER, CREDITS_PER_SUCCESS, PATHS  # noqa: E402
from inpaint_conformance.fakes.server import free_port  # noqa: E402
from inpaint_conformance.reference_impl.ray_engine import REPLICA_HEADER  # noqa: E402
from inpaint_conformance.reference_impl.ray_front import INGRESS_HEADER  # noqa: E402
from inpaint_conformance.reference_impl.ray_settings import (  # noqa: E402
    ENGINE_DEPLOYMENT,
    INGRESS_DEPLOYMENT,
    RaySettings,
)

KEY, START = "cluster-key", 1_000_000
CLIENTS = 8
# Node death is noticed after 3 missed 1 s health checks (Ray's default is 5 x 3 s).
FAST_NODE_DEATH = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}


class ClusterApp:
    def __init__(self, base_url: str, cluster, workers: list, db: str) -> None:
        self.base_url, self.cluster, self.workers, self.db = base_url, cluster, workers, db

    def balance(self) -> int:
        return httpx.get(f"{self.base_url}/__fake__/credits", headers={"authorization": KEY}, timeout=30).json()[
            "credits"
        ]


@pytest.fixture(scope="module")
def cluster_app(postgres_server):
    import ray
    from ray.cluster_utils import Cluster

    from inpaint_conformance.reference_impl.ray_runtime import deploy, shutdown

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False, "_system_config": FAST_NODE_DEATH},
    )
    try:
        workers = [cluster.add_node(num_cpus=2) for _ in range(2)]
        cluster.wait_for_nodes()
        db = postgres_server.create_database()
        settings = RaySettings(
            engine="fake",
            replicas=2,
            ingress_replicas=2,
            cpus_per_replica=0.5,
            ingress_cpus=0.5,
            gpus_per_replica=0.0,
            db=db,
            api_keys=[(KEY, START)],
        )
        yield ClusterApp(
            deploy(settings, address=cluster.address, port=free_port(), timeout_s=240), cluster, workers, db
        )
    finally:
        shutdown()
        ray.shutdown()
        cluster.shutdown()


def _post(client, api: Api, seed: int):
    data = {"prompt": "a red brick wall"}
    if api is Api.AITHRIVING:
        data.update(seed=str(seed), output_format="png")
    return client.post(PATHS[api], headers={AUTH_HEADER[api]: KEY}, files=parts(), data=data)


class Load:
    """CLIENTS threads sending both APIs (3 in 4 AIThriving) until stopped; every answer (or transport error) kept."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.answers: list[tuple[Api, httpx.Response]] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._send, args=(n,)) for n in range(CLIENTS)]

    def _send(self, worker: int) -> None:
        api = Api.VYRO if worker % 4 == 3 else Api.AITHRIVING  # mostly the API that charges
        with httpx.Client(base_url=self.base_url, timeout=120) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    answer = _post(client, api, seed=1000 * worker + n)
                except httpx.HTTPError as exc:  # no answer at all: what this test must never see
                    with self.lock:
                        self.errors.append(f"{api.value}: {type(exc).__name__}: {exc}")
                    continue
                with self.lock:
                    self.answers.append((api, answer))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=180)
        assert not any(t.is_alive() for t in self.threads), "a request never got an answer"

    def count(self) -> int:
        with self.lock:
            return len(self.answers)

    def seen(self, header: str) -> set[str]:
        with self.lock:
            return {a.headers[header] for _, a in self.answers if header in a.headers}

    def wait_for(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s ({self.count()} answers)"
            time.sleep(0.05)


def _charged_lately(db: str, seconds: float) -> bool:
    import psycopg

    with psycopg.connect(db) as connection:
        since = time.time() - seconds
        return connection.execute("SELECT count(*) FROM request_charges WHERE at > %s", (since,)).fetchone()[0] > 0


def _voided(db: str) -> tuple[int, int]:
    """Requests the front door voided, and how many of them it had to give credits back for."""
    import psycopg

    with psycopg.connect(db) as connection:
        voided = connection.execute("SELECT count(*) FROM voided_requests").fetchone()[0]
        refunded = connection.execute("SELECT count(*) FROM request_charges WHERE refunded_at IS NOT NULL")
        return voided, refunded.fetchone()[0]


def test_replicas_are_spread_over_the_workers_and_share_one_journal(cluster_app):
    from inpaint_conformance.reference_impl.ray_replicas import replica_nodes

    workers = {node.node_id for node in cluster_app.workers}
    for deployment in (INGRESS_DEPLOYMENT, ENGINE_DEPLOYMENT):
        nodes = replica_nodes(deployment)
        assert len(nodes) == 2 and set(nodes.values()) == workers, (deployment, nodes)  # one per worker
    with httpx.Client(base_url=cluster_app.base_url, timeout=60) as client:
        client.delete("/__fake__/journal")
        answers = [_post(client, Api.VYRO, seed=n) for n in range(12)]
        journal = client.get("/__fake__/journal").json()
    assert [a.status_code for a in answers] == [200] * 12
    assert len({a.headers[INGRESS_HEADER] for a in answers}) == 2  # both ingress replicas answered...
    assert len(journal) == 12  # ...and either one reads the whole journal


def test_losing_a_node_mid_load_answers_everyone_and_loses_no_credit(cluster_app):
    from inpaint_conformance.reference_impl.ray_replicas import (
        replica_load,
        replica_nodes,
        replica_pids,
        wait_replicas,
    )

    ingress_at, engine_at = replica_nodes(INGRESS_DEPLOYMENT), replica_nodes(ENGINE_DEPLOYMENT)
    victim = next(
        node
        for node in cluster_app.workers
        if node.node_id in ingress_at.values() and node.node_id in engine_at.values()
    )
    lost_ingress = [r for r, n in ingress_at.items() if n == victim.node_id]
    lost_engine = [r for r, n in engine_at.items() if n == victim.node_id]
    doomed = [
        pid
        for deployment, lost in ((INGRESS_DEPLOYMENT, lost_ingress), (ENGINE_DEPLOYMENT, lost_engine))
        for pid in replica_pids(deployment, lost)
    ]
    start_balance = cluster_app.balance()
    voided_before, refunded_before = _voided(cluster_app.db)
    # Every answer waits 3 s after its charge (a latency fault kept on: count None, since a transport
    # fault fires once by default), longer than the engine's work even on a loaded machine, so most
    # requests an ingress replica holds are charged and not yet answered. The kill comes while the
    # doomed replica holds some, just after a charge: the case the front door must give back.
    delay = httpx.post(
        f"{cluster_app.base_url}/__fake__/faults", json={"kind": "latency", "seconds": 3.0, "count": None}
    )
    assert delay.status_code == 201, delay.text

    with Load(cluster_app.base_url) as load:
        load.wait_for(lambda: len(load.seen(INGRESS_HEADER)) == 2 and load.count() >= 16, 60, "both ingress replicas")
        # Kill while the doomed ingress replica holds requests, just after charges were made.
        busy = time.monotonic() + 15
        while time.monotonic() < busy and not (
            (replica_load(INGRESS_DEPLOYMENT, lost_ingress[0]) or 0) >= 2 and _charged_lately(cluster_app.db, 1.0)
        ):
            time.sleep(0.01)
        held = replica_load(INGRESS_DEPLOYMENT, lost_ingress[0]) or 0
        killed_at = load.count()
        # A node that loses power takes its processes with it at once: the replicas' processes are
        # killed with the raylet (which alone would leave them running until they notice it is gone).
        for pid in doomed:
            os.kill(pid, signal.SIGKILL)
        cluster_app.cluster.remove_node(victim, allow_graceful=False)
        killed = time.monotonic()
        # Keep the load on through the node's detection and the replicas' replacement.
        load.wait_for(lambda: load.count() >= killed_at + 40 and time.monotonic() - killed > 8, 120, "answers after")

    httpx.delete(f"{cluster_app.base_url}/__fake__/faults")
    assert load.errors == [], load.errors[:5]
    shapes = [(api, documented_shape(api, answer)) for api, answer in load.answers]
    ait_successes = sum(1 for api, shape in shapes if api is Api.AITHRIVING and shape == "success")
    failures = sum(1 for _, shape in shapes if shape == "failure")
    voided_after, refunded_after = _voided(cluster_app.db)
    voided, refunded = voided_after - voided_before, refunded_after - refunded_before
    print(
        f"node loss: {len(shapes)} answers ({killed_at} before the kill), {failures} failures in the API's shape, "
        f"{held} request(s) held by the lost ingress replica, {voided} voided and sent again "
        f"({refunded} of them charged before the answer was lost, and given back)"
    )
    # Exact: each success the clients saw cost 6, nothing else cost anything.
    assert start_balance - cluster_app.balance() == CREDITS_PER_SUCCESS * ait_successes
    assert held >= 1 and voided >= 1, "the kill caught no request in flight: this run proved nothing"
    # Whether a voided request had been charged yet depends on where the kill caught it (charged
    # and waiting, or still at the engine): both must end exact, as asserted above. The charged case
    # is driven deterministically in tests/test_ray_front.py (a replica lost after it charged).

    # Serve replaces both lost replicas (on the surviving worker); they then answer.
    wait_replicas(INGRESS_DEPLOYMENT, 2, timeout_s=120, replaced=lost_ingress)
    wait_replicas(ENGINE_DEPLOYMENT, 2, timeout_s=120, replaced=lost_engine)
    before = cluster_app.balance()
    with httpx.Client(base_url=cluster_app.base_url, timeout=60) as client:
        answers = [_post(client, Api.AITHRIVING, seed=90_000 + n) for n in range(16)]
    assert [documented_shape(Api.AITHRIVING, a) for a in answers] == ["success"] * 16
    assert before - cluster_app.balance() == 16 * CREDITS_PER_SUCCESS
    assert {a.headers[REPLICA_HEADER] for a in answers}.isdisjoint(lost_engine)

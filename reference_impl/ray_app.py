"""The reference implementation as a Ray Serve application: a front door, N ingress replicas, M engine replicas.

- `InpaintFront` (one replica, on the head node) is what Serve's proxy calls: it forwards
  each request to an ingress replica and, if that replica is lost, voids the request's
  charge and sends it to another (reference_impl.ray_front explains why and how).
- `InpaintIngress` (`ingress_replicas`, spread over nodes) runs the same HTTP layer as
  `serve`: `inpaint_conformance.fakes.app.create_app` over a `FakeProvider` (validation,
  ledger, journal, faults, encoding) over the store named by `db` (fakes.store). More
  than one needs the PostgreSQL store, which they all share. Its engine is a
  `RemoteEngine`: each request's job goes to the engine deployment, and credits are
  charged only after a replica answered, so a replica that dies mid-request costs the
  caller nothing (the layer answers 500 in the API's own failure shape).
- `InpaintEngine` (N replicas, one GPU each where the cluster has GPUs, spread over
  nodes) loads the model once per replica and paints `@serve.batch` batches: up to
  `max_batch` jobs of one size in one pipeline call, each job with its own seed, so a
  picture does not depend on its batch mates or on which replica painted it.

`build_app(args)` is the application builder for both `serve.run` (the `serve --ray`
command, the tests) and `serve deploy` (the YAML `ray-config` prints).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ray import serve
from ray.serve import Application

from .ray_engine import Painted, RemoteEngine, ReplicaHeader, build_engine, paint_jobs
from .ray_front import ForwardedAnswer, ForwardedRequest, FrontDoor, RequestChargingLedger, run_forwarded
from .ray_options import ADMIN_TOKEN_ENV, engine_options, front_options, gpus_per_replica, ingress_options
from .ray_settings import ENGINE_DEPLOYMENT, FRONT_DEPLOYMENT, INGRESS_DEPLOYMENT, RaySettings

# Connections each replica may hold to a PostgreSQL store (a request holds one for a few ms at a time).
STORE_CONNECTIONS = 10


def _replica_id() -> str:
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:
        return f"pid-{os.getpid()}"


class InpaintEngineReplica:
    """One engine replica: the model, loaded once, painting Serve's batches."""

    def __init__(self, args: dict) -> None:
        settings = RaySettings.from_args(args)
        self.engine = build_engine(settings)
        self.replica = _replica_id()
        # The decorator's defaults are placeholders; the settings decide. (serve.batch's
        # wrapper has these setters; its annotation only says it is a callable.)
        self.paint.set_max_batch_size(settings.max_batch)  # type: ignore[attr-defined, unused-ignore]
        self.paint.set_batch_wait_timeout_s(settings.batch_wait_s)  # type: ignore[attr-defined, unused-ignore]

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.05)
    async def paint(self, jobs: list) -> list[Painted]:
        # The model runs off the event loop, so health checks and new requests still get in.
        results = await asyncio.to_thread(paint_jobs, self.engine, jobs)
        return [
            Painted(None, self.replica, len(jobs), f"{type(r).__name__}: {r}")
            if isinstance(r, Exception)
            else Painted(r, self.replica, len(jobs))
            for r in results
        ]

    def __del__(self) -> None:
        close = getattr(getattr(self, "engine", None), "close", None)
        if close is not None:
            close()


class _ThisReplicasApp:
    """The ASGI app Serve is given: it forwards to the front door this replica built at start.

    `serve.ingress` takes its app when the class is defined, but the door's state (the
    ingress handle, the store) exists only once a replica starts. One front door runs
    per replica process, so a module-level slot holds that replica's app. (Newer Ray
    has builder hooks for this; this way works on every Ray the `cluster` extra allows.)
    """

    app: Any = None

    async def __call__(self, scope, receive, send) -> None:
        if _ThisReplicasApp.app is None:
            raise RuntimeError("the front door replica has not finished starting")
        await _ThisReplicasApp.app(scope, receive, send)


def _install_replica_app(app: Any) -> None:
    # A module function, so it reaches the module's class even from a deployment class
    # that Serve ships to the replica by value (with a copy of its globals).
    _ThisReplicasApp.app = app


class InpaintIngressReplica:
    """The shared HTTP layer of `serve`, with a remote engine; the front door forwards requests here."""

    def __init__(self, engine_handle: Any, args: dict) -> None:
        from inpaint_conformance.fakes.app import create_app
        from inpaint_conformance.fakes.ledger import DEFAULT_CREDITS
        from inpaint_conformance.fakes.provider import FakeProvider
        from inpaint_conformance.fakes.store import open_store

        settings = RaySettings.from_args(args)
        self.engine = engine = RemoteEngine(engine_handle, settings.engine_timeout_s)
        self.store = store = open_store(settings.db, max_connections=STORE_CONNECTIONS)
        if settings.run:
            store.start_run(settings.run)  # the first replica of a new run clears journal and faults
        # On a store the front door reaches, charges are kept by request so the door can void them.
        ledger = RequestChargingLedger(store.db) if store.spans_nodes and store.db else store.ledger
        self.provider = FakeProvider(
            engine=engine,
            ledger=ledger,
            journal=store.journal,
            faults=store.faults,
            ait_failure_status=settings.ait_failure_status,
        )
        for key, credits in settings.api_keys:  # an existing key keeps its balance: every replica may add it
            self.provider.add_key(key, DEFAULT_CREDITS if credits is None else credits)
        admin_token = settings.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None
        app = create_app(self.provider, admin_token=admin_token, loopback_only=settings.loopback_only)

        @app.get("/__ray__/replicas")
        def replicas() -> dict:
            """Jobs each engine replica painted for this ingress replica (no secrets: counts only)."""
            return {"replicas": engine.replicas()}

        # Every request waits on a replica in a worker thread: allow enough of them.
        threads = max(40, 2 * settings.max_batch * settings.most_replicas + 8)
        app.add_middleware(ReplicaHeader, threads=threads)
        self.app = app
        self.replica = _replica_id()

    async def handle_http(self, request: ForwardedRequest) -> ForwardedAnswer:
        return await run_forwarded(self.app, request, self.replica)


class InpaintFrontReplica:
    """The front door (reference_impl.ray_front): forwards to ingress replicas, voids what a lost one charged."""

    def __init__(self, ingress_handle: Any, args: dict) -> None:
        from ray.exceptions import RayActorError

        from inpaint_conformance.fakes.sql_database import is_postgres_url

        settings = RaySettings.from_args(args)
        void = None
        if is_postgres_url(settings.db):  # a store this node reaches too: the door can void charges
            from inpaint_conformance.fakes.ledger import SqlLedger
            from inpaint_conformance.fakes.sql_database import PostgresDatabase

            void = SqlLedger(PostgresDatabase(str(settings.db), max_connections=4)).void_request

        async def forward(request: ForwardedRequest) -> ForwardedAnswer:
            return await ingress_handle.handle_http.remote(request)

        # An answer may wait for an engine replica up to engine_timeout_s; the door waits a little longer.
        door = FrontDoor(forward, lost=(RayActorError,), void=void, timeout_s=settings.engine_timeout_s + 60)
        _install_replica_app(door)


# Deployments made by calling Serve's decorators (the same thing as decorating the classes,
# and type checkers see the Deployment objects they return).
InpaintEngineDeployment = serve.deployment(name=ENGINE_DEPLOYMENT)(InpaintEngineReplica)
InpaintIngress = serve.deployment(name=INGRESS_DEPLOYMENT)(InpaintIngressReplica)
InpaintFront = serve.deployment(name=FRONT_DEPLOYMENT)(serve.ingress(_ThisReplicasApp())(InpaintFrontReplica))


def build_app(args: dict | None = None) -> Application:
    """Serve application builder: `serve.run(build_app(settings.to_args()))` or a YAML import_path."""
    settings = RaySettings.from_args(args)
    engine = InpaintEngineDeployment.options(**engine_options(settings, gpus_per_replica(settings)))
    ingress = InpaintIngress.options(**ingress_options(settings))
    front = InpaintFront.options(**front_options(settings))
    return front.bind(ingress.bind(engine.bind(settings.to_args()), settings.to_args()), settings.to_args())

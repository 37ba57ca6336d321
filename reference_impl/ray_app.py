"""The reference implementation as a Ray Serve application: one ingress, N engine replicas.

- `InpaintIngress` (one replica) runs the same HTTP layer as `serve`: `inpaint_conformance.fakes.app.create_app`
  over a `FakeProvider` (validation, ledger, journal, faults, encoding). Its engine is a
  `RemoteEngine`: each request's job goes to the engine deployment, and credits are
  charged only after a replica answered, so a replica that dies mid-request costs the
  caller nothing (the layer answers 500 in the API's own failure shape).
- `InpaintEngine` (N replicas, one GPU each where the cluster has GPUs) loads the model
  once per replica and paints `@serve.batch` batches: up to `max_batch` jobs of one size
  in one pipeline call, each job with its own seed, so a picture does not depend on
  its batch mates or on which replica painted it.

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
from .ray_options import ADMIN_TOKEN_ENV, engine_options, gpus_per_replica, ingress_options
from .ray_settings import ENGINE_DEPLOYMENT, INGRESS_DEPLOYMENT, RaySettings


def _replica_id() -> str:
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:
        return f"pid-{os.getpid()}"


@serve.deployment(name=ENGINE_DEPLOYMENT)
class InpaintEngineDeployment:
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
    """The ASGI app Serve is given: it forwards to the app this replica built at start.

    `serve.ingress` takes its app when the class is defined, but the HTTP layer's state
    (ledger, journal, the engine handle) exists only once a replica starts. One ingress
    runs per replica process, so a module-level slot holds that replica's app. (Newer Ray
    has builder hooks for this; this way works on every Ray the `cluster` extra allows.)
    """

    app: Any = None

    async def __call__(self, scope, receive, send) -> None:
        if _ThisReplicasApp.app is None:
            raise RuntimeError("the ingress replica has not finished starting")
        await _ThisReplicasApp.app(scope, receive, send)


def _install_replica_app(app: Any) -> None:
    # A module function, so it reaches the module's class even from the deployment
    # class, which Serve ships to the replica by value (with a copy of its globals).
    _ThisReplicasApp.app = app


@serve.deployment(name=INGRESS_DEPLOYMENT)
@serve.ingress(_ThisReplicasApp())
class InpaintIngress:
    """The shared HTTP layer of `serve`, with a remote engine."""

    def __init__(self, engine_handle: Any, args: dict) -> None:
        from inpaint_conformance.fakes.app import create_app
        from inpaint_conformance.fakes.ledger import DEFAULT_CREDITS, MemoryLedger, SqliteLedger
        from inpaint_conformance.fakes.provider import FakeProvider

        settings = RaySettings.from_args(args)
        self.engine = engine = RemoteEngine(engine_handle, settings.engine_timeout_s)
        ledger = SqliteLedger(settings.db) if settings.db else MemoryLedger()
        self.provider = FakeProvider(engine=engine, ledger=ledger, ait_failure_status=settings.ait_failure_status)
        for key, credits in settings.api_keys:
            self.provider.add_key(key, DEFAULT_CREDITS if credits is None else credits)
        admin_token = settings.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None
        app = create_app(self.provider, admin_token=admin_token, loopback_only=settings.loopback_only)

        @app.get("/__ray__/replicas")
        def replicas() -> dict:
            """Jobs each engine replica painted for this ingress (no secrets: counts only)."""
            return {"replicas": engine.replicas()}

        # Every request waits on a replica in a worker thread: allow enough of them.
        threads = max(40, 2 * settings.max_batch * settings.most_replicas + 8)
        app.add_middleware(ReplicaHeader, threads=threads)
        _install_replica_app(app)


def build_app(args: dict | None = None) -> Application:
    """Serve application builder: `serve.run(build_app(settings.to_args()))` or a YAML import_path."""
    settings = RaySettings.from_args(args)
    # serve.deployment makes each class a Deployment; ray's annotation keeps the class type.
    engine = InpaintEngineDeployment.options(**engine_options(settings, gpus_per_replica(settings)))  # type: ignore[attr-defined, unused-ignore]
    ingress = InpaintIngress.options(**ingress_options(settings))  # type: ignore[attr-defined, unused-ignore]
    return ingress.bind(engine.bind(settings.to_args()), settings.to_args())

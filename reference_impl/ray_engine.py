"""The engine side of the Ray Serve app: what one engine replica runs, and the ingress's view of it.

`paint_jobs` turns one `@serve.batch` batch into pictures: jobs of one working size go
through the engine together (Serve is THE batcher here), each job keeps its own seed.
`RemoteEngine` is the fakes' `Engine` seam over a Serve deployment handle: the shared
HTTP layer calls `inpaint(job)` from a worker thread exactly as it calls a local engine,
so validation, ledger, journal and faults are the same code as `serve`, and a replica
that dies mid-request is an engine exception: a 500 failure, nothing charged.
Nothing here imports Ray at module level: the ingress and the tests import it cheaply.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PIL import Image

from inpaint_conformance.fakes.engine import InpaintJob

from .ray_settings import RaySettings

log = logging.getLogger("inpaint_conformance.ray")

REPLICA_HEADER = "x-inpaint-replica"  # extra headers are free (B6); says which replica painted


@dataclass(frozen=True)
class Painted:
    """One job's answer from a replica: a picture, or the reason it has none."""

    image: Image.Image | None
    replica: str
    batch_size: int
    error: str | None = None


class RemoteEngineError(RuntimeError):
    """The engine replica could not paint this job (it raised, died or timed out)."""


def build_engine(settings: RaySettings) -> Any:
    """The engine one replica runs, loaded once per replica."""
    if settings.engine == "fake":
        from inpaint_conformance.fakes.engine import FakeEngine

        return FakeEngine()
    from inpaint_conformance.reference_impl import load_engine

    return load_engine(
        settings.model,
        device=settings.device,
        dtype=settings.dtype,
        steps=settings.steps,
        max_batch=settings.max_batch,
        compile=settings.compile,
        progress=True,
    )


def paint_jobs(engine: Any, jobs: Sequence[InpaintJob]) -> list[Image.Image | Exception]:
    """Paint one Serve batch; one picture or one exception per job, in order.

    With a batch call (`engine.inpaint_batch(jobs)`), the engine paints jobs that share
    a working size and step count in one pipeline call; if the call fails as a whole,
    each job is retried alone so one bad request cannot fail its batch mates.
    """
    batch = getattr(engine, "inpaint_batch", None)
    if batch is None:
        return _paint_each(engine, jobs)
    try:
        return list(batch(list(jobs)))
    except Exception as error:
        if len(jobs) == 1:
            return [error]
        log.warning("a batch of %d failed (%r); painting each job alone", len(jobs), error)
        out: list[Image.Image | Exception] = []
        for job in jobs:
            try:
                out.append(batch([job])[0])
            except Exception as alone:
                out.append(alone)
        return out


def _paint_each(engine: Any, jobs: Sequence[InpaintJob]) -> list[Image.Image | Exception]:
    """Engines without a batch call: submit the jobs at once from threads.

    The reference engine's own micro-batcher then paints same-size jobs together, and
    the fake engine paints each (it is cheap). Each job's failure is its own.
    """
    if len(jobs) == 1:
        try:
            return [engine.inpaint(jobs[0])]
        except Exception as error:
            return [error]
    with ThreadPoolExecutor(len(jobs), thread_name_prefix="ray-engine-job") as pool:
        futures = [pool.submit(engine.inpaint, job) for job in jobs]
    out: list[Image.Image | Exception] = []
    for future in futures:
        failure = future.exception()
        # A job's Exception is its own answer; anything graver (SystemExit...) is raised by result().
        out.append(failure if isinstance(failure, Exception) else future.result())
    return out


# -- the ingress's side ------------------------------------------------------------------
# The door sets a fresh dict per request; the worker thread that runs the provider sees
# the same dict (anyio copies the context into it) and notes which replica painted.
_painted_by: contextvars.ContextVar[dict | None] = contextvars.ContextVar("painted_by", default=None)


class RemoteEngine:
    """The `Engine` seam over the engine deployment's handle (sync: called from worker threads)."""

    name = "ray"

    def __init__(self, handle: Any, timeout_s: float) -> None:
        self.handle = handle
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._replicas: dict[str, dict[str, int]] = {}

    def inpaint(self, job: InpaintJob) -> Image.Image:
        try:
            painted: Painted = self.handle.paint.remote(job).result(timeout_s=self.timeout_s)
        except Exception as error:  # a dead replica, a timeout: the layer answers 500, uncharged
            raise RemoteEngineError(f"engine replica failed: {type(error).__name__}: {error}") from error
        if painted.error is not None or painted.image is None:
            raise RemoteEngineError(f"engine replica {painted.replica} failed: {painted.error}")
        note = _painted_by.get()
        if note is not None:
            note["replica"] = painted.replica
        with self._lock:
            counts = self._replicas.setdefault(painted.replica, {"jobs": 0, "in_batches_of_2_or_more": 0})
            counts["jobs"] += 1
            counts["in_batches_of_2_or_more"] += painted.batch_size > 1
        return painted.image

    def replicas(self) -> dict[str, dict[str, int]]:
        """Jobs each replica painted since this ingress started, and how many shared a batch."""
        with self._lock:
            return {replica: dict(counts) for replica, counts in self._replicas.items()}

    def close(self) -> None:
        return None


class ReplicaHeader:
    """ASGI middleware: adds `x-inpaint-replica` to answers an engine replica painted.

    It also raises the worker-thread budget of the loop it runs on (once): every request
    holds a thread while it waits for a replica, and anyio's default is 40.
    """

    def __init__(self, app: Any, threads: int = 40) -> None:
        self.app = app
        self.threads = threads
        self._sized = False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._sized:
            import anyio.to_thread

            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = max(limiter.total_tokens, self.threads)
            self._sized = True
        note: dict = {}
        token = _painted_by.set(note)

        async def send_with_replica(message) -> None:
            if message["type"] == "http.response.start" and "replica" in note:
                headers = list(message.get("headers", [])) + [(REPLICA_HEADER.encode(), note["replica"].encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_replica)
        finally:
            _painted_by.reset(token)

"""Micro-batching: many caller threads, one worker thread that owns the model.

Callers block in ``submit()``; a single background thread gathers requests that can share
one model call (same key: working size and steps) into a batch of at most ``max_batch``,
runs it, and hands each caller its own result. Only the worker thread ever touches the
model, so the model needs no locking, the HTTP event loop never runs it, and GPU memory is
bounded by ``max_batch``, not by the number of concurrent requests.

This module knows nothing about diffusers; the engine passes a ``run_batch`` callable.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

log = logging.getLogger(__name__)


class _Stop(enum.Enum):
    """The sentinel close() queues; everything queued before it is seen first."""

    TOKEN = enum.auto()


_STOP = _Stop.TOKEN


class EngineClosedError(RuntimeError):
    """A request arrived after close(), or was still queued when close() ran."""


@dataclass
class _Pending(Generic[Item, Result]):
    item: Item
    key: Hashable
    future: Future = field(default_factory=Future)


@dataclass
class BatchStats:
    """Counters the bench and the tests read; updated by the worker thread only."""

    batches: int = 0
    requests: int = 0
    largest_batch: int = 0
    retried_alone: int = 0


class MicroBatcher(Generic[Item, Result]):
    """Collects concurrent ``submit()`` calls with equal keys into one ``run_batch`` call.

    ``run_batch(items)`` must return one result per item, in order. If it raises for a
    batch of several, each item is retried alone so one bad request cannot fail its
    batch mates (and a GPU out-of-memory error gets a smaller second chance).

    ``wait_s`` is how long the worker waits for batch mates once it has a request. It
    waits only when company is likely: the previous batch had mates, requests are
    queued, or one arrived while the previous batch ran (two clients taking turns would
    otherwise never meet). A lone sequential caller never pays the wait.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Item]], Sequence[Result]],
        *,
        key: Callable[[Item], Hashable],
        max_batch: int = 4,
        wait_s: float = 0.005,
        name: str = "micro-batcher",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if wait_s < 0:
            raise ValueError(f"wait_s must be >= 0 seconds, got {wait_s}")
        self._run_batch = run_batch
        self._key = key
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue[_Pending | _Stop] = queue.SimpleQueue()
        # Guards the closed flag *and* the put, so no request can land behind the sentinel.
        self._submit_lock = threading.Lock()
        self._closed = False
        self._last_batch_size = 1
        self._arrived_during_last_run = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    # -- caller side -------------------------------------------------------------------

    def submit(self, item: Item) -> Result:
        """Queue ``item`` and block until the worker has run it; re-raises its error."""
        return self.submit_many([item])[0].result()

    def submit_many(self, items: Sequence[Item]) -> list[Future]:
        """Queue ``items`` together (so they can share batches) and return their futures at once."""
        pendings: list[_Pending[Item, Result]] = [_Pending(item, self._key(item)) for item in items]
        with self._submit_lock:
            if self._closed:
                raise EngineClosedError("the engine is closed; create a new one to paint more requests")
            if not self._thread.is_alive():
                raise RuntimeError("the engine's worker thread has died; see the log for its error and restart")
            for pending in pendings:
                self._queue.put(pending)
        return [pending.future for pending in pendings]

    def close(self, timeout: float | None = 60.0) -> None:
        """Finish the batch being painted, fail the queued ones, stop the worker. Idempotent."""
        with self._submit_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # -- worker side -------------------------------------------------------------------

    def _work(self) -> None:
        backlog: deque[_Pending] = deque()  # queued requests that did not fit the last batch
        stopping = False
        while not stopping:
            if not backlog:
                first = self._queue.get()
                if first is _STOP:
                    break
                backlog.append(first)
            batch, stopping = self._gather(backlog)
            self._run(batch)
        self._fail_leftovers(backlog)

    def _gather(self, backlog: deque[_Pending]) -> tuple[list[_Pending], bool]:
        """Take the oldest request and as many same-key mates as fit; (batch, stop seen)."""
        first = backlog.popleft()
        batch = [first]
        for other in list(backlog):  # oldest first, so no key starves behind another
            if len(batch) == self.max_batch:
                break
            if other.key == first.key:
                backlog.remove(other)
                batch.append(other)

        def take(pending: _Pending | _Stop) -> bool:
            """File one queued object into the batch or the backlog; True on the sentinel."""
            if pending is _STOP:
                return True
            if pending.key == first.key and len(batch) < self.max_batch:
                batch.append(pending)
            else:
                backlog.append(pending)
            return False

        # What is already queued joins at no cost.
        while len(batch) < self.max_batch:
            try:
                if take(self._queue.get_nowait()):
                    return batch, True
            except queue.Empty:
                break
        # Waiting costs latency, so wait only when company is likely.
        company_likely = self._last_batch_size > 1 or self._arrived_during_last_run or len(batch) > 1 or bool(backlog)
        if self.max_batch > 1 and self.wait_s > 0 and company_likely:
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    if take(self._queue.get(timeout=remaining)):
                        return batch, True
                except queue.Empty:
                    break
        return batch, False

    def _run(self, batch: list[_Pending]) -> None:
        self._last_batch_size = len(batch)
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        try:
            results = self._run_batch([pending.item for pending in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"run_batch returned {len(results)} results for {len(batch)} requests")
        except BaseException as error:
            self._arrived_during_last_run = not self._queue.empty()
            if len(batch) == 1:
                batch[0].future.set_exception(error)
                return
            log.warning("a batch of %d failed (%r); retrying each request alone", len(batch), error)
            for pending in batch:
                self.stats.retried_alone += 1
                self._run_alone(pending)
            return
        # Looked at before any caller hears back, so a lone caller's next request cannot
        # be mistaken for company that arrived during the run.
        self._arrived_during_last_run = not self._queue.empty()
        for pending, result in zip(batch, results, strict=True):
            pending.future.set_result(result)

    def _run_alone(self, pending: _Pending) -> None:
        try:
            pending.future.set_result(self._run_batch([pending.item])[0])
        except BaseException as error:
            pending.future.set_exception(error)

    def _fail_leftovers(self, backlog: deque[_Pending]) -> None:
        leftovers = list(backlog)
        while True:
            try:
                pending = self._queue.get_nowait()
            except queue.Empty:
                break
            if pending is not _STOP:
                leftovers.append(pending)
        for pending in leftovers:
            pending.future.set_exception(EngineClosedError("the engine was closed before this request was painted"))

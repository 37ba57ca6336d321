"""The fake as an app factory uvicorn workers import: `inpaint_conformance.fakes.app_factory:create_app_from_env`.

`serve --workers N` runs N processes; each builds its own app from the environment
variables below, which `serve` sets before starting them. They share one store
(fakes.store: a SQLite file or a PostgreSQL database), so the ledger, the journal
and the faults are the same whichever worker takes a request, and the inspection
API and dashboard answer for all of them.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from .app import create_app
from .memory_budget import MemoryBudget
from .provider import FakeProvider
from .store import open_store

ENV_DB = "INPAINT_FAKE_DB"
ENV_RUN = "INPAINT_FAKE_RUN"
ENV_ADMIN_TOKEN = "INPAINT_FAKE_ADMIN_TOKEN"
ENV_LOOPBACK = "INPAINT_FAKE_LOOPBACK"
ENV_AIT_FAILURE_STATUS = "INPAINT_FAKE_AIT_FAILURE_STATUS"
ENV_MEMORY_BUDGET = "INPAINT_FAKE_MEMORY_BUDGET"  # bytes, this worker's share of `serve --memory-budget`
ENV_MEMORY_WAIT = "INPAINT_FAKE_MEMORY_WAIT"
# Connections each worker may hold to a PostgreSQL store (a request uses one for a few ms at a time).
WORKER_CONNECTIONS = 8


def settings_env(
    *,
    db: str,
    admin_token: str | None,
    loopback: bool,
    ait_failure_status: int,
    run: str = "",
    memory_budget: MemoryBudget | None = None,
) -> dict[str, str]:
    """The environment `create_app_from_env` reads, for the process that starts the workers.

    ``memory_budget``: each worker's own (the caller divides the whole among the workers,
    so N processes together stay within what the user asked for).
    """
    env = {
        ENV_DB: db,
        ENV_RUN: run,
        ENV_LOOPBACK: "1" if loopback else "0",
        ENV_AIT_FAILURE_STATUS: str(ait_failure_status),
    }
    if memory_budget is not None:
        env[ENV_MEMORY_BUDGET], env[ENV_MEMORY_WAIT] = str(memory_budget.limit), str(memory_budget.max_wait)
    if admin_token:
        env[ENV_ADMIN_TOKEN] = admin_token
    return env


def create_app_from_env() -> FastAPI:
    """One worker's app: the fake engine over the shared store named in the environment."""
    db = os.environ.get(ENV_DB)
    if not db:
        raise RuntimeError(
            f"{ENV_DB} is not set: start workers with `inpaint-conformance serve --workers N --db PATH_OR_URL`"
        )
    store = open_store(db, max_connections=WORKER_CONNECTIONS)
    if os.environ.get(ENV_RUN):
        store.start_run(os.environ[ENV_RUN])  # the parent started the run; a no-op unless it did not
    provider = FakeProvider(
        ledger=store.ledger,
        journal=store.journal,
        faults=store.faults,
        ait_failure_status=int(os.environ.get(ENV_AIT_FAILURE_STATUS, "200")),
        memory_budget=_memory_budget_from_env(),
    )
    app = create_app(
        provider, admin_token=os.environ.get(ENV_ADMIN_TOKEN) or None, loopback_only=os.environ.get(ENV_LOOPBACK) == "1"
    )
    app.state.store = store
    return app


def _memory_budget_from_env() -> MemoryBudget | None:
    if not os.environ.get(ENV_MEMORY_BUDGET):
        return None
    return MemoryBudget(int(os.environ[ENV_MEMORY_BUDGET]), float(os.environ.get(ENV_MEMORY_WAIT, "30")))

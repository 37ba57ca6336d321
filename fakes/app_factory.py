"""The fake as an app factory uvicorn workers import: `inpaint_conformance.fakes.app_factory:create_app_from_env`.

`serve --workers N` runs N processes; each builds its own app from the environment
variables below, which `serve` sets before starting them. They share the SQLite
ledger (so credits are exact across workers); each keeps its own journal and
faults, so the inspection API refuses those calls rather than answer from one
worker at random (see fakes.inspection).
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from .app import create_app
from .ledger import SqliteLedger
from .provider import FakeProvider

ENV_DB = "INPAINT_FAKE_DB"
ENV_ADMIN_TOKEN = "INPAINT_FAKE_ADMIN_TOKEN"
ENV_LOOPBACK = "INPAINT_FAKE_LOOPBACK"
ENV_AIT_FAILURE_STATUS = "INPAINT_FAKE_AIT_FAILURE_STATUS"


def settings_env(*, db: str, admin_token: str | None, loopback: bool, ait_failure_status: int) -> dict[str, str]:
    """The environment `create_app_from_env` reads, for the process that starts the workers."""
    env = {ENV_DB: db, ENV_LOOPBACK: "1" if loopback else "0", ENV_AIT_FAILURE_STATUS: str(ait_failure_status)}
    if admin_token:
        env[ENV_ADMIN_TOKEN] = admin_token
    return env


def create_app_from_env() -> FastAPI:
    """One worker's app: the fake engine over the shared SQLite ledger named in the environment."""
    db = os.environ.get(ENV_DB)
    if not db:
        raise RuntimeError(f"{ENV_DB} is not set: start workers with `inpaint-conformance serve --workers N --db PATH`")
    provider = FakeProvider(
        ledger=SqliteLedger(db), ait_failure_status=int(os.environ.get(ENV_AIT_FAILURE_STATUS, "200"))
    )
    app = create_app(
        provider, admin_token=os.environ.get(ENV_ADMIN_TOKEN) or None, loopback_only=os.environ.get(ENV_LOOPBACK) == "1"
    )
    app.state.multi_process = True
    return app

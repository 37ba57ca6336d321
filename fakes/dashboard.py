"""The fake's dashboard at GET /__fake__/: watch a client hit the fake, live.

One HTML page (Jinja2 template, inline CSS and vanilla JS, nothing fetched from
elsewhere) that polls `GET /__fake__/dashboard/state?since=ID` once a second and
shows the request journal newest first: API, time, redacted key, the client's
verdict per clause, credits before and after, thumbnails of image, mask and
output; the balances per key; the active faults and deviations, with buttons that
call the inspection API's DELETE endpoints. Polling rather than a held-open event
stream: nothing to cancel when the server stops, and every proxy passes it.

Access follows the rest of /__fake__/: `install_inspection` passes its guards (the
loopback-or-admin-token rule). Under `--workers N` or Ray ingress replicas the page
shows every process's requests: they share one store (fakes.store).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.params import Depends
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from .control import FakeControl
from .faults import DEVIATIONS
from .provider import FakeProvider

TEMPLATES = Path(__file__).parent / "templates"
POLL_SECONDS = 1.0
# Entries one answer carries at most: the journal keeps 1000 with thumbnails (tens of
# MB); the page shows the newest and says how many older ones it left out.
MAX_ENTRIES = 100


def install_dashboard(app: FastAPI, provider: FakeProvider, guards: Sequence[Depends] = ()) -> None:
    """Add GET {prefix}/ (the page) and GET {prefix}/dashboard/state (what it polls).

    ``guards``: FastAPI dependencies every route of /__fake__/ has (its access rule).
    """
    from .inspection import PREFIX  # here, not at the top: inspection installs the dashboard

    control = FakeControl(provider)
    page = _page(PREFIX)

    @app.get(f"{PREFIX}/", dependencies=list(guards), response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        # no-store: a page served from cache would show a journal frozen at that moment.
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    @app.get(f"{PREFIX}/dashboard/state", dependencies=list(guards), include_in_schema=False)
    def state(since: str = "0") -> dict:
        if not since.isdigit():
            raise HTTPException(400, f"since must be a journal entry id (a whole number >= 0), got {since!r}")
        return dashboard_state(control, int(since))


def dashboard_state(control: FakeControl, since: int = 0) -> dict:
    """What the page shows: journal entries after ``since`` (newest last), balances, faults."""
    everything = control.journal()
    entries = [e for e in everything if e["id"] > since]
    newest = entries[-MAX_ENTRIES:]
    faults = [{**fault, "deviation": fault["kind"] in DEVIATIONS} for fault in control.faults()]
    return {
        "entries": newest,
        "left_out": len(entries) - len(newest),
        # Rows older than this are gone (cleared, reset or fallen off the ring): the page drops them.
        "first_id": everything[0]["id"] if everything else None,
        "last_id": newest[-1]["id"] if newest else since,
        "keys": control.keys(),
        "faults": faults,
    }


def _page(prefix: str) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html", "j2")))
    try:
        version = metadata.version("inpaint-conformance")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return env.get_template("dashboard.html.j2").render(
        prefix=prefix, poll_ms=int(POLL_SECONDS * 1000), version=version
    )


__all__ = ["MAX_ENTRIES", "dashboard_state", "install_dashboard"]

"""The fake's dashboard at GET /__fake__/: watch a client hit the fake, live.

One HTML page (Jinja2 template, inline CSS and vanilla JS, nothing fetched from
elsewhere) that polls `GET /__fake__/dashboard/state?since=ID` once a second and
shows the request journal newest first: API, time, redacted key, what the fake did
with the request (painted it, refused it and why, or gave no answer) apart from
whether the client broke a clause, credits before and after, thumbnails of image,
mask and output; a summary strip over the whole journal (requests per outcome, per
HTTP status, per broken clause); the balances per key; the active faults and
deviations, with buttons that call the inspection API's DELETE endpoints. Long
journals read better as a compact table (`view=table`: no thumbnails, so one
answer can carry the whole journal). Polling rather than a held-open event stream:
nothing to cancel when the server stops, and every proxy passes it.

Access follows the rest of /__fake__/: `install_inspection` passes its guards (the
loopback-or-admin-token rule). Under `--workers N` or Ray ingress replicas the page
shows every process's requests: they share one store (fakes.store).
"""

from __future__ import annotations

from collections import Counter
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
# MB); the page shows the newest and says how many older ones it left out. The table
# view carries no thumbnails (a few hundred bytes an entry): the whole journal fits.
MAX_ENTRIES = 100
MAX_TABLE_ENTRIES = 1000
VIEWS = ("cards", "table")
TABLE_FROM = 200  # a journal this long opens as the table (a wall of cards helps nobody)
# An entry's fields the table view leaves out (pictures and raw headers).
_TABLE_DROPS = ("thumbnails", "headers")


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
    def state(since: str = "0", view: str = "cards") -> dict:
        if not since.isdigit():
            raise HTTPException(400, f"since must be a journal entry id (a whole number >= 0), got {since!r}")
        if view not in VIEWS:
            raise HTTPException(400, f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        return dashboard_state(control, int(since), view=view)


def dashboard_state(control: FakeControl, since: int = 0, *, view: str = "cards") -> dict:
    """What the page shows: journal entries after ``since`` (newest last) with their outcome,
    a summary of the whole journal, balances, faults."""
    everything = control.journal()
    entries = [e for e in everything if e["id"] > since]
    cap = MAX_TABLE_ENTRIES if view == "table" else MAX_ENTRIES
    newest = entries[-cap:]
    if view == "table":
        newest = [{k: v for k, v in e.items() if k not in _TABLE_DROPS} for e in newest]
    faults = [{**fault, "deviation": fault["kind"] in DEVIATIONS} for fault in control.faults()]
    return {
        "entries": [{**e, "outcome": outcome(e)} for e in newest],
        "left_out": len(entries) - len(newest),
        # Rows older than this are gone (cleared, reset or fallen off the ring): the page drops them.
        "first_id": everything[0]["id"] if everything else None,
        "last_id": newest[-1]["id"] if newest else since,
        "summary": summary(everything),
        "keys": control.keys(),
        "faults": faults,
    }


def outcome(entry: dict) -> dict:
    """What the fake did with one journalled request, in words, apart from the client's verdict.

    kind: "served" (painted and answered), "refused" (a failure answer, with the fake's
    reason: a bad request, an unknown key, no credits, an injected fault), "no answer"
    (the connection was dropped or held). A refusal is not the client's fault unless the
    client broke a clause; the page says that separately.
    """
    status, transport = entry.get("status"), entry.get("transport")
    if transport:
        what = "closed the connection" if transport == "drop" else "held the request without answering"
        return {"kind": "no answer", "text": f"no answer: the fake {what} (injected fault: {transport})"}
    refusal = entry.get("refusal")
    envelope = " (AIThriving's failure envelope)" if entry.get("api") == "aithriving" and status == 200 else ""
    if refusal:
        return {"kind": "refused", "text": f"HTTP {status}{envelope}: the fake refused it: {refusal}"}
    if entry.get("seed") is not None:
        return {"kind": "served", "text": f"HTTP {status}: painted, seed {entry['seed']}"}
    return {"kind": "refused" if (status or 0) >= 400 else "served", "text": f"HTTP {status}"}


def summary(entries: list[dict]) -> dict:
    """Counts over the journal the fake still holds: per outcome, per HTTP status, per broken clause."""
    outcomes: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    clauses: dict[str, dict] = {}
    broke = 0
    for entry in entries:
        outcomes[outcome(entry)["kind"]] += 1
        statuses["no answer" if entry.get("transport") else str(entry.get("status"))] += 1
        violations = entry.get("violations") or []
        broke += bool(violations)
        for clause_id in dict.fromkeys(v["clause"] for v in violations):
            level = next(v["level"] for v in violations if v["clause"] == clause_id)
            clauses.setdefault(clause_id, {"clause": clause_id, "level": level, "requests": 0})["requests"] += 1
    order = {"MUST": 0, "SHOULD": 1, "MAY": 2}
    return {
        "requests": len(entries),
        "first_id": entries[0]["id"] if entries else None,
        "last_id": entries[-1]["id"] if entries else None,
        "outcomes": {kind: outcomes[kind] for kind in ("served", "refused", "no answer")},
        "statuses": dict(sorted(statuses.items())),
        "client_broke_a_clause": broke,
        "clauses": sorted(clauses.values(), key=lambda c: (order.get(c["level"], 3), -c["requests"], c["clause"])),
    }


def _page(prefix: str) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html", "j2")))
    try:
        version = metadata.version("inpaint-conformance")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return env.get_template("dashboard.html.j2").render(
        prefix=prefix, poll_ms=int(POLL_SECONDS * 1000), version=version, table_from=TABLE_FROM
    )


__all__ = ["MAX_ENTRIES", "MAX_TABLE_ENTRIES", "dashboard_state", "install_dashboard", "outcome", "summary"]

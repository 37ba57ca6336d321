"""The credit timeline drawn: what the HTML report shows of each key's balance (harness/credit_log.py).

Pure geometry and labels, no markup: `timelines` turns a report's "credits" section
into one chart per key role (the balance event by event, where money went wrong in
red), `burst_view` turns requests sent at once into bars on a time axis with the
balance read meanwhile. The templates (_credits.html.j2, _credit_evidence.html.j2)
draw them as inline SVG: no script, nothing fetched.
"""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT, PAD = 760, 150, 8
BAR, GAP = 12, 4  # a burst's request bars
LABELS = 230  # the column of a burst's request labels, left of the time axis


def timelines(credits: dict[str, Any]) -> list[dict]:
    """One view per API and key role, in the order the report holds them; malformed parts are skipped."""
    views = []
    for api, roles in (credits or {}).items():
        if not isinstance(roles, dict):
            continue
        for role, timeline in roles.items():
            events = [e for e in (timeline or {}).get("events", []) if isinstance(e, dict)]
            if events:
                views.append(_timeline(str(api), str(role), events, int((timeline or {}).get("left_out") or 0)))
    return views


def _timeline(api: str, role: str, events: list[dict], left_out: int) -> dict:
    values = [v for e in events for v in (e.get("before"), e.get("after")) if isinstance(v, int)]
    low, high = (min(values), max(values)) if values else (0, 0)
    y = _scale(low, high, HEIGHT - PAD, PAD)
    step = (WIDTH - 2 * PAD) / max(1, len(events))
    points, marks = [], []
    for index, event in enumerate(events):
        left = PAD + index * step
        before, after = event.get("before"), event.get("after")
        if isinstance(before, int):
            points.append((left, y(before)))
        if isinstance(after, int):
            points.append((left + step * 0.6, y(after)))
            points.append((left + step, y(after)))
        if not event.get("ok", True):
            marks.append({"x": round(left + step * 0.6, 1), "y": round(y(after if isinstance(after, int) else low), 1)})
    wrong = [e for e in events if not e.get("ok", True)]
    return {
        "api": api,
        "role": role,
        "id": f"credits-{api}-{role}",
        "events": [_row(e) for e in events],
        "wrong": [_row(e) for e in wrong],
        "left_out": left_out,
        "low": low,
        "high": high,
        "width": WIDTH,
        "height": HEIGHT,
        "line": " ".join(f"{x:.1f},{yy:.1f}" for x, yy in points),
        "marks": marks,
        "first": values[0] if values else None,
        "last": values[-1] if values else None,
    }


def _row(event: dict) -> dict:
    """An event as a table row shows it."""
    kind = event.get("kind")
    if kind == "burst":
        what = f"{len(event.get('requests') or [])} requests at once, {event.get('successes')} succeeded"
    elif kind == "set":
        what = f"balance set by verify: {event.get('why')}"
    else:
        what = f"{event.get('outcome')} (HTTP {event.get('status')}) sent with the {event.get('sender')} key"
    charged, expected = event.get("charged"), event.get("expected")
    return {
        "n": event.get("n"),
        "probe": event.get("probe"),
        "kind": kind,
        "what": what,
        "before": event.get("before"),
        "after": event.get("after"),
        "charged": charged,
        "expected": expected,
        "ok": bool(event.get("ok", True)),
        "burst": burst_view(event) if kind == "burst" else None,
    }


def burst_view(burst: dict) -> dict | None:
    """Requests sent at once as bars from sent to answered (ms), and the balance read meanwhile."""
    requests = [r for r in burst.get("requests") or [] if isinstance(r, dict)]
    if not requests:
        return None
    reads = [r for r in burst.get("reads") or burst.get("balance_reads") or [] if isinstance(r, list) and len(r) == 2]
    end = max([float(r.get("answered_ms") or 0) for r in requests] + [float(ms) for ms, _ in reads] + [1.0])
    x = _scale(0.0, end, LABELS, WIDTH - PAD)
    bars = []
    for index, request in enumerate(requests):
        sent, answered = float(request.get("sent_ms") or 0), float(request.get("answered_ms") or 0)
        bars.append(
            {
                "label": request.get("label"),
                "outcome": request.get("outcome"),
                "status": request.get("status"),
                "x": round(x(sent), 1),
                "width": round(max(2.0, x(answered) - x(sent)), 1),
                "y": PAD + index * (BAR + GAP),
                "sent_ms": sent,
                "answered_ms": answered,
            }
        )
    height = PAD * 2 + len(bars) * (BAR + GAP) + 40
    before = burst.get("before", burst.get("balance_before"))  # a timeline event, or a clause's evidence
    after = burst.get("after", burst.get("balance_after"))
    credits = [c for _, c in reads] + [v for v in (before, after) if isinstance(v, int)]
    low, high = (min(credits), max(credits)) if credits else (0, 0)
    y = _scale(low, high, height - PAD, height - 40 + PAD)
    line = " ".join(f"{x(float(ms)):.1f},{y(int(c)):.1f}" for ms, c in reads)
    return {
        "bars": bars,
        "width": WIDTH,
        "height": height,
        "end_ms": round(end, 1),
        "axis": LABELS,
        "reads": line,
        "read_count": len(reads),
        "low": low,
        "high": high,
        "before": before,
        "after": after,
    }


def _scale(low: float, high: float, out_low: float, out_high: float):
    """A linear map of [low, high] onto [out_low, out_high] (a flat range lands in the middle)."""
    if high == low:
        middle = (out_low + out_high) / 2
        return lambda _value: middle
    ratio = (out_high - out_low) / (high - low)
    return lambda value: out_low + (value - low) * ratio

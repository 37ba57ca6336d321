"""Several runs side by side: one row per clause, one column per run, as wpt.fyi does for browsers.

`inpaint-conformance report a.json b.json c.json --html matrix.html` renders the JSON reports of
several runs (the fake, the reference, a staging server...) as one self-contained page: each
cell is a run's status of a clause, rows whose runs disagree are marked, and each cell links
to that run's evidence of the clause, further down the same page (detail, what broke, the
reproducer, the answer). Pictures stay in each run's own report (`report a.json --html a.html`),
so the matrix stays small however many runs it holds.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from inpaint_conformance.contracts import clauses

from .html_report import _environment, exchange_view
from .reports import BASELINE_WORDS, STATUS_WORDS
from .results import STATUSES, ClauseResult, ReportError, RunReport

ABSENT = "absent"  # the run did not cover this clause's API


def default_labels(reports: list[RunReport], names: list[str]) -> list[str]:
    """Each run's target, or its file name where two runs share a target."""
    targets = [r.target or n for r, n in zip(reports, names, strict=True)]
    return [t if targets.count(t) == 1 else f"{t} ({n})" for t, n in zip(targets, names, strict=True)]


def _anchor(run: int, clause_id: str) -> str:
    return f"r{run}-" + re.sub(r"[^A-Za-z0-9_.-]", "_", clause_id)


def _cell(run: int, result: ClauseResult | None) -> dict:
    if result is None:
        return {"status": ABSENT, "words": "not in this run", "href": None, "baseline": None}
    return {
        "status": result.status,
        "words": STATUS_WORDS[result.status],
        "href": "#" + _anchor(run, result.clause),
        "baseline": result.baseline,
        "detail": result.detail,
    }


def _evidence(run: int, result: ClauseResult) -> dict:
    evidence = result.evidence or {}
    return {
        "anchor": _anchor(run, result.clause),
        "clause": result.clause,
        "level": result.level,
        "status": result.status,
        "baseline": result.baseline,
        "detail": result.detail,
        "fix": result.fix,
        "reproduce": result.reproduce,
        "violations": evidence.get("violations") or [],
        "exchange": exchange_view(evidence),
    }


def matrix_rows(reports: list[RunReport]) -> list[dict]:
    """One row per clause any run judged, in catalog order (unknown ids, from other versions, last)."""
    by_run = [{r.clause: r for r in report.results} for report in reports]
    seen = {cid for results in by_run for cid in results}
    order = [c.id for c in clauses() if c.id in seen] + sorted(seen - {c.id for c in clauses()})
    rows = []
    for clause_id in order:
        results = [results.get(clause_id) for results in by_run]
        first = next(r for r in results if r is not None)
        cells = [_cell(i, r) for i, r in enumerate(results)]
        statuses = {c["status"] for c in cells}
        rows.append(
            {
                "clause": clause_id,
                "api": first.api,
                "level": first.level,
                "cells": cells,
                "differs": len(statuses) > 1,
            }
        )
    return rows


def render_matrix(reports: list[RunReport], labels: list[str]) -> str:
    if len(labels) != len(reports):
        raise ReportError(f"{len(labels)} labels for {len(reports)} reports: give one --label per report, or none")
    rows = matrix_rows(reports)
    runs = [
        {
            "label": label,
            "index": i,
            "report": report,
            "summary": report.summary(),
            "evidence": [_evidence(i, r) for r in report.results],
        }
        for i, (label, report) in enumerate(zip(labels, reports, strict=True))
    ]
    return (
        _environment()
        .get_template("matrix.html.j2")
        .render(
            runs=runs,
            rows=rows,
            differing=sum(r["differs"] for r in rows),
            statuses=STATUSES,
            status_words=STATUS_WORDS,
            baseline_words=BASELINE_WORDS,
            generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
    )


def write_matrix(reports: list[RunReport], labels: list[str], path: str | Path) -> Path:
    """Write the matrix page (parent folders made). ReportError when it cannot be rendered; OSError as any write."""
    try:
        page = render_matrix(reports, labels)
    except ReportError:
        raise
    except Exception as exc:  # a hand-edited report, or one of another version this one cannot show
        raise ReportError(f"cannot render the matrix: {type(exc).__name__}: {exc}") from None
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target

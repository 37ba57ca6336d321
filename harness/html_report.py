"""A RunReport as one self-contained HTML file: summary, filterable clause table, pictures.

The page opens offline from disk: styles, script and every picture are inline (data
URIs), nothing is fetched. Each picture is written once: its first appearance holds
the data, later ones name it (``data-pic``) and the page's script copies it, so a
shot shown under several clauses and in the gallery costs its bytes once. Full-size
views sit in one JSON block the viewer reads on click.

Templates are in ``harness/templates`` (Jinja2, autoescaped); this module only
prepares what they show.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from inpaint_conformance.contracts import clause as catalog_clause
from inpaint_conformance.contracts import redact_headers
from inpaint_conformance.contracts.clauses import UnknownClause
from inpaint_conformance.contracts.decisions import cited
from inpaint_conformance.contracts.rules import KEPT_PSNR_DB

from .credit_chart import burst_view, timelines
from .pictures import MAX_PER_CLAUSE, clause_shots, shots_of
from .reports import BASELINE_WORDS, STATUS_WORDS
from .results import LEVELS, STATUSES, ClauseResult, ReportError, RunReport

TEMPLATES = Path(__file__).parent / "templates"
# Evidence keys shown in their own places; "all evidence" shows the rest as JSON.
_SHOWN_APART = ("pictures", "pictures_left_out")


@dataclass
class _PictureIndex:
    """Which picture data the page has written already, so each data URI appears once."""

    seen: set[str] = field(default_factory=set)
    full: dict[str, str] = field(default_factory=dict)  # id -> full-size data URI, for the viewer

    @staticmethod
    def key(uri: str) -> str:
        return "p" + hashlib.blake2b(uri.encode("ascii", "replace"), digest_size=8).hexdigest()

    def thumb(self, uri: str) -> dict:
        """{"id": ..., "first": True the first time this picture is written}."""
        pid = self.key(uri)
        first = pid not in self.seen
        self.seen.add(pid)
        return {"id": pid, "first": first}

    def full_view(self, thumb_uri: str, full_uri: str | None) -> str | None:
        if not full_uri:
            return None
        pid = self.key(thumb_uri)
        self.full[pid] = full_uri
        return pid


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html", "j2")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["kept_words"] = kept_words
    env.filters["repainted_words"] = repainted_words
    env.filters["outputs_words"] = outputs_words
    return env


# PSNR in words: "inf dB" means nothing to most readers, "identical" does.
def _decibels(value) -> float | None:
    try:
        return float(value)  # "inf" included
    except (TypeError, ValueError):
        return None


def kept_words(value) -> str:
    """The kept area (mask 0) against the input: identical, or changed by how much."""
    db = _decibels(value)
    if db is None:
        return "kept area: not measured"
    if db == float("inf"):
        return "kept area identical to the input"
    verdict = "nearly identical to" if db >= KEPT_PSNR_DB else "changed from"
    return f"kept area {verdict} the input (PSNR {db:.1f} dB; {KEPT_PSNR_DB:.0f} dB or more counts as kept)"


def repainted_words(value) -> str:
    """The repainted area (mask 255) against the input: any change is allowed there."""
    db = _decibels(value)
    if db is None:
        return "repainted area: not measured"
    if db == float("inf"):
        return "repainted area unchanged: nothing was painted there"
    return f"repainted area changed by the paint (PSNR {db:.1f} dB against the input)"


def outputs_words(value) -> str:
    """Two outputs of one request and seed against each other."""
    db = _decibels(value)
    if db is None:
        return "the two outputs: not compared"
    if db == float("inf"):
        return "the two outputs are identical"
    return f"the two outputs differ (PSNR {db:.1f} dB; {KEPT_PSNR_DB:.0f} dB or more counts as the same)"


def _citation(clause_id: str) -> dict:
    try:
        found = catalog_clause(clause_id)
    except UnknownClause:
        return {"statement": None, "quote": None, "document": None, "decision": None, "decisions": [], "known": False}
    c = found.citation
    rows = [
        {"id": d.id, "topic": d.topic, "level": d.level, "decision": d.decision, "why": d.why}
        for d in cited(c.decision)
    ]
    return {
        "statement": found.statement,
        "quote": c.quote,
        "document": c.document,
        "decision": c.decision,
        "decisions": rows,
        "known": True,
    }


def exchange_view(evidence: dict) -> dict | None:
    """The failing exchange's status, headers and body excerpt, secrets redacted."""
    exchange = evidence.get("exchange")
    if not isinstance(exchange, dict):
        return None
    observations = exchange.get("observations") or {}
    headers = exchange.get("headers")
    if isinstance(headers, dict):
        headers = redact_headers({str(k): str(v) for k, v in headers.items()})
    elif observations.get("content_type"):
        headers = {"content-type": observations["content_type"]}
    request = exchange.get("request") or {}
    return {
        "probe": exchange.get("probe"),
        "status": exchange.get("status"),
        "error": exchange.get("error"),
        "headers": headers or {},
        "body": exchange.get("body"),
        "observations": {k: v for k, v in observations.items() if k not in ("status", "content_type")},
        "request": request,
        "credits": exchange.get("credits"),
        "refusals": exchange.get("refusals") or [],
    }


def _row(result: ClauseResult, shots: dict[str, dict]) -> dict:
    evidence = result.evidence or {}
    resolved = clause_shots(result, shots)
    rest = {k: v for k, v in evidence.items() if k not in _SHOWN_APART}
    return {
        "api": result.api,
        "clause": result.clause,
        "level": result.level,
        "status": result.status,
        "detail": result.detail,
        "reproduce": result.reproduce,
        "fix": result.fix,
        "baseline": result.baseline,
        "citation": _citation(result.clause),
        "exchange": exchange_view(evidence),
        "violations": evidence.get("violations") or [],
        "violation_count": evidence.get("violation_count"),
        "observed": evidence.get("observed") if isinstance(evidence.get("observed"), dict) else None,
        "raw": json.dumps(rest, indent=2, ensure_ascii=False, default=str) if rest else None,
        "burst": burst_view(evidence["burst"]) if isinstance(evidence.get("burst"), dict) else None,
        "sequence": evidence.get("sequence") if isinstance(evidence.get("sequence"), dict) else None,
        "shots": resolved[:MAX_PER_CLAUSE],
        "more_shots": max(0, len(resolved) - MAX_PER_CLAUSE) + int(evidence.get("pictures_left_out") or 0),
    }


def _summary(report: RunReport) -> list[dict]:
    summary = []
    for api in report.apis:
        results = report.for_api(api)
        by_level = {
            level: {s: sum(r.level == level and r.status == s for r in results) for s in STATUSES} for level in LEVELS
        }
        totals = {s: sum(r.status == s for r in results) for s in STATUSES}
        must_failed = by_level["MUST"]["failed"]
        summary.append(
            {"api": api, "levels": by_level, "totals": totals, "ok": must_failed == 0, "must_failed": must_failed}
        )
    return summary


def _gallery(shots: dict[str, dict]) -> list[dict]:
    """Shots grouped by API, then by probe (its name without the [label])."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for shot in shots.values():
        probe = str(shot.get("probe") or "?").split("[", 1)[0]
        groups.setdefault((str(shot.get("api") or "?"), probe), []).append(shot)
    return [{"api": api, "probe": probe, "shots": items} for (api, probe), items in groups.items()]


def render_html(report: RunReport) -> str:
    """The whole page as a string."""
    shots = shots_of(report.results)
    # Failures first (MUST before SHOULD before MAY), then unverified, not exercised, passed; catalog order within.
    # A baseline's new failures before its known ones; clauses left out by --only/--skip last.
    rank = {"failed": 0, "unverified": 1, "not_exercised": 2, "passed": 3, "not_selected": 4}
    ordered = sorted(
        report.results,
        key=lambda r: (
            rank[r.status],
            r.baseline == "known",
            LEVELS.index(r.level) if r.status == "failed" else 0,
        ),
    )
    rows = [_row(r, shots) for r in ordered]
    counts = report.summary()
    must_failed = len(report.failures())
    page = _environment().get_template("report.html.j2")
    return page.render(
        report=report,
        summary=_summary(report),
        rows=rows,
        gallery=_gallery(shots),
        counts=counts,
        must_failed=must_failed,
        # "not selected" gets a column only in reports of --only/--skip runs.
        statuses=[s for s in STATUSES if s in counts],
        status_words=STATUS_WORDS,
        baseline_words=BASELINE_WORDS,
        new_failures=[r.clause for r in report.results if r.baseline == "new"],
        unverified_fixes=report.unverified_fixes(),
        levels=LEVELS,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        pics=_PictureIndex(),
        credit_views=timelines(report.credits),
    )


def write_html(report: RunReport, path: str | Path) -> Path:
    """Write the report to ``path`` (parent folders made); returns the path. OSError as write_json;
    ReportError when the report cannot be rendered (nothing is written then)."""
    try:
        page = render_html(report)
    except Exception as exc:  # a report this version cannot show (hand-edited, another version's evidence)
        raise ReportError(
            f"cannot render the report as HTML: {type(exc).__name__}: {exc}; "
            "the JSON report is still usable (a report from another version, or a bug: please report it)"
        ) from None
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


__all__ = ["render_html", "write_html"]

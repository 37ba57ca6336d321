"""Judging a client from what it sent: the fake's journal or a HAR file, clause by clause.

Every request of an API is held against every client clause of that API: a clause
fails when any request broke it, passes when some request exercised it (a seed clause:
a request that sent a seed) and none broke it, is "not_exercised" when no request did
what it is about (a client that never sends a seed), and "unverified" when the input
cannot tell (a HAR that lost the file bytes, a journal that does not say what its
requests exercised). Journal entries carry the fake's own verdict (`violations` and
`checked`: the journal keeps no bodies); HAR requests are rebuilt and judged here by
`inpaint_conformance.contracts.validate_request`, the same judge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from inpaint_conformance.contracts import Api, Level, clauses, validate_request
from inpaint_conformance.contracts.catalog import clause as catalog_clause
from inpaint_conformance.contracts.clauses import UnknownClause
from inpaint_conformance.contracts.rules import FAKE_PREFIX, api_for_path, near_miss_api

from .har import HarError, HarRequest, har_requests, is_har
from .results import ClauseResult

# Clauses judged from the bytes of the file parts: not judged for a HAR entry whose
# tool lost those bytes (a false alarm otherwise).
_FILE_BYTES_CLAUSES = (
    "image.invalid",
    "image.formats",
    "mask.format",
    "mask.invalid",
    "mask.absent",
    "limits.dimensions",
    "limits.size",
    "robust.malformed",
)
_EVIDENCE_LIMIT = 20


class ClientInputError(ValueError):
    """The file is neither a journal nor a HAR; the message says what was expected."""


@dataclass(frozen=True)
class JudgedRequest:
    """One request of a client, with the violations the judge found in it."""

    api: Api
    label: str  # how a person finds it again: "#3 POST /api/edit/inpaint (journal id 17, 2024-...)"
    violations: tuple[dict, ...] = ()  # Violation.to_dict() shapes: clause, level, message, refuse
    unjudged: tuple[str, ...] = ()  # clause-id suffixes not judged for this request
    note: str = ""
    checked: frozenset[str] | None = None  # the clauses it was judged on; None: the input does not say


@dataclass
class ClientInput:
    source: str
    kind: str  # "journal" or "har"
    requests: list[JudgedRequest] = field(default_factory=list)
    ignored: int = 0  # entries for other URLs (or CORS preflights) left out
    notes: list[str] = field(default_factory=list)


def client_results(entries: Iterable[dict], apis: Iterable[str | Api] | None = None) -> list[ClauseResult]:
    """The client verdict of the fake's journal entries (`provider.journal.entries()`), one per clause."""
    return judge(from_journal(entries).requests, apis)


def judge(requests: list[JudgedRequest], apis: Iterable[str | Api] | None = None) -> list[ClauseResult]:
    """One ClauseResult per client clause of each API (plus any other clause a request broke)."""
    wanted = [Api.parse(a) for a in apis] if apis is not None else list(Api)
    results: list[ClauseResult] = []
    for api in wanted:
        mine = [r for r in requests if r.api is api]
        client_ids = [c.id for c in clauses(api, side="client")]
        broken_elsewhere = [v["clause"] for r in mine for v in r.violations if v["clause"] not in client_ids]
        for clause_id in client_ids + list(dict.fromkeys(broken_elsewhere)):
            results.append(_verdict(api, clause_id, mine))
    return results


def _verdict(api: Api, clause_id: str, requests: list[JudgedRequest]) -> ClauseResult:
    level = _level(clause_id, requests)
    make = lambda status, detail, **kw: ClauseResult(api.value, clause_id, level, status, detail, **kw)  # noqa: E731
    if not requests:
        return make("not_exercised", f"no {api.value} request in the input")
    judged = [r for r in requests if not clause_id.endswith(r.unjudged)]
    breaking = [(r, v) for r in judged for v in r.violations if v["clause"] == clause_id]
    if breaking:
        first_request, first = breaking[0]
        offenders = list(dict.fromkeys(r.label for r, _ in breaking))
        messages = list(dict.fromkeys(v["message"] for _, v in breaking))
        detail = (
            f"{len(offenders)} of {len(judged)} {api.value} request(s) broke it; "
            f"first: {first_request.label}: {first['message']}"
        )
        evidence = {
            "requests": len(judged),
            "broken_by": offenders[:_EVIDENCE_LIMIT],
            "broken_count": len(offenders),
            "messages": messages[:5],
        }
        return make("failed", detail, evidence=evidence)
    exercised = [r for r in judged if r.checked is not None and clause_id in r.checked]
    if exercised:
        return make(
            "passed",
            f"{len(exercised)} of {len(requests)} {api.value} request(s) exercised it, none broke it",
            evidence={"requests": len(requests), "exercised": len(exercised)},
        )
    if len(judged) < len(requests):
        return make(
            "unverified",
            f"{len(requests) - len(judged)} {api.value} request(s) lost their file bytes in the HAR export",
            fix="export the HAR with its content (browsers: 'Save all as HAR with content')",
        )
    if any(r.checked is None for r in requests):
        return make(
            "unverified",
            "the journal does not say which clauses some requests exercised (a fault answered them before they "
            "were judged, or the journal is from an older version)",
            fix="run the client against this version's fake, without faults, and export its journal again",
        )
    return make("not_exercised", f"none of the {len(requests)} {api.value} request(s) did what it is about")


def _level(clause_id: str, requests: list[JudgedRequest]) -> str:
    try:
        return catalog_clause(clause_id).level.value
    except UnknownClause:  # a journal from another version of the catalog: trust what it says
        levels = [v.get("level") for r in requests for v in r.violations if v["clause"] == clause_id]
        return next((lv for lv in levels if isinstance(lv, str) and lv in Level.__members__), Level.MUST.value)


# -- the fake's journal --------------------------------------------------------------


def from_journal(entries: Iterable[dict], source: str = "journal") -> ClientInput:
    found = ClientInput(source, "journal")
    for number, entry in enumerate(entries, 1):
        try:
            api = Api.parse(str(entry.get("api")))
        except ValueError:
            found.ignored += 1
            continue
        violations = tuple(_violation(v) for v in entry.get("violations") or ())
        when = _when(entry.get("time"))
        where = f"journal id {entry['id']}, {when}" if "id" in entry else when
        label = f"#{number} {entry.get('method', '?')} {entry.get('path', '?')} ({where})"
        checked = entry.get("checked")
        exercised = frozenset(str(c) for c in checked) if isinstance(checked, list) else None
        found.requests.append(JudgedRequest(api, label, violations, checked=exercised))
    return found


def _violation(raw: object) -> dict:
    if not isinstance(raw, dict) or not isinstance(raw.get("clause"), str):
        raise ClientInputError(f"a journal violation must be an object with a clause id, got {raw!r}")
    return {
        "clause": raw["clause"],
        "level": raw.get("level"),
        "message": str(raw.get("message", "")),
        "refuse": bool(raw.get("refuse", True)),
    }


def _when(stamp: object) -> str:
    if isinstance(stamp, (int, float)):
        return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(stamp) if stamp else "time unknown"


# -- HAR -------------------------------------------------------------------------------


def from_har(document: dict, source: str = "HAR") -> ClientInput:
    found = ClientInput(source, "har")
    for entry in har_requests(document):
        http = entry.request
        # An inpaint call to a wrong path (`/api/edit/inpainting`) is judged too: transport.post.
        api = api_for_path(http.path) or near_miss_api(http.url, http.path, http.headers)
        if api is None or http.method == "OPTIONS":  # other URLs; a CORS preflight is the browser's, not the client's
            found.ignored += 1
            continue
        found.requests.append(_judge_har_entry(api, entry, len(found.requests) + 1))
        if entry.lossy:
            found.notes.append(f"HAR entry {entry.index}: {entry.note}; its image bytes are not judged")
    return found


def _judge_har_entry(api: Api, entry: HarRequest, number: int) -> JudgedRequest:
    verdict = validate_request(api, entry.request)
    unjudged = _FILE_BYTES_CLAUSES if entry.lossy else ()
    violations = tuple(v.to_dict() for v in verdict.violations if not v.clause.endswith(unjudged))
    checked = frozenset(c for c in verdict.checked if not c.endswith(unjudged))
    label = f"#{number} {entry.request.method} {entry.request.path} (HAR entry {entry.index}, {entry.started or 'time unknown'})"
    return JudgedRequest(api, label, violations, unjudged, entry.note, checked)


# -- reading a file ------------------------------------------------------------------


def load_client_input(path: str | Path) -> ClientInput:
    """A journal (JSON lines, or a JSON array of entries) or a HAR file, detected from its content."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClientInputError(
            f"{path}: no such file; export the fake's journal with "
            f"`curl http://HOST:PORT{FAKE_PREFIX}/journal.jsonl > journal.jsonl` or save a HAR"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientInputError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    if not text.strip():
        raise ClientInputError(f"{path} is empty: expected journal JSON lines or a HAR file")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    try:
        if is_har(document):
            return from_har(document, str(path))
    except HarError as exc:
        raise ClientInputError(f"{path}: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("entries"), list):
        document = document["entries"]
    entries = (
        document
        if isinstance(document, list)
        else [document]
        if isinstance(document, dict)
        else _json_lines(path, text)
    )
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or "api" not in entry or "violations" not in entry:
            raise ClientInputError(
                f"{path}: entry {number} is not a journal entry (expected an object with api, "
                f"method, path and violations), and the file is not a HAR (no log.entries)"
            )
    return from_journal(entries, str(path))


def _json_lines(path: Path, text: str) -> list:
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except ValueError as exc:
            raise ClientInputError(
                f"{path}: line {number} is not JSON ({exc.args[0]}); expected journal JSON lines "
                f"(GET {FAKE_PREFIX}/journal.jsonl) or a HAR file"
            ) from None
    return entries

"""Schemathesis, the tool a user would pick instead of `verify`: its CLI on the exported
OpenAPI document, against a live fake, with as many generated cases as `verify` draws.

What it checked is read from its NDJSON event report: every check result names its
check, so the distinct names are the checks it actually ran on this API; what it
found is read from the same events (each failed check result carries its failure).

`CHECK_CLAUSES` is this bench's reading of where a generic Schemathesis check covers
the same ground as clauses of the catalog (by clause id suffix, for both APIs), so
the two tools are compared where they overlap, clause for check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import BENCH_KEY, Api
from _load import LOOPBACK, which

from inpaint_conformance.contracts.rules import AUTH_HEADER

TIMEOUT_S = 300

# Schemathesis check -> the clause id suffixes (after "ait." / "vyro.") judging the same thing.
# Checks not listed (use_after_free, ensure_resource_availability, object_level_authorization,
# allow_header_conformance, max_response_time) have no clause on the same ground.
CHECK_CLAUSES = {
    "not_a_server_error": ("failure.not_5xx", "errors.4xx", "robust.malformed", "image.invalid", "mask.invalid"),
    "status_code_conformance": ("success.status", "failure.status", "auth.status", "auth.missing", "auth.invalid"),
    "content_type_conformance": ("success.content_type", "envelope.json"),
    "response_schema_conformance": ("envelope.json", "success.code", "success.data", "failure.envelope"),
    "response_headers_conformance": ("rate.retry_after",),
    "negative_data_rejection": (
        "prompt.required",
        "image.required",
        "mask.required",
        "mask.absent",
        "seed.range",
        "seed.integer",
        "output_format.enum",
    ),
    "positive_data_acceptance": ("transport.post", "transport.multipart", "image.formats"),
    "missing_required_header": ("auth.missing",),
    "ignored_auth": ("auth.missing", "auth.invalid"),
    "unsupported_method": ("transport.post",),
}


def overlapping_clauses(api: Api, checks: list[str] | set[str], catalog: set[str]) -> set[str]:
    """The clause ids of ``catalog`` that the given Schemathesis checks cover too, for ``api``."""
    prefix = "ait." if api is Api.AITHRIVING else "vyro."
    return {prefix + suffix for check in checks for suffix in CHECK_CLAUSES.get(check, ())} & catalog


@dataclass
class SchemathesisRun:
    api: Api
    wall_s: float
    exit_code: int
    cases: int | None = None
    checks_run: dict[str, int] = field(default_factory=dict)  # check name -> results
    failures: list[str] = field(default_factory=list)  # "ST201 Schema-violating request accepted: 1"
    findings: list[dict] = field(default_factory=list)  # {code, title, check, count, messages}
    note: str = ""
    requests: int | None = None  # counted by the caller at the server


def command() -> list[str] | None:
    """The `schemathesis` CLI next to this Python, or on PATH; None when not installed."""
    beside = Path(sys.executable).with_name("schemathesis")
    if beside.exists():
        return [str(beside)]
    found = which("schemathesis") or which("st")
    return [found] if found else None


def run(api: Api, document: dict, port: int, examples: int, seed: int = 0) -> SchemathesisRun:
    cli = command()
    if cli is None:
        return SchemathesisRun(api, 0.0, -1, note="schemathesis is not installed (pip install schemathesis)")
    with tempfile.TemporaryDirectory(prefix="bench-schemathesis-") as tmp:
        return _run(cli, api, document, port, examples, seed, Path(tmp))


def _run(
    cli: list[str], api: Api, document: dict, port: int, examples: int, seed: int, folder: Path
) -> SchemathesisRun:
    spec, events, summary = folder / f"{api.value}.json", folder / "events.ndjson", folder / "report.json"
    spec.write_text(json.dumps(document))
    argv = [
        *cli,
        "run",
        str(spec),
        "--url",
        f"http://{LOOPBACK}:{port}",
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--checks",
        "all",
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--header",
        f"{AUTH_HEADER[api]}: {BENCH_KEY}",
        "--report",
        "json,ndjson",
        "--report-json-path",
        str(summary),
        "--report-ndjson-path",
        str(events),
        "--report-dir",
        str(folder),
        "--no-color",
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return SchemathesisRun(api, time.perf_counter() - started, -1, note=f"schemathesis ran over {TIMEOUT_S} s")
    result = SchemathesisRun(api, time.perf_counter() - started, done.returncode)
    try:
        report = json.loads(summary.read_text())
        result.cases = report["test_cases"]["generated"]
        result.failures = [f"{f['code']} {f['title']}: {f['count']}" for f in report.get("failures", [])]
        result.checks_run, result.findings = _checks(events)
    except (OSError, ValueError, KeyError) as exc:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        result.note = f"could not read its report ({type(exc).__name__}: {exc}); it said: {' | '.join(tail)}"
    return result


def _checks(events: Path) -> tuple[dict[str, int], list[dict]]:
    """Check name -> number of results, and what failed: one finding per failure code,
    with the check that found it and its distinct messages (first lines)."""
    counts: dict[str, int] = {}
    findings: dict[str, dict] = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("name"), str) and isinstance(node.get("status"), str):
                counts[node["name"]] = counts.get(node["name"], 0) + 1
                failure = ((node.get("failure_info") or {}).get("failure")) if node["status"] == "failure" else None
                if isinstance(failure, dict):
                    found = findings.setdefault(
                        str(failure.get("code")),
                        {"code": failure.get("code"), "title": failure.get("title"), "check": node["name"],
                         "count": 0, "messages": []},
                    )  # fmt: skip
                    found["count"] += 1
                    first = str(failure.get("message") or "").strip().splitlines()[:1]
                    if first and first[0] not in found["messages"] and len(found["messages"]) < 3:
                        found["messages"].append(first[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for line in events.read_text().splitlines():
        event = json.loads(line)
        if "ScenarioFinished" in event:
            walk(event["ScenarioFinished"])
    return counts, sorted(findings.values(), key=lambda f: str(f["code"]))

"""Recordings of proxied exchanges: JSON lines, secrets redacted, replayable by the fake.

One line per exchange: {time, api, request: {method, path, headers, body}, response:
{status, headers, body}, request_violations, response_violations}; bodies are
base64. Secret headers are redacted before the line is built, so a recording can be
attached to a bug report as it is.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from inpaint_conformance.contracts import HttpRequest, HttpResponse, Violation, redact_headers, redact_secret

# Reading lives with the replaying fake (fakes never import the harness); re-exported here.
from inpaint_conformance.fakes.replay import RecordedExchange, RecordingError, load_recording, parse_records

# Answers can set cookies that are credentials; contracts.exchange.SECRET_HEADERS has
# "cookie" (the request side) but not this one.
_RESPONSE_SECRET_HEADERS = ("set-cookie",)


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    redacted = redact_headers(headers)
    return {k: (redact_secret(v) if k.lower() in _RESPONSE_SECRET_HEADERS else v) for k, v in redacted.items()}


def exchange_record(
    api: str | None,
    request: HttpRequest,
    response: HttpResponse | None,
    request_violations: Sequence[Violation] = (),
    response_violations: Sequence[Violation] = (),
    error: str | None = None,
    when: datetime | None = None,
) -> dict:
    """The JSON-ready line of one exchange, with every secret header redacted."""
    when = when or datetime.now(timezone.utc)
    record = {
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "api": api,
        "request": {
            "method": request.method,
            "path": request.path,
            "headers": safe_headers(request.headers),
            "body": base64.b64encode(request.body).decode("ascii"),
        },
        "response": None
        if response is None
        else {
            "status": response.status,
            "headers": safe_headers(response.headers),
            "body": base64.b64encode(response.body).decode("ascii"),
        },
        "request_violations": [v.to_dict() for v in request_violations],
        "response_violations": [v.to_dict() for v in response_violations],
    }
    if error:
        record["error"] = error
    return record


class Recorder:
    """Appends one line per exchange to a file; safe to call from several threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()  # fail now, at start-up, if the file cannot be written

    def write(self, record: dict) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)
            self.count += 1


__all__ = [
    "RecordedExchange",
    "Recorder",
    "RecordingError",
    "exchange_record",
    "load_recording",
    "parse_records",
    "safe_headers",
]

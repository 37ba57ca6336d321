"""Recordings of proxied exchanges: JSON lines, secrets redacted, replayable by the fake.

One line per exchange: {time, api, request: {method, path, headers, body}, response:
{status, headers, body}, request_violations, response_violations}; bodies are
base64. Secret headers, and form fields that carry a key, are redacted before the line
is built, so a recording can be attached to a bug report as it is.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from inpaint_conformance.contracts import HttpRequest, HttpResponse, Violation, redact_headers
from inpaint_conformance.contracts.exchange import is_secret_name
from inpaint_conformance.contracts.multipart import redact_form_fields

# Reading lives with the replaying fake (fakes never import the harness); re-exported here.
from inpaint_conformance.fakes.replay import RecordedExchange, RecordingError, load_recording, parse_records


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with every credential-looking one (by name, `set-cookie` included) reduced to a hint."""
    return redact_headers(headers)


def sent_keys(headers: Mapping[str, str]) -> set[str]:
    """The credentials a request carries in its headers (a "Bearer " scheme taken off)."""
    keys = set()
    for name, value in headers.items():
        if is_secret_name(name) and value.strip():
            keys.add(value.strip())
            scheme, _, token = value.strip().partition(" ")
            if token.strip() and scheme.isalpha():
                keys.add(token.strip())
    return keys


def exchange_record(
    api: str | None,
    request: HttpRequest,
    response: HttpResponse | None,
    request_violations: Sequence[Violation] = (),
    response_violations: Sequence[Violation] = (),
    error: str | None = None,
    when: datetime | None = None,
) -> dict:
    """One exchange as a recording keeps it: secret headers and form fields redacted.

    The bodies stay bytes here; `Recorder.write` streams them to disk as base64.
    """
    when = when or datetime.now(timezone.utc)
    body = redact_form_fields(request.headers.get("content-type", ""), request.body, sent_keys(request.headers))
    record = {
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "api": api,
        "request": {
            "method": request.method,
            "path": request.path,
            "headers": safe_headers(request.headers),
            "body": body,
        },
        "response": None
        if response is None
        else {"status": response.status, "headers": safe_headers(response.headers), "body": response.body},
        "request_violations": [v.to_dict() for v in request_violations],
        "response_violations": [v.to_dict() for v in response_violations],
    }
    if error:
        record["error"] = error
    return record


class Recorder:
    """Appends one JSON line per exchange to a file; safe to call from several threads.

    Bodies (bytes anywhere in the record) are written as base64 a slice at a time, so a
    20 MB upload never exists as a 27 MB string and a 27 MB JSON line in memory.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()  # fail now, at start-up, if the file cannot be written

    def write(self, record: dict) -> None:
        nonce = secrets.token_hex(8)
        bodies: list[bytes] = []

        def placeholder(value: object) -> str:
            if isinstance(value, (bytes, bytearray, memoryview)):
                bodies.append(bytes(value))
                return f"{_MARK}{nonce}-{len(bodies) - 1}{_MARK}"
            raise TypeError(f"cannot record a {type(value).__name__}")

        text = json.dumps(record, sort_keys=True, default=placeholder)
        pieces = re.split(
            f'"{re.escape(json.dumps(_MARK)[1:-1])}{nonce}-([0-9]+){re.escape(json.dumps(_MARK)[1:-1])}"', text
        )
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            for index, piece in enumerate(pieces):
                if index % 2 == 0:
                    out.write(piece)
                else:
                    out.write('"')
                    _write_base64(out, bodies[int(piece)])
                    out.write('"')
            out.write("\n")
            self.count += 1


_MARK = "\x00body-"
_SLICE = 3 * 256 * 1024  # a multiple of 3: slices encode to base64 without padding in between


def _write_base64(out, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), _SLICE):
        out.write(base64.b64encode(view[start : start + _SLICE]).decode("ascii"))


__all__ = [
    "RecordedExchange",
    "Recorder",
    "RecordingError",
    "exchange_record",
    "load_recording",
    "parse_records",
    "safe_headers",
]

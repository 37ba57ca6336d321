"""Reproducers for credit clauses no single request shows: a Python script as one shell command.

`burst_script` fires the requests of a burst at once (one thread each, released
together) and checks the balance afterwards; `sequence_script` replays a sequence
step by step and compares every key's balance with the model of A17/A18 after each.
Both read keys from the environment ($AIT_API_KEY, ...: harness/credentials.py), embed
the (small) uploads, print what came, and exit 1 when the failure reproduces, 0 when it
does not. They need Python 3 and httpx, which this tool depends on.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import AUTH_HEADER, CREDITS_PER_SUCCESS

from .credentials import CHARGED_ROLES, KEY_VARIABLES

if TYPE_CHECKING:
    from .probes import RequestSpec

API = Api.AITHRIVING

_PRELUDE = '''\
# Needs httpx; keys come from the environment ({variables}), never from this script.
import base64, os, sys, threading
import httpx

URL = {url!r}
CREDITS_URL = {credits_url!r}
HEADER = {header!r}
PRICE = {price}  # credits per successful result (A17)
KEYS = {{role: os.environ.get(variable) for role, variable in {variables_by_role!r}.items()}}
KEYS.update(wrong={wrong_key!r}, none=None)
UPLOADS = {{name: base64.b64decode(data) for name, data in {uploads!r}.items()}}
client = httpx.Client(timeout={timeout!r})


def balance(role):
    return client.get(CREDITS_URL, headers={{HEADER: KEYS[role]}}).json()["credits"]


def send(label, role, fields, parts):
    """What came: ("success" or "failure" or "no answer", a short description)."""
    headers = {{HEADER: KEYS[role]}} if KEYS.get(role) else {{}}
    files = {{name: (filename, UPLOADS[upload], media) for name, (filename, media, upload) in parts.items()}}
    try:
        answer = client.post(URL, headers=headers, data=fields, files=files)
    except httpx.HTTPError as exc:
        return "no answer", type(exc).__name__
    try:
        body = answer.json()
    except ValueError:
        body = None
    ok = answer.status_code == 200 and isinstance(body, dict) and body.get("code") == 0
    said = body.get("message") if isinstance(body, dict) else answer.text[:80]
    return ("success" if ok else "failure"), f"HTTP {{answer.status_code}} {{said!r}}"


missing = [variable for role, variable in {variables_by_role!r}.items() if not KEYS[role]]
if missing:
    sys.exit("set " + ", ".join(missing) + " first")
'''

_BURST = """
REQUESTS = {requests}
ROLE = {role!r}
MODE = {mode!r}  # "overlap": charged 6 per success; "double-spend": also no more successes than credits allow
start = balance(ROLE)
gate = threading.Barrier(len(REQUESTS))
answers = [None] * len(REQUESTS)


def fire(index):
    gate.wait()  # every request leaves at once
    answers[index] = send(*REQUESTS[index])


threads = [threading.Thread(target=fire, args=(i,)) for i in range(len(REQUESTS))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
end = balance(ROLE)
successes = sum(kind == "success" for kind, _ in answers)
for (label, *_), (kind, text) in zip(REQUESTS, answers):
    print(f"{{label}}: {{kind}} ({{text}})")
expected = start - PRICE * successes
problems = []
if any(kind == "no answer" for kind, _ in answers):
    problems.append("a request got no answer")
if end != expected:
    problems.append(f"balance {{start}} -> {{end}} after {{successes}} successes, expected {{expected}}")
if MODE == "double-spend" and successes > max(start, 0) // PRICE:
    problems.append(f"{{successes}} successes for a key holding {{start}} credits")
if end < 0:
    problems.append(f"negative balance {{end}}")
print(f"{{len(REQUESTS)}} requests at once on the {{ROLE}} key: {{successes}} succeeded, balance {{start}} -> {{end}}")
print("REPRODUCED: " + "; ".join(problems) if problems else "not reproduced: the balance fell by {{PRICE}} per success")
sys.exit(1 if problems else 0)
"""

_SEQUENCE = """
STEPS = {steps}  # (label, role, fields, parts), or (label, role, None, None) for a balance read
model = {{role: balance(role) for role in {roles!r}}}  # each key's balance as A17/A18 say it must be
print(f"start: {{model}}")
for number, (label, role, fields, parts) in enumerate(STEPS, 1):
    said = "balance read"
    if fields is not None:
        kind, text = send(label, role, fields, parts)
        said = f"{{kind}} ({{text}})"
        if kind == "success" and role in model:
            if model[role] < PRICE:
                print(f"step {{number}} {{label}} ({{role}} key): {{said}}")
                sys.exit(f"REPRODUCED: the {{role}} key held {{model[role]}} credits and was served")
            model[role] -= PRICE
    seen = {{key: balance(key) for key in model}}
    print(f"step {{number}} {{label}} ({{role}} key): {{said}}; balances {{seen}}")
    wrong = [f"{{key}} {{seen[key]}}, expected {{model[key]}}" for key in model if seen[key] != model[key]]
    if wrong:
        sys.exit(f"REPRODUCED after step {{number}}: " + "; ".join(wrong))
print("not reproduced: every balance matched A17/A18 after every step")
"""


class ScriptBook:
    """Builds both scripts for one target: where to send, where balances are read, which keys exist."""

    def __init__(self, url: str, credits_url: str, *, wrong_key: str, timeout: float, note: str | None = None) -> None:
        self.url, self.credits_url = url, credits_url
        self.wrong_key, self.timeout, self.note = wrong_key, timeout, note

    def burst(self, title: str, role: str, requests: list[tuple[str, RequestSpec]], mode: str) -> str:
        uploads: dict[str, str] = {}
        rows = [_request_row(label, spec, uploads) for label, spec in requests]
        body = _BURST.format(requests=_rows(rows), role=role, mode=mode)
        return self._command(title, uploads, [role, *(spec.auth for _, spec in requests)], body)

    def sequence(self, title: str, roles: list[str], steps: list[tuple[str, str, RequestSpec | None]]) -> str:
        uploads: dict[str, str] = {}
        rows = [
            _request_row(label, spec, uploads) if spec is not None else (label, role, None, None)
            for label, role, spec in steps
        ]
        body = _SEQUENCE.format(steps=_rows(rows), roles=roles)
        return self._command(title, uploads, [*roles, *(role for _, role, _ in steps)], body)

    def _command(self, title: str, uploads: dict[str, str], roles: list[str], body: str) -> str:
        charged = [role for role in dict.fromkeys(roles) if role in CHARGED_ROLES]
        variables = {role: KEY_VARIABLES[(API, role)] for role in charged}
        prelude = _PRELUDE.format(
            variables=", ".join(f"${v}" for v in variables.values()),
            url=self.url,
            credits_url=self.credits_url,
            header=AUTH_HEADER[API],
            price=CREDITS_PER_SUCCESS,
            variables_by_role=variables,
            wrong_key=self.wrong_key,
            uploads=uploads,
            timeout=self.timeout,
        )
        lines = [f"# {title}"] + ([f"# {self.note}"] if self.note else [])
        return "python3 - <<'PY'\n" + "\n".join(lines) + "\n" + prelude + body + "PY"


def _request_row(label: str, spec: RequestSpec, uploads: dict[str, str]) -> tuple:
    if spec.body != "multipart":
        raise ValueError("credit scripts send multipart requests only")
    fields = {name: value if isinstance(value, str) else value.decode("latin-1") for name, value in spec.fields.items()}
    parts = {}
    for name, part in spec.files.items():
        upload = hashlib.blake2b(part.data, digest_size=6).hexdigest()
        uploads[upload] = base64.b64encode(part.data).decode("ascii")
        parts[name] = (part.filename, part.content_type, upload)
    return (label, spec.auth, fields, parts)


def _rows(rows: list[tuple]) -> str:
    """A Python list literal, one row a line."""
    return "[\n" + "".join(f"    {row!r},\n" for row in rows) + "]"

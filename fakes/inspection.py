"""The inspection API under /__fake__/: balances, keys, journal, faults, reset.

`GET /__fake__/credits` is open to every caller that sends a key (it is the balance
probe `verify --credits-url` reads). Everything else changes or reveals the fake's
state, so it is served only when the server is bound to a loopback address (nobody
else can reach it) or to callers sending the `--admin-token` in `x-admin-token`;
on loopback, web pages of other origins are kept out too (fakes.admin_access).
Every operation is a call on `FakeControl`; this module only speaks HTTP. Under
`serve --workers N` or several Ray ingress replicas every process reads and writes
one shared store (fakes.store), so any of them answers for all.
"""

from __future__ import annotations

import json

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import credential

from .admin_access import ADMIN_HEADER, check_admin_call
from .control import FakeControl, KeyExists
from .dashboard import install_dashboard
from .journal import dumps_jsonl
from .ledger import DEFAULT_CREDITS
from .provider import FakeProvider

PREFIX = "/__fake__"


def install_inspection(app: FastAPI, provider: FakeProvider, *, admin_token: str | None, loopback_only: bool) -> None:
    """Add the /__fake__/ routes. ``loopback_only``: the server is bound to a loopback address only."""
    control = FakeControl(provider)

    def admin(request: Request) -> None:
        check_admin_call(request, admin_token=admin_token, loopback_only=loopback_only)

    guarded = [Depends(admin)]
    install_dashboard(app, provider, guarded)

    @app.get(f"{PREFIX}/credits")
    def credits(request: Request):
        """The balance probe `verify --credits-url` reads: same `authorization` header as the API."""
        key = credential(Api.AITHRIVING, request.headers) or credential(Api.VYRO, request.headers)
        balance = provider.ledger.balance(key) if key else None
        if balance is None:
            return JSONResponse(
                {"detail": "unknown or missing key: send it in the `authorization` header"}, status_code=401
            )
        return {"credits": balance}

    @app.get(f"{PREFIX}/keys", dependencies=guarded)
    def list_keys():
        return {"keys": control.keys()}

    @app.post(f"{PREFIX}/keys", dependencies=guarded, status_code=201)
    async def create_key(request: Request):
        body = await _json_object(request, '{"key": "my-key", "credits": 600}')
        _only(body, ("key", "credits"))
        try:
            key, balance = control.create_key(body.get("key"), body.get("credits", DEFAULT_CREDITS))
        except KeyExists as exc:
            raise HTTPException(409, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        # The caller chose (or asked us to make) this key, so it gets it back once in clear.
        return {"key": key, "credits": balance}

    @app.put(f"{PREFIX}/keys/{{key}}", dependencies=guarded)
    async def set_balance(key: str, request: Request):
        body = await _json_object(request, '{"credits": 600}')
        _only(body, ("credits",))
        if "credits" not in body:
            raise HTTPException(400, 'expected {"credits": N} with N a whole number >= 0')
        try:
            credits = control.set_credits(key, body["credits"], create=False)
        except KeyError:
            raise HTTPException(404, "no such key: create it with POST /__fake__/keys") from None
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return {"credits": credits}

    @app.get(f"{PREFIX}/journal", dependencies=guarded)
    def journal(api: str | None = None, since: str = "0"):
        return _entries(control, api, since)

    @app.get(f"{PREFIX}/journal.jsonl", dependencies=guarded)
    def journal_jsonl(api: str | None = None, since: str = "0"):
        return Response(dumps_jsonl(_entries(control, api, since)), media_type="application/x-ndjson")

    @app.delete(f"{PREFIX}/journal", dependencies=guarded)
    def clear_journal():
        control.clear_journal()
        return {"journal": "cleared"}

    @app.get(f"{PREFIX}/faults", dependencies=guarded)
    def list_faults():
        return {"faults": control.faults()}

    @app.post(f"{PREFIX}/faults", dependencies=guarded, status_code=201)
    async def add_fault(request: Request):
        body = await _json_object(request, '{"kind": "status_500", "api": "aithriving", "count": 1}')
        try:
            fault = control.add_fault(body)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return control.describe(fault)

    @app.delete(f"{PREFIX}/faults", dependencies=guarded)
    def clear_faults():
        control.clear_faults()
        return {"faults": "cleared"}

    @app.delete(f"{PREFIX}/faults/{{fault_id}}", dependencies=guarded)
    def clear_fault(fault_id: str):
        if not fault_id.isdigit() or not control.clear_faults(int(fault_id)):
            raise HTTPException(404, f"no active fault with id {fault_id!r}: GET /__fake__/faults lists them")
        return {"cleared": int(fault_id)}

    @app.post(f"{PREFIX}/reset", dependencies=guarded)
    async def reset(request: Request):
        body = await _json_object(request, '{"balances": true}', empty_ok=True)
        _only(body, ("balances",))
        if not isinstance(body.get("balances", False), bool):
            raise HTTPException(400, f"balances must be true or false, got {body['balances']!r}")
        return control.reset(balances=body.get("balances", False))


def _entries(control: FakeControl, api: str | None, since: str) -> list[dict]:
    if not since.isdigit():
        raise HTTPException(400, f"since must be a journal entry id (a whole number >= 0), got {since!r}")
    try:
        return control.journal(api, int(since))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


async def _json_object(request: Request, example: str, *, empty_ok: bool = False) -> dict:
    body = await request.body()
    if not body.strip() and empty_ok:
        return {}
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        raise HTTPException(400, f"expected a JSON object like {example}")
    return data


def _only(body: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise HTTPException(400, f"unknown field(s) {', '.join(unknown)}: expected {', '.join(allowed)}")


__all__ = ["ADMIN_HEADER", "install_inspection"]

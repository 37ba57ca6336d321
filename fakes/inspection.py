"""The inspection API under /__fake__/: balances, keys, journal, faults, reset."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from contracts.rules import credential
from contracts import Api

from .provider import FakeProvider


def install_inspection(app: FastAPI, provider: FakeProvider, *, admin_token: str | None, loopback_only: bool) -> None:
    @app.get("/__fake__/credits")
    def credits(request: Request):
        """The balance probe `verify --credits-url` reads: same `authorization` header as the API."""
        key = credential(Api.AITHRIVING, request.headers) or credential(Api.VYRO, request.headers)
        balance = provider.ledger.balance(key) if key else None
        if balance is None:
            return JSONResponse({"detail": "unknown or missing key: send it in the `authorization` header"}, status_code=401)
        return {"credits": balance}

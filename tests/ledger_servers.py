"""AIThriving servers whose ledgers are wrong in the ways that cost money, and one that is right.

Written from the document and docs/decisions.md only: like tests/independent_server.py
(whose form reading, validation and painting they reuse) they import nothing from
contracts/ or fakes/. Each keeps its own balances, read at GET /balance with the
`authorization` header, and has at most one bug:

- ``check_then_act``: reads the balance, awaits 50 ms (a database round trip), writes
  balance - 6: overlapping successes are charged once.
- ``refund_twice``: charges 6 on arrival, refunds failures with 12.
- ``refund_after_success``: charges 6 on arrival; a failure right after a success of
  the same key is refunded 12 (the refund adds the last charge it remembers).
- ``charge_then_refuse``: checks the balance after the work: charges 6, then refuses
  (without a refund) when the balance went below 0.
- ``charge_timed_out``: charges 6 on arrival; one engine slot, 30 ms a picture; a
  request that waits over 100 ms for it is answered 429 "timed out, retry" and keeps
  its charge, so its retry is charged a second time.

With ``bug=None`` the ledger is right: the balance is checked before the work and
charged after it in one step under a lock; failures cost nothing.
"""

from __future__ import annotations

import asyncio
import base64
import threading

from independent_server import IndependentServer, Refusal
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PRICE = 6
BUGS = ("check_then_act", "refund_twice", "refund_after_success", "charge_then_refuse", "charge_timed_out")
UPFRONT = ("refund_twice", "refund_after_success", "charge_timed_out")


class LedgerServer:
    def __init__(self, keys: dict[str, int], bug: str | None = None) -> None:
        if bug not in (None, *BUGS):
            raise ValueError(f"unknown bug {bug!r}")
        self.credits = dict(keys)
        self.bug = bug
        self.lock = threading.Lock()
        self.painter = IndependentServer({})  # its form reading, validation and painting only
        self.last_charge: dict[str, int] = {}  # refund_after_success: the charge it remembers
        self.engine = asyncio.Semaphore(1)

    async def inpaint(self, request: Request) -> Response:
        key = request.headers.get("authorization", "").strip()
        if key not in self.credits:
            return self.failure(401, "unknown API key")
        body = await request.body()
        charged = False
        if self.bug in UPFRONT:
            with self.lock:
                if self.credits[key] < PRICE:
                    return self.failure(402, f"not enough credits ({self.credits[key]})")
                self.credits[key] -= PRICE
                charged = True
        elif self.bug != "charge_then_refuse" and self.credits[key] < PRICE:
            return self.failure(402, f"not enough credits ({self.credits[key]})")
        try:
            image, seed = await self.paint(request.headers.get("content-type", ""), body)
        except Refusal as refusal:
            timed_out = refusal.status == 429  # charge_timed_out keeps the charge: the work was "still going"
            if charged and not timed_out:
                self.refund(key)
            else:
                self.last_charge[key] = 0
            return self.failure(refusal.status, refusal.text)
        if not charged:
            refused = await self.charge(key)
            if refused:
                return self.failure(402, refused)
        self.last_charge[key] = PRICE
        return JSONResponse(
            {"code": 0, "message": "success", "data": {"image": base64.b64encode(image).decode(), "seed": seed}}
        )

    async def paint(self, content_type: str, body: bytes) -> tuple[bytes, int]:
        if self.bug != "charge_timed_out":
            return await run_in_threadpool(self.painter._ait_paint, content_type, body)
        try:
            await asyncio.wait_for(self.engine.acquire(), timeout=0.1)
        except asyncio.TimeoutError:
            raise Refusal(429, "timed out waiting for the engine, retry") from None
        try:
            await asyncio.sleep(0.03)
            return await run_in_threadpool(self.painter._ait_paint, content_type, body)
        finally:
            self.engine.release()

    async def charge(self, key: str) -> str | None:
        """Take the price after the work; why not, or None."""
        if self.bug == "check_then_act":
            balance = self.credits[key]
            if balance < PRICE:
                return "not enough credits"
            await asyncio.sleep(0.05)  # the round trip to the accounts database
            self.credits[key] = balance - PRICE
            return None
        with self.lock:
            if self.bug == "charge_then_refuse":
                self.credits[key] -= PRICE
                return "not enough credits" if self.credits[key] < 0 else None
            if self.credits[key] < PRICE:
                return "not enough credits"
            self.credits[key] -= PRICE
            return None

    def refund(self, key: str) -> None:
        with self.lock:
            if self.bug == "refund_twice":
                self.credits[key] += 2 * PRICE
            elif self.bug == "refund_after_success":
                self.credits[key] += PRICE + self.last_charge.get(key, 0)
            else:
                self.credits[key] += PRICE
            self.last_charge[key] = 0

    def failure(self, status: int, text: str) -> Response:
        headers = {"Retry-After": "1"} if status == 429 else None
        return JSONResponse({"code": -1, "message": text, "data": {}}, status_code=status, headers=headers)

    def balance(self, request: Request) -> Response:
        key = request.headers.get("authorization", "").strip()
        if key not in self.credits:
            return JSONResponse({"error": "unknown key"}, status_code=401)
        return JSONResponse({"credits": self.credits[key]})


def create_app(keys: dict[str, int], bug: str | None = None) -> Starlette:
    server = LedgerServer(keys, bug)
    app = Starlette(
        routes=[
            Route("/api/edit/inpaint", server.inpaint, methods=["POST"]),
            Route("/balance", server.balance, methods=["GET"]),
        ]
    )
    app.state.server = server
    return app


__all__ = ["BUGS", "LedgerServer", "create_app"]

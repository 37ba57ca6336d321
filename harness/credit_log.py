"""Where the money went: each key role's balance, event by event, as the report's credit timeline.

The runner writes an event wherever it saw a balance around something: one request
(before, after, what it should have cost), requests sent at once (their send and
answer times and the balance read while they ran), or a balance set by verify itself
(the embedded fake only). The JSON report carries the events per API and key role
(never a key); the HTML report draws them (harness/credit_chart.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .burst_record import Burst
    from .exchanges import Exchange

MAX_EVENTS = 400  # per key role; events where money went wrong are always kept (up to MAX_WRONG)
MAX_WRONG = 100


class CreditLog:
    def __init__(self) -> None:
        self.events: dict[str, list[dict]] = {}
        self.left_out: dict[str, int] = {}
        self._count = 0

    def request(self, exchange: Exchange, expected: int, *, ok: bool) -> None:
        """One request, the balance of the key it watched before and after, and what it should have cost."""
        assert exchange.credits is not None and exchange.watched is not None
        before, after = exchange.credits
        self._add(
            exchange.watched,
            {
                "kind": "request",
                "probe": exchange.probe,
                "sender": exchange.spec.auth,
                "outcome": _outcome(exchange),
                "status": exchange.response.status if exchange.response is not None else None,
                "before": before,
                "after": after,
                "charged": before - after,
                "expected": expected,
                "ok": ok,
            },
        )

    def burst(self, burst: Burst, *, expected_after: int, ok: bool) -> None:
        """Requests sent at once on one key: when each left and was answered, and the balance read meanwhile."""
        self._add(
            burst.role,
            {
                "kind": "burst",
                "probe": burst.probe,
                "sender": burst.role,
                "requests": burst.timeline(),
                "reads": [[round(ms, 1), credits] for ms, credits in burst.reads],
                "successes": burst.successes,
                "before": burst.before,
                "after": burst.after,
                "charged": burst.before - burst.after,
                "expected": burst.before - expected_after,
                "ok": ok,
            },
        )

    def set(self, role: str, before: int | None, after: int, probe: str, why: str) -> None:
        """A balance verify set itself (the embedded fake's ledger), so the next event starts from it."""
        self._add(role, {"kind": "set", "probe": probe, "before": before, "after": after, "why": why, "ok": True})

    def to_dict(self) -> dict:
        return {
            role: {"events": events, "left_out": self.left_out.get(role, 0)} for role, events in self.events.items()
        }

    def _add(self, role: str, event: dict) -> None:
        self._count += 1
        events = self.events.setdefault(role, [])
        wrong = sum(not e["ok"] for e in events)
        keep = len(events) < MAX_EVENTS or (not event["ok"] and wrong < MAX_WRONG)
        if keep:
            events.append({"n": self._count, **event})
        else:
            self.left_out[role] = self.left_out.get(role, 0) + 1


def _outcome(exchange: Exchange) -> str:
    if exchange.error:
        return "no answer"
    return exchange.outcome.value if exchange.outcome is not None else "?"

"""What requests sent at once did (harness/burst.py sends them): the record the credit probes judge
and the credit timeline (harness/credit_log.py) draws."""

from __future__ import annotations

from dataclasses import dataclass, field

from inpaint_conformance.contracts import Outcome

from .exchanges import Exchange


@dataclass
class Burst:
    probe: str
    role: str  # the key role every request was sent with
    exchanges: list[Exchange]
    sent_ms: list[float]
    answered_ms: list[float]
    before: int
    after: int
    reads: list[tuple[float, int]] = field(default_factory=list)  # (ms, balance) read while they ran

    @property
    def successes(self) -> int:
        return sum(e.succeeded for e in self.exchanges)

    @property
    def unanswered(self) -> int:
        return sum(e.error is not None for e in self.exchanges)

    @property
    def refused(self) -> int:
        return sum(e.outcome is Outcome.REFUSED for e in self.exchanges)

    @property
    def lowest(self) -> int:
        return min([self.before, self.after, *(credits for _, credits in self.reads)])

    def timeline(self) -> list[dict]:
        """Each request: its label, when it left and was answered, and what came."""
        rows = []
        for exchange, sent, answered in zip(self.exchanges, self.sent_ms, self.answered_ms, strict=True):
            rows.append(
                {
                    "label": exchange.probe.rsplit("[", 1)[-1].rstrip("]"),
                    "sent_ms": round(sent, 1),
                    "answered_ms": round(answered, 1),
                    "outcome": "no answer" if exchange.error else (exchange.outcome or Outcome.ANY).value,
                    "status": exchange.response.status if exchange.response is not None else None,
                    "error": exchange.error,
                }
            )
        return rows

    def evidence(self) -> dict:
        return {
            "burst": {
                "key": self.role,
                "requests": self.timeline(),
                "balance_before": self.before,
                "balance_after": self.after,
                "balance_reads": [[round(ms, 1), credits] for ms, credits in self.reads],
                "successes": self.successes,
            }
        }

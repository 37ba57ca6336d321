"""Requests sent at once on one key: one thread each, released together, the balance read meanwhile.

A ledger that reads a balance, works, then writes it back shows only when requests
overlap. `send_together` prepares every request the way `Runner.send` does, holds
one thread per request at a barrier, releases them together on a client of their own
(httpx.Client is thread-safe; the embedded fake answers in each thread, so its ledger
really is raced), reads the key's balance while they run, and judges each answer
afterwards like any other exchange. Nothing is retried: a 429 is a refusal, which
costs nothing (B5). Timings are milliseconds from the release.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from inpaint_conformance.contracts import Expectation, Outcome

from .exchanges import Exchange, no_answer
from .probes import RequestSpec

if TYPE_CHECKING:
    from .runner import Runner

POLL_S = 0.005  # how often the balance is read while the requests run


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


def send_together(
    runner: Runner, requests: Sequence[tuple[str, RequestSpec, str | Expectation]], role: str
) -> Burst | None:
    """Send every (label, spec, expectation) at once; ``role``: the key whose balance is read around them
    and meanwhile. None when that balance cannot be read (the runner has marked the credit clauses)."""
    prepared = []
    for label, spec, expect in requests:
        exchange, outgoing = runner.prepare(spec, expect=expect, label=label)
        exchange.watched = None  # the burst is judged as a whole: no balance around each request
        prepared.append((exchange, outgoing))
    before = runner.balance(role)
    if before is None:
        return None
    key = runner.key(role)
    assert key is not None, "a role with a balance has a key"
    target, api = runner.target, runner.api
    reads: list[tuple[float, int]] = []

    def read_balance() -> int | None:
        try:
            return target.balance(api, key)
        except Exception:  # a failed read mid-burst leaves a gap in the timeline, nothing more
            return None

    with runner.target.new_client() as client:  # its own connections: balance reads go through `send` meanwhile
        answers, sent, answered = _fire(client, [outgoing for _, outgoing in prepared], read_balance, reads)
    after = runner.balance(role)
    if after is None:
        return None
    exchanges = []
    for (exchange, _), answer in zip(prepared, answers, strict=True):
        if isinstance(answer, str):
            exchange.error = answer
        else:
            runner.judge(exchange, answer)
        runner.finish(exchange)
        exchanges.append(exchange)
    return Burst(runner.current_probe, role, exchanges, sent, answered, before, after, reads)


def _fire(client: httpx.Client, requests: list[httpx.Request], read_balance, reads: list) -> tuple[list, list, list]:
    """Send all requests at once; each answer (read in full) or why none came, and the send/answer times."""
    count = len(requests)
    gate = threading.Barrier(count + 1)
    answers: list[httpx.Response | str] = ["not sent"] * count
    sent, answered = [0.0] * count, [0.0] * count
    start = [0.0]

    def one(index: int) -> None:
        gate.wait()
        sent[index] = (time.perf_counter() - start[0]) * 1000
        try:
            response = client.send(requests[index])
            response.read()
            answers[index] = response
        except httpx.TransportError as exc:
            answers[index] = no_answer(exc, client)
        answered[index] = (time.perf_counter() - start[0]) * 1000

    threads = [threading.Thread(target=one, args=(i,), name=f"burst-{i}", daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    start[0] = time.perf_counter()
    gate.wait()
    while any(thread.is_alive() for thread in threads):
        credits = read_balance()
        if credits is not None:
            reads.append(((time.perf_counter() - start[0]) * 1000, credits))
        time.sleep(POLL_S)
    return answers, sent, answered

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
from typing import TYPE_CHECKING

import httpx

from inpaint_conformance.contracts import Expectation

from .burst_record import Burst
from .exchanges import no_answer
from .request_spec import RequestSpec

if TYPE_CHECKING:
    from .probe_context import CreditProbeContext

POLL_S = 0.005  # how often the balance is read while the requests run


def send_together(
    runner: CreditProbeContext, requests: Sequence[tuple[str, RequestSpec, str | Expectation]], role: str
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

"""Credits under concurrency and over sequences (A17, A18): what one request at a time cannot show.

- `credits_overlap`: 8 requests at once on the main key, 5 valid and 3 the contracts
  refuse: the balance falls by exactly 6 per success seen, and each gets one answer
  (ait.credits.concurrent).
- `credits_double_spend`: 8 valid requests at once on a key holding credits for at
  most 2 results (the embedded fake sets it; a remote second key is used as it is when
  it holds 6 to 17 credits, or drained down to that within what --max-credits leaves
  over the plan): at most that many succeed, never below 0 (ait.credits.no_overdraft).
- `credits_sequences`: the state machine of harness/ledger_machine.py, --examples
  sequences of up to SEQUENCE_STEPS steps (ait.credits.sequence); on a remote server its
  successes are capped by the budget declared here (one per sequence, and the replays'
  reserve); on the embedded fake, whose credits cost nothing, they are not.

Each failure carries the timeline (or the shortest failing sequence) as evidence and a
script that replays it (harness/credit_scripts.py).
"""

from __future__ import annotations

import math

from inpaint_conformance.contracts import Api, Violation
from inpaint_conformance.contracts.credits import (
    CONCURRENT,
    NO_OVERDRAFT,
    SEQUENCE,
    check_double_spend,
    check_overlap,
    results_affordable,
)
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS, PATHS

from .burst import Burst, send_together
from .credit_scripts import ScriptBook
from .ledger_machine import REPLAY_SUCCESSES, request_for, run_ledger_machine
from .probe_context import CreditProbeContext
from .probes import probe

AIT = Api.AITHRIVING
OVERLAP = ("valid", "seed-out-of-range", "valid", "no-prompt", "valid", "output-format-gif", "valid", "valid")
OVERLAP_SUCCESSES = OVERLAP.count("valid")
DOUBLE_SPEND_REQUESTS = 8
DOUBLE_SPEND_RESULTS = 2  # the key holds credits for at most this many results
HIGHEST_START = (DOUBLE_SPEND_RESULTS + 1) * CREDITS_PER_SUCCESS - 1
SEQUENCE_STEPS = 10


def sequence_successes(examples: int) -> int:
    """Successes the state machine may cause on a remote server: one per drawn sequence, and the
    replays that confirm a failure."""
    return examples + REPLAY_SUCCESSES if examples > 0 else 0


def _scripts(ctx: CreditProbeContext) -> ScriptBook | None:
    credits_url = ctx.target.reproduce_credits_url
    if credits_url is None:
        return None
    reproducer = ctx.reproducer
    url = ctx.target.reproduce_origin.rstrip("/") + PATHS[ctx.api]
    timeout = ctx.target.client.timeout.read or 60.0
    return ScriptBook(url, credits_url, wrong_key=reproducer.wrong_key, timeout=timeout, note=reproducer.note)


def _judge(
    ctx: CreditProbeContext, burst: Burst, found: list[Violation], expected_after: int, script: str | None
) -> None:
    ctx.credit_log.burst(burst, expected_after=expected_after, ok=not found)
    for violation in found:
        ctx.violate(violation, evidence=burst.evidence(), reproduce=script)


@probe(AIT, successes=OVERLAP_SUCCESSES)
def credits_overlap(ctx: CreditProbeContext) -> None:
    if not ctx.credits_observable:
        return  # the runner explains: no --credits-url
    requests = [(f"{kind}-{i}", request_for(kind, "main"), "auto") for i, kind in enumerate(OVERLAP, 1)]
    burst = send_together(ctx, requests, "main")
    if burst is None:
        return
    found = check_overlap(burst.before, burst.after, burst.successes, len(requests), burst.unanswered)
    books = _scripts(ctx)
    title = f"{CONCURRENT}: {len(requests)} requests at once on one key; the balance must fall by 6 per success"
    script = books.burst(title, "main", [(label, spec) for label, spec, _ in requests], "overlap") if books else None
    _judge(ctx, burst, found, burst.before - CREDITS_PER_SUCCESS * burst.successes, script)
    if found:
        return
    if burst.successes < 2:
        ctx.skip(
            CONCURRENT,
            f"only {burst.successes} of the {OVERLAP_SUCCESSES} valid requests sent at once succeeded "
            f"({burst.refused} refused for rate or size): no overlapping charges to compare",
            "rerun when the server does not refuse for rate (B5)",
        )
        return
    spent = burst.before - burst.after
    ctx.exercise(
        CONCURRENT,
        f"{len(requests)} requests at once, {burst.successes} succeeded: charged {spent} = "
        f"{CREDITS_PER_SUCCESS} x {burst.successes}, each answered",
    )


@probe(AIT, successes=DOUBLE_SPEND_RESULTS)
def credits_double_spend(ctx: CreditProbeContext) -> None:
    if not ctx.credits_observable:
        return
    if not ctx.has_key("second"):
        ctx.skip(NO_OVERDRAFT, *ctx.target.missing_key("second"))
        return
    original = ctx.balance("second")
    start = _small_balance(ctx, original)
    if start is None:
        return
    try:
        spec = request_for("valid", "second")
        # Which of them succeed is a race: each alone may be served or refused for credits.
        requests = [(f"valid-{i}", spec, "any") for i in range(1, DOUBLE_SPEND_REQUESTS + 1)]
        burst = send_together(ctx, requests, "second")
        if burst is None:
            return
        found = check_double_spend(burst.before, burst.after, burst.successes, len(requests), burst.lowest)
        books = _scripts(ctx)
        title = (
            f"{NO_OVERDRAFT}: {len(requests)} requests at once on a key holding credits for "
            f"{results_affordable(burst.before)}: no more successes, never below 0"
        )
        pairs = [(label, s) for label, s, _ in requests]
        script = books.burst(title, "second", pairs, "double-spend") if books else None
        _judge(ctx, burst, found, burst.before - CREDITS_PER_SUCCESS * burst.successes, script)
        if found:
            return
        if burst.successes == 0:
            ctx.skip(
                NO_OVERDRAFT,
                f"none of the {len(requests)} requests sent at once succeeded ({burst.refused} refused for rate "
                f"or size) although the key could pay for {results_affordable(burst.before)}",
                "rerun when the server does not refuse for rate (B5)",
            )
            return
        ctx.exercise(
            NO_OVERDRAFT,
            f"{len(requests)} requests at once on a key holding {burst.before} credits: {burst.successes} "
            f"succeeded, balance {burst.before} -> {burst.after}, never below 0",
        )
    finally:
        if original is not None and ctx.target.embedded:
            _restore(ctx, "second", original)


def _small_balance(ctx: CreditProbeContext, balance: int | None) -> int | None:
    """Bring the second key to credits for 1..DOUBLE_SPEND_RESULTS results; its balance, or None (skipped)."""
    key = ctx.key("second")
    if balance is None or key is None:
        return None
    wanted = DOUBLE_SPEND_RESULTS * CREDITS_PER_SUCCESS
    if ctx.target.set_credits(ctx.api, key, wanted):
        ctx.credit_log.set("second", balance, wanted, ctx.current_probe, "credits for exactly 2 results")
        return wanted
    if CREDITS_PER_SUCCESS <= balance <= HIGHEST_START:
        return balance
    fix = (
        f"pass as the second --api-key a key holding {CREDITS_PER_SUCCESS} to {HIGHEST_START} credits, or "
        "--max-credits with room over the plan for verify to drain it"
    )
    if balance < CREDITS_PER_SUCCESS:
        ctx.skip(NO_OVERDRAFT, f"the second key holds {balance} credits, not enough for one result", fix)
        return None
    drains = math.ceil((balance - HIGHEST_START) / CREDITS_PER_SUCCESS)
    cost = drains * CREDITS_PER_SUCCESS
    if cost > ctx.spare_credits:
        ctx.skip(
            NO_OVERDRAFT,
            f"the second key holds {balance} credits; draining it to {HIGHEST_START} would cost {cost} credits, "
            f"and --max-credits leaves {ctx.spare_credits} over the plan",
            fix,
        )
        return None
    for number in range(1, drains + 1):
        ctx.spare_credits -= CREDITS_PER_SUCCESS
        ctx.send(request_for("valid", "second"), label=f"drain-{number}")
    drained = ctx.balance("second")
    if drained is None or not CREDITS_PER_SUCCESS <= drained <= HIGHEST_START:
        ctx.skip(NO_OVERDRAFT, f"draining the second key left it at {drained} credits, not {HIGHEST_START} or less")
        return None
    return drained


def _restore(ctx: CreditProbeContext, role: str, credits: int) -> None:
    key = ctx.key(role)
    before = ctx.balance(role)
    if key is not None and ctx.target.set_credits(ctx.api, key, credits):
        ctx.credit_log.set(role, before, credits, ctx.current_probe, "back to the balance before the probe")


@probe(AIT, successes=sequence_successes)
def credits_sequences(ctx: CreditProbeContext) -> None:
    if not ctx.credits_observable:
        return
    if ctx.examples <= 0:
        ctx.skip(SEQUENCE, "--examples 0: no sequence of requests was drawn", "pass --examples N with N > 0")
        return
    budget = None if ctx.target.embedded else ctx.examples  # the embedded fake's credits cost nothing
    run = run_ledger_machine(ctx, examples=ctx.examples, steps=SEQUENCE_STEPS, budget=budget, seed=ctx.hypothesis_seed)
    if run.unavailable:
        return  # the runner marked the credit clauses unverified with the reason
    failure = run.failure
    if failure is not None:
        books = _scripts(ctx)
        title = f"{SEQUENCE}: {len(failure.steps)} steps; every balance must follow A17/A18 after each"
        steps = [(step.label, step.role, step.spec) for step in failure.steps]
        script = books.sequence(title, run.roles, steps) if books else None
        again = "failed twice more when replayed" if run.shortest else "did not fail again when replayed"
        detail = f"{failure.message} (shortest failing sequence: {_count(len(failure.steps), 'step')}, {again})"
        ctx.violate(Violation(SEQUENCE, detail), evidence=failure.evidence(), reproduce=script)
        return
    if run.requests == 0:
        ctx.skip(SEQUENCE, "no request of the drawn sequences was sent")
        return
    ctx.exercise(
        SEQUENCE,
        f"{_count(run.sequences, 'sequence')} of requests, {_count(run.steps, 'step')} over the "
        f"{', '.join(run.roles)} keys: every balance followed the ledger after every step",
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"

"""A17/A18 over many exchanges: requests at once on one key, and the ledger a sequence must follow.

`check_charge` (contracts/sequences.py) judges one request by the balance around it.
This module judges what only several requests show: overlapping requests charged as
if they came one after another (`check_overlap`), a key that cannot pay for all the
requests it sends at once (`check_double_spend`), and a sequence of requests against
the model of A17/A18 (`LedgerModel`): 6 credits per success of the key that sent it,
nothing for a failure, a key with fewer than 6 credits served nothing, no key moved by
another key's request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .rules import CREDITS_PER_SUCCESS
from .violations import Violation

CONCURRENT = "ait.credits.concurrent"
NO_OVERDRAFT = "ait.credits.no_overdraft"
SEQUENCE = "ait.credits.sequence"


def results_affordable(balance: int) -> int:
    """How many successes a key holding ``balance`` credits can pay for (A17)."""
    return max(0, balance) // CREDITS_PER_SUCCESS


def check_overlap(before: int, after: int, successes: int, sent: int, unanswered: int) -> list[Violation]:
    """``sent`` requests at once on one key, ``successes`` of them served: the balance fell by 6 per success."""
    found = []
    if unanswered:
        found.append(
            Violation(CONCURRENT, f"{unanswered} of {sent} requests sent at once got no answer: expected one each")
        )
    expected = before - CREDITS_PER_SUCCESS * successes
    if after != expected:
        found.append(
            Violation(
                CONCURRENT,
                f"{sent} requests at once, {successes} succeeded: the balance went {before} -> {after} "
                f"(charged {before - after}), expected {expected} ({CREDITS_PER_SUCCESS} per success, 0 per failure)",
            )
        )
    if min(before, after) < 0:
        found.append(Violation(NO_OVERDRAFT, f"the balance went below 0: {before} -> {after}"))
    return found


def check_double_spend(start: int, after: int, successes: int, sent: int, lowest: int | None = None) -> list[Violation]:
    """``sent`` requests at once on a key that can pay for fewer: at most what it can pay succeeds, no overdraft."""
    found = []
    affordable = results_affordable(start)
    if successes > affordable:
        found.append(
            Violation(
                NO_OVERDRAFT,
                f"a key holding {start} credits (enough for {affordable} result{'s' if affordable != 1 else ''}) "
                f"got {successes} successes out of {sent} requests sent at once",
            )
        )
    seen = min(after, lowest) if lowest is not None else after
    if seen < 0:
        found.append(Violation(NO_OVERDRAFT, f"the balance went below 0 (to {seen}) under {sent} requests at once"))
    expected = start - CREDITS_PER_SUCCESS * successes
    if after != expected:
        found.append(
            Violation(
                NO_OVERDRAFT,
                f"after {successes} successes the balance is {after}, expected {expected} "
                f"({start} - {CREDITS_PER_SUCCESS} x {successes})",
            )
        )
    return found


@dataclass
class LedgerModel:
    """Each key's balance as A17/A18 say it must be, after the answers seen so far."""

    balances: dict[str, int] = field(default_factory=dict)

    def can_pay(self, key: str) -> bool:
        return self.balances.get(key, 0) >= CREDITS_PER_SUCCESS

    def answered(self, key: str | None, succeeded: bool) -> Violation | None:
        """Book one answer of a request ``key`` sent (None: no key, or one the model does not hold).

        A success costs its sender 6, anything else nothing; a success for a key that
        could not pay is itself a violation (returned), and is booked all the same.
        """
        if key is None or key not in self.balances or not succeeded:
            return None
        before = self.balances[key]
        self.balances[key] = before - CREDITS_PER_SUCCESS
        if before < CREDITS_PER_SUCCESS:
            return Violation(
                SEQUENCE, f"the {key} key held {before} credits, fewer than {CREDITS_PER_SUCCESS}, and was served"
            )
        return None

    def compare(self, observed: dict[str, int]) -> list[Violation]:
        """Each observed balance that is not the model's. The model goes below 0 only by a success
        `answered` flagged, so a balance equal to it is never newly negative; one already negative
        before the sequence began is the earlier requests' doing, not the sequence's."""
        found = []
        for key, expected in self.balances.items():
            seen = observed.get(key, expected)
            if seen != expected:
                below = " (below 0)" if seen < 0 else ""
                found.append(
                    Violation(
                        SEQUENCE,
                        f"the {key} key's balance is {seen}{below}, expected {expected} ({seen - expected:+d})",
                    )
                )
        return found

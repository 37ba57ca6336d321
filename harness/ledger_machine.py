"""A17/A18 as a state machine: random sequences of requests, every key's balance checked after each step.

The rules are requests through the runner (so every answer is judged like any probe's):
a valid request, each kind of failure, with any key the run has (main, second, low),
no key or a made-up one, and balance reads. The model is `contracts.credits.LedgerModel`;
after every step each key's balance must equal the model's (never negative, never moved
by another key's request). On the embedded fake the second and low keys start from
drawn small balances (so keys run dry and insufficient-credit paths are walked); on a
remote server the balances are read, and successes are capped by a budget the plan
declared (`--max-credits` accounts for it).

Hypothesis draws the sequences and stops at the first that fails. Its shrinker is not
used: it assumes a run depends on nothing before it, and a server keeps state between
sequences (a refund that adds "the last charge it remembers" fails one step after an
earlier sequence's success), so it would shrink to a sequence that failed once, by luck.
Instead steps are dropped from the failing sequence, one at a time, while what is left
fails twice in a row when replayed: what remains is reported, with a script replaying it
(harness/credit_scripts.py). The replays send at most REPLAY_REQUESTS requests. A drawn
failure that does not fail again alone (it needed what came before it) is shrunk again
with the earlier sequences of its run before it; failing that it is kept, and up to
ROUNDS - 1 more runs draw other sequences for one that does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from inpaint_conformance.contracts import Expectation, Violation
from inpaint_conformance.contracts.credits import LedgerModel
from inpaint_conformance.contracts.rules import CREDITS_PER_SUCCESS

from .credentials import CHARGED_ROLES
from .probe_images import corrupt_png
from .request_spec import RequestSpec, upload, valid_spec

if TYPE_CHECKING:
    from .probe_context import CreditProbeContext

SIZE = (64, 64)  # the smallest side every server must serve (B4): fast, and a short reproducer
REPLAY_REQUESTS = 200  # requests the replays that shrink a failing sequence may send
ROUNDS = 3  # hypothesis runs (seeds seed, seed + 1, ...) until a failing sequence fails again when replayed
REPLAY_SUCCESSES = 10  # successes they may cause on a remote server, over the sequences' own
# Balances the embedded fake's keys start from (drawn): runs dry within a few successes.
FUNDED = {"second": (0, 5 * CREDITS_PER_SUCCESS - 1), "low": (0, CREDITS_PER_SUCCESS - 1)}
REFUSED_KINDS = ("seed-out-of-range", "no-prompt", "output-format-gif", "corrupt-image", "no-mask-no-alpha")
UNAUTHENTICATED = ("none", "wrong")


def request_for(kind: str, role: str) -> RequestSpec:
    """The request a step sends: valid, or broken one way the contracts say a server must refuse."""
    spec = valid_spec(SIZE).but(auth=role)
    if kind == "seed-out-of-range":
        return spec.but(seed="-1")
    if kind == "no-prompt":
        return spec.but(drop=("prompt",))
    if kind == "output-format-gif":
        return spec.but(output_format="gif")
    if kind == "corrupt-image":
        return spec.but(files={"image": upload(corrupt_png(), "png")})
    if kind == "no-mask-no-alpha":
        return spec.but(drop=("mask",))
    return spec


@dataclass
class Step:
    rule: str  # the machine's rule, to replay the step: pay, refused, stranger, read_balance
    kind: str  # the rule's kind of request ("seed-out-of-range", "wrong", ...)
    label: str
    role: str
    spec: RequestSpec | None  # None: a balance read
    said: str = ""  # what came
    balances: dict[str, int] = field(default_factory=dict)  # every key's balance after the step
    expected: dict[str, int] = field(default_factory=dict)  # the model's

    def to_dict(self) -> dict:
        return {
            "step": self.label,
            "key": self.role,
            "answer": self.said,
            "balances": self.balances,
            "expected": self.expected,
        }


@dataclass
class SequenceFailure:
    start: dict[str, int]
    steps: list[Step]
    message: str
    roles: tuple[str, ...] = ()  # the keys whose balance went wrong

    @property
    def requests(self) -> int:
        return sum(step.spec is not None for step in self.steps)

    def describe(self) -> str:
        lines = [f"start: {self.start}"]
        for number, step in enumerate(self.steps, 1):
            lines.append(f"{number}. {step.label} ({step.role} key): {step.said}; balances {step.balances}")
        return "\n".join(lines + [self.message])

    def evidence(self) -> dict:
        return {"sequence": {"start": self.start, "steps": [s.to_dict() for s in self.steps], "broke": self.message}}


@dataclass
class MachineRun:
    roles: list[str]
    sequences: int = 0
    steps: int = 0
    requests: int = 0
    found: SequenceFailure | None = None  # the first failing sequence drawn
    drawn: SequenceFailure | None = None  # the failing sequence of the current round
    history: list[Step] = field(default_factory=list)  # the steps of the round's sequences before the current one
    current: list[Step] = field(default_factory=list)  # the steps of the sequence being drawn
    shortest: SequenceFailure | None = None  # what is left of it that fails twice in a row when replayed
    unavailable: bool = False  # a balance could not be read: nothing was judged

    @property
    def failure(self) -> SequenceFailure | None:
        """What to report: the shortest sequence that failed again when replayed, else the one drawn."""
        return self.shortest or self.found


class _Budget:
    """Successes the machine may cause (None: unlimited, the embedded fake's credits cost nothing);
    replays that confirm a failure draw on a reserve of their own."""

    def __init__(self, successes: int | None) -> None:
        self.left = {False: successes, True: REPLAY_SUCCESSES if successes is not None else None}

    def take(self, replaying: bool) -> bool:
        left = self.left[replaying]
        if left is None:
            return True
        if left <= 0:
            return False
        self.left[replaying] = left - 1
        return True


def run_ledger_machine(
    runner: CreditProbeContext, *, examples: int, steps: int, budget: int | None = None, seed: int = 0
) -> MachineRun:
    """Draw ``examples`` sequences of up to ``steps`` steps against the runner's target; shrink a failure."""
    roles = [role for role in CHARGED_ROLES if runner.has_key(role)]
    run = MachineRun(roles)
    originals = {role: runner.balance(role) for role in roles}
    if any(value is None for value in originals.values()):
        run.unavailable = True
        return run
    machine = _machine_class(runner, run, _Budget(budget))
    options = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
        report_multiple_bugs=False,
    )
    replays_left = [REPLAY_REQUESTS]  # shared by every round's replays
    try:
        for attempt in range(ROUNDS):
            run.drawn, run.history, run.current = None, [], []
            try:
                run_state_machine_as_test(hypothesis_seed(seed + attempt)(machine), settings=options)
            except Exception:
                if run.drawn is None:
                    raise  # not a ledger failure: a harness bug, which the runner reports as one
            if run.drawn is None:
                break  # every sequence held
            run.found = run.found or run.drawn
            run.shortest = _shrink(machine, run.drawn, replays_left)
            if run.shortest is None and run.history:
                # It needed what came before it: the earlier sequences of the round may hold that (a server
                # that remembers a key's last charge for its refund), and with them it may fail every time.
                drawn = run.drawn
                joined = SequenceFailure(drawn.start, run.history + drawn.steps, drawn.message, drawn.roles)
                run.shortest = _shrink(machine, joined, replays_left)
            if run.shortest is not None:
                break  # else it failed only after what came before it: draw again
    finally:
        for role, credits in originals.items():  # the embedded fake's funded keys as later probes expect them
            if credits is not None and role in FUNDED:
                _set_credits(runner, role, credits, "the sequences are over: back to the balance before them")
    return run


def _shrink(machine, found: SequenceFailure, left: list[int]) -> SequenceFailure | None:
    """The shortest part of ``found`` that fails twice in a row when replayed; None if no part does.

    Replays cost requests (and, on a remote server, credits), so the likeliest cuts are tried
    first and the whole sequence last: the shortest tail (what came before is noise) of the
    requests of the keys whose balance went wrong (a ledger bug usually lives in one key's
    history), then the whole; then single steps are dropped while it still fails.
    """

    def twice(steps: list[Step]) -> SequenceFailure | None:
        requests = sum(step.spec is not None for step in steps)
        if requests == 0:
            return None
        for _ in range(2):
            if requests > left[0]:
                return None
            left[0] -= requests
            failed = _replay(machine, found.start, steps)
            if failed is None:
                return None
        return failed

    own = [step for step in found.steps if step.spec is not None and step.role in found.roles]
    base = own if own and len(own) < len(found.steps) else found.steps
    best = None
    for keep in range(1, len(base) + 1):
        best = twice(base[-keep:])
        if best is not None:
            break
    best = best or (twice(found.steps) if base is own else None)
    if best is None:
        return None
    improved = True
    while improved:
        improved = False
        for index in range(len(best.steps) - 1):  # single steps, never the one that fails
            shorter = twice(best.steps[:index] + best.steps[index + 1 :])
            if shorter is not None:  # it stops at the step that fails: anything after it is gone too
                best, improved = shorter, True
                break
    return best


def _replay(machine, start: dict[str, int], steps: list[Step]) -> SequenceFailure | None:
    """Run recorded steps again, outside hypothesis, from the same drawn balances; the failure met, or None."""
    state = machine()
    state.replaying = True
    try:
        state.start_balances(drawn={role: start[role] for role in FUNDED if role in start})
        for step in steps:
            if step.rule in ("pay", "read_balance"):
                getattr(state, step.rule)(role=step.role)
            elif step.rule == "refused":
                state.refused(kind=step.kind, role=step.role)
            else:
                state.stranger(kind=step.kind)
            state.balances_follow_the_ledger()
    except AssertionError:
        return state.failed
    return None


def _set_credits(runner: CreditProbeContext, role: str, credits: int, why: str) -> bool:
    """Set a key's balance where the target allows it (the embedded fake), with an event in the timeline."""
    key = runner.key(role)
    if key is None or not runner.target.sets_credits:
        return False
    before = runner.balance(role)
    if not runner.target.set_credits(runner.api, key, credits):
        return False
    runner.credit_log.set(role, before, credits, runner.current_probe, why)
    return True


def _machine_class(runner: CreditProbeContext, run: MachineRun, budget: _Budget):
    roles = st.sampled_from(run.roles)
    fundable = {role: bounds for role, bounds in FUNDED.items() if role in run.roles}

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model = LedgerModel()
            self.start: dict[str, int] = {}
            self.steps: list[Step] = []
            self.replaying = False  # a recorded sequence run again to confirm it (not hypothesis)
            self.failed: SequenceFailure | None = None
            run.sequences += 1

        @property
        def idle(self) -> bool:
            """Nothing to do: no balances (before the start, or unreadable)."""
            return not self.model.balances

        @initialize(drawn=st.fixed_dictionaries({role: st.integers(*b) for role, b in fundable.items()}))
        def start_balances(self, drawn: dict[str, int]) -> None:
            if not self.replaying:
                run.history += run.current  # the sequence drawn before this one
                run.current = self.steps
            for role in run.roles:
                if role in drawn and _set_credits(runner, role, drawn[role], "a sequence starts"):
                    self.start[role] = drawn[role]
                    continue
                credits = runner.balance(role)
                if credits is None:
                    run.unavailable = True
                    return
                self.start[role] = credits
            self.model = LedgerModel(dict(self.start))

        # Rule names sort as hypothesis' simplest sequence picks them (the first by name, again and again):
        # a valid request first, so even a run of one example sends something that costs money.
        @rule(role=roles)
        def pay(self, role: str) -> None:
            if self.idle:
                return
            if self.model.can_pay(role):
                if not budget.take(self.replaying):
                    return  # the declared successes are spent: a success would cost more than planned
                expect: str | Expectation = "auto"
            else:
                poor = Violation(
                    "ait.credits.insufficient", f"the {role} key holds {self.model.balances[role]} credits"
                )
                expect = Expectation.failure(poor)
            self._send("pay", "valid", role, request_for("valid", role), expect)

        @rule(kind=st.sampled_from(REFUSED_KINDS), role=roles)
        def refused(self, kind: str, role: str) -> None:
            if not self.idle:
                self._send("refused", kind, role, request_for(kind, role), "auto")

        @rule(kind=st.sampled_from(UNAUTHENTICATED))
        def stranger(self, kind: str) -> None:
            if not self.idle:
                unknown = Expectation.failure(Violation("ait.auth.invalid", "the key is unknown to the server"))
                expect = unknown if kind == "wrong" else "auto"
                self._send("stranger", kind, kind, request_for("valid", kind), expect)

        @rule(role=roles)
        def read_balance(self, role: str) -> None:
            if not self.idle:
                self.steps.append(Step("read_balance", "read", "balance read", role, None, "balance read"))
                run.steps += 1

        @invariant()
        def balances_follow_the_ledger(self) -> None:
            if self.idle or not self.steps:
                return
            observed = {}
            for role in self.model.balances:
                credits = runner.balance(role)
                if credits is None:
                    run.unavailable = True
                    self.model.balances.clear()
                    return
                observed[role] = credits
            step = self.steps[-1]
            step.balances, step.expected = observed, dict(self.model.balances)
            found = self.model.compare(observed)
            if found:
                wrong = tuple(role for role, credits in observed.items() if credits != self.model.balances[role])
                self._fail("; ".join(v.message for v in found) + f" after step {len(self.steps)}", wrong)

        def _send(self, rule: str, kind: str, role: str, spec: RequestSpec, expect: str | Expectation) -> None:
            label = f"{kind}-key" if rule == "stranger" else kind
            step = Step(rule, kind, label, role, spec)
            self.steps.append(step)
            run.steps += 1
            run.requests += 1
            watch = role if role in self.model.balances else "main"
            exchange = runner.send(spec, expect=expect, watch_balance=watch, label=f"{label}@{role}")
            step.said = exchange.observed()
            broke = self.model.answered(role, exchange.succeeded)
            if broke is not None:
                step.balances = {}
                self._fail(f"{broke.message} at step {len(self.steps)}", (role,))

        def _fail(self, message: str, roles: tuple[str, ...]) -> None:
            self.failed = SequenceFailure(dict(self.start), list(self.steps), message, roles)
            if not self.replaying and run.drawn is None:
                run.drawn = self.failed
            raise AssertionError(message)

    return LedgerMachine

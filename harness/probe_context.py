"""What a probe sees of a run: send requests, mark clauses, ask for keys and balances.

`Runner` implements it; probes depend on this protocol only, so the engine can change
(or a test can stand in for it) without touching a probe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from inpaint_conformance.contracts import Api, Expectation, Violation

if TYPE_CHECKING:
    import httpx

    from inpaint_conformance.contracts import HttpResponse

    from .credit_log import CreditLog
    from .exchanges import Exchange
    from .reproduce import Reproducer
    from .request_spec import RequestSpec
    from .target import Target


class ProbeContext(Protocol):
    api: Api
    p: str  # the API's clause-id prefix ("ait", "vyro")
    examples: int  # hypothesis examples per property
    hypothesis_seed: int

    def send(
        self,
        spec: RequestSpec,
        *,
        focus: tuple[str, ...] = (),
        expect: str | Expectation = "auto",
        watch_balance: str | None = None,
        label: str = "",
    ) -> Exchange:
        """Send one request; every clause its answer was judged on is tallied."""
        ...

    def exercise(self, clause_id: str, observed: str, *exchanges: Exchange) -> None:
        """A check of this clause ran and held (for rules over several exchanges)."""
        ...

    def violate(self, violation: Violation, exchange: Exchange | None = None) -> None: ...

    def skip(self, clause_id: str, reason: str, fix: str | None = None) -> None:
        """This clause could not be judged here ("unverified"): why, and what would let it be judged."""
        ...

    def not_exercised(self, clause_id: str, reason: str) -> None: ...

    def key(self, role: str) -> str | None: ...

    def has_key(self, role: str) -> bool: ...

    def missing_key(self, role: str) -> tuple[str, str]:
        """Why a probe needing this key role cannot run, and the flag that would let it."""
        ...

    def near_miss_roles(self) -> list[str]: ...

    @property
    def credits_observable(self) -> bool: ...

    def balance(self, role: str) -> int | None: ...


class CreditProbeContext(ProbeContext, Protocol):
    """What the credit probes see beyond a plain probe (harness/probes_credits.py, burst.py,
    ledger_machine.py): requests prepared, sent together and judged apart, the target's own
    means to set a balance and to be replayed, and the run's credit timeline."""

    current_probe: str
    reproducer: Reproducer
    spare_credits: int  # what --max-credits leaves over the plan: a probe may drain a key with it
    credit_log: CreditLog
    target: Target

    def violate(
        self,
        violation: Violation,
        exchange: Exchange | None = None,
        *,
        evidence: dict | None = None,
        reproduce: str | None = None,
    ) -> None: ...

    def prepare(
        self,
        spec: RequestSpec,
        *,
        focus: tuple[str, ...] = (),
        expect: str | Expectation = "auto",
        watch_balance: str | None = None,
        label: str = "",
    ) -> tuple[Exchange, httpx.Request]: ...

    def judge(self, exchange: Exchange, raw: httpx.Response) -> HttpResponse: ...

    def finish(self, exchange: Exchange) -> None: ...

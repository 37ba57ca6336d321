"""Sending probe requests and judging the answers with the contracts.

`Runner.send` builds a request, judges what it sends with `validate_request`, sends it
(waiting out 429s as Retry-After says), judges the answer with `validate_response`,
checks what it cost, and hands the tally what the validators report: the clauses
they judged (`ResponseVerdict.checked`), those broken, and those they could not judge
and why. The runner never decides itself which clauses an answer covers. Probes only
say what to send, which clauses they are about and what a correct server answers.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable

import httpx

from inpaint_conformance.contracts import (
    Api,
    Expectation,
    Headers,
    HttpResponse,
    Level,
    Outcome,
    RequestVerdict,
    ResponseVerdict,
    Violation,
    validate_request,
    validate_response,
)
from inpaint_conformance.contracts.catalog import credit_clauses
from inpaint_conformance.contracts.response_validation import server_error_floor
from inpaint_conformance.contracts.sequences import UNCHARGED_WHEN_REFUSED, check_charge, expected_charge

from .credentials import CHARGED_ROLES, NEAR_MISSES, auth_header, near_miss
from .credit_log import CreditLog
from .exchanges import Exchange, build_request, no_answer
from .pictures import PictureBook
from .probe_registry import probes_for
from .probes import ProbeDef
from .redaction import Redactor
from .reproduce import Reproducer
from .request_spec import RequestSpec
from .results import ClauseResult
from .tally import Tally
from .target import CreditsUnavailable, Target

MAX_RETRIES = 3
__all__ = ["Exchange", "Runner"]


class Runner:
    """Runs the probes of one API against one target.

    Probes call `send` (optionally watching a key's balance around the request),
    `exercise` and `violate` (for rules over several exchanges), `skip` (a clause
    they cannot judge, with the flag that would let them) and `not_exercised`.
    """

    def __init__(
        self,
        target: Target,
        api: Api,
        *,
        examples: int,
        hypothesis_seed: int,
        reproducer: Reproducer,
        max_retries: int = MAX_RETRIES,
        pictures: bool = True,
        debug: bool = False,
        spare_credits: int = 0,
    ) -> None:
        """``debug``: a crashed probe's error keeps its whole traceback, not only `type: message`."""
        self.target, self.api, self.p = target, api, api.prefix
        self.examples, self.hypothesis_seed = examples, hypothesis_seed
        self.tally = Tally(api)
        self.reproducer = reproducer
        self.max_retries = max_retries
        self.current_probe = "?"
        self.harness_errors: list[str] = []
        self.debug = debug
        keys = [self.target.key(api, role) for role in CHARGED_ROLES]
        self.redactor = Redactor([*keys, *(near_miss(role, k) for k in keys for role in NEAR_MISSES)])
        # Pictures cost about a quarter of a default run: kept only for a report that shows them.
        self.pictures = PictureBook() if pictures else None
        self.credit_log = CreditLog()  # every balance seen move, per key role: the report's credit timeline
        # Credits a probe may spend beyond the plan (what --max-credits leaves over it), e.g. to drain a key.
        self.spare_credits = spare_credits

    # -- what probes use --------------------------------------------------------------
    def key(self, role: str) -> str | None:
        """The key a request of this role sends (None: no credentials, or a near miss that cannot be made)."""
        return self.target.key(self.api, role)

    def has_key(self, role: str) -> bool:
        return self.key(role) is not None

    def missing_key(self, role: str) -> tuple[str, str]:
        return self.target.missing_key(role)

    def near_miss_roles(self) -> list[str]:
        """The near misses of the main key this run can send (a key without letters has no case to swap)."""
        return [role for role in NEAR_MISSES if self.key(role) is not None]

    @property
    def credits_observable(self) -> bool:
        return self.target.credits_observable(self.api)

    def balance(self, role: str) -> int | None:
        key = self.key(role)
        if key is None or not self.credits_observable:
            return None
        try:
            return self.target.balance(self.api, key)
        except CreditsUnavailable as exc:
            for clause_id in credit_clauses(self.api):
                self.tally.unverified(clause_id, str(exc), exc.fix)
            return None

    def skip(self, clause_id: str, reason: str, fix: str | None = None) -> None:
        """This clause could not be judged here ("unverified"): why, and what would let it be judged."""
        self.tally.unverified(clause_id, reason, fix)

    def not_exercised(self, clause_id: str, reason: str) -> None:
        """The behaviour the clause is about never happened: nothing to judge, nothing missing."""
        self.tally.not_exercised(clause_id, reason)

    def exercise(self, clause_id: str, observed: str, *exchanges: Exchange) -> None:
        """A check of this clause ran and held; ``exchanges``: the ones it compared (for the pictures)."""
        self.tally.exercise(clause_id, observed)
        self._file(clause_id, exchanges)

    def violate(
        self,
        violation: Violation,
        exchange: Exchange | None = None,
        *,
        evidence: dict | None = None,
        reproduce: str | None = None,
    ) -> None:
        """A check of this clause found it broken; ``evidence`` and ``reproduce`` stand for a violation no
        single exchange shows (requests sent at once, a sequence): what happened, and a script replaying it."""
        self.tally.violate(
            violation.clause, violation.message, self.current_probe, exchange, evidence=evidence, reproduce=reproduce
        )
        self._file(violation.clause, (exchange,) if exchange is not None else ())

    def send(
        self,
        spec: RequestSpec,
        *,
        focus: tuple[str, ...] = (),
        expect: str | Expectation = "auto",
        watch_balance: str | None = None,
        label: str = "",
    ) -> Exchange:
        """Send one request and hand the tally every clause its answer was judged on.

        ``expect``: "auto" (a failure when the contracts find the request broken, either
        answer where a MAY clause or a duplicated field leaves the choice free, else a
        success of the ``focus`` clauses), "any" (either is allowed; only the floor, no
        5xx, is judged) or an explicit Expectation. ``watch_balance``: a key role whose
        balance must not move (e.g. "main" around a request with a near miss of its key);
        by default the balance of the key that sent the request is judged.
        """
        exchange, outgoing = self.prepare(spec, focus=focus, expect=expect, watch_balance=watch_balance, label=label)
        self._exchange(exchange, outgoing)
        self.finish(exchange)
        return exchange

    def prepare(
        self,
        spec: RequestSpec,
        *,
        focus: tuple[str, ...] = (),
        expect: str | Expectation = "auto",
        watch_balance: str | None = None,
        label: str = "",
    ) -> tuple[Exchange, httpx.Request]:
        """The exchange `send` would make of this request, judged as sent, and the request to send."""
        headers = self._auth_headers(spec.auth)
        http, outgoing = build_request(spec, self.target.url(self.api), headers)
        verdict = validate_request(self.api, http)
        expectation = self._expectation(expect, verdict, focus)
        probe = self.current_probe + (f"[{label}]" if label else "")
        exchange = Exchange(probe, self.api, spec, http, verdict, expectation, redactor=self.redactor)
        exchange.watched = watch_balance or (spec.auth if spec.auth in CHARGED_ROLES else None)
        return exchange, outgoing

    def judge(self, exchange: Exchange, raw: httpx.Response) -> HttpResponse:
        """Judge the answer that came to a prepared exchange (read in full already); the answer as kept."""
        response = HttpResponse(raw.status_code, Headers(raw.headers.multi_items()), raw.content)
        exchange.response = response
        exchange.result = validate_response(
            self.api, exchange.verdict, response, exchange.expectation, quote=self.redactor.text
        )
        return response

    def finish(self, exchange: Exchange) -> None:
        """Hand the tally every clause the exchange was judged on (and the picture book its pictures)."""
        if self.pictures is not None:
            self.pictures.add(exchange)
        self._record(exchange)

    # -- internals ----------------------------------------------------------------------
    def _auth_headers(self, role: str) -> dict[str, str]:
        key = self.key(role)
        if key is None:
            if role in NEAR_MISSES:
                raise ValueError(f"{role} of this key cannot be made: send only Runner.near_miss_roles()")
            return {}
        name, value = auth_header(self.api, role, key)
        return {name: value}

    def _expectation(self, expect: str | Expectation, verdict: RequestVerdict, focus: tuple[str, ...]) -> Expectation:
        if isinstance(expect, Expectation):
            return dataclasses.replace(expect, clauses=(*expect.clauses, *focus))
        if expect == "success":
            return Expectation.success(*focus)
        expected = Expectation.from_request(verdict, *focus)
        if expect == "any":  # the MAY clauses a server may refuse it for are judged with the focus
            may = tuple(v for v in verdict.refused if v.level is Level.MAY)
            return Expectation(Outcome.ANY, because=may, clauses=focus)
        if expected.outcome is Outcome.FAILURE or expected.because or verdict.ambiguous:
            return expected
        return Expectation.success(*focus)

    def _exchange(self, exchange: Exchange, outgoing: httpx.Request) -> None:
        tracked = self.credits_observable and exchange.watched is not None
        for attempt in range(self.max_retries + 1):
            before = self.balance(exchange.watched) if tracked and exchange.watched else None
            try:
                raw = self.target.send(outgoing)
            except httpx.TransportError as exc:
                exchange.error = no_answer(exc, self.target.client)
                return
            response = self.judge(exchange, raw)
            after = self.balance(exchange.watched) if tracked and exchange.watched else None
            exchange.credits = (before, after) if before is not None and after is not None else None
            retry = exchange.outcome is Outcome.REFUSED and response.status == 429
            if not retry or attempt == self.max_retries:
                return
            # B5: the refusal is judged (rate clauses, not charged); the probe's own clauses wait for the retry.
            exchange.refusals.append(response.status)
            self._record(dataclasses.replace(exchange, refusals=list(exchange.refusals)))
            time.sleep(min(_retry_after(response), self.target.retry_wait_cap))

    def _record(self, exchange: Exchange) -> None:
        if exchange.error:
            clause_ids = exchange.expectation.clauses or (f"{self.p}.robust.malformed",)
            for clause_id in clause_ids:
                self.violate(Violation(clause_id, f"{exchange.error}: expected an answer"), exchange)
            floor = server_error_floor(self.api, clause_ids)  # B1: no input goes unanswered
            if floor:
                self.violate(Violation(floor, f"{exchange.error}: no input may go unanswered (B1)"), exchange)
            return
        result, response = exchange.result, exchange.response
        assert result is not None and response is not None
        observed = exchange.observed() + (
            " (injected once into the embedded fake)" if self.target.embedded and response.status == 429 else ""
        )
        for violation in result.violations:
            self.violate(violation, exchange)
        for clause_id in sorted(result.held()):
            self.tally.exercise(clause_id, _note(clause_id, observed, exchange))
        for clause_id, why in result.unjudged.items():
            self.skip(clause_id, why, _unjudged_fix(result))
        self._record_charge(exchange)

    def _record_charge(self, exchange: Exchange) -> None:
        """A17/A18/B5: a success of the key that sent it costs the price; anything else costs that key nothing."""
        result = exchange.result
        if exchange.credits is None or result is None or result.outcome is Outcome.ANY:
            return
        before, after = exchange.credits
        sender = exchange.spec.auth == exchange.watched
        succeeded = result.outcome is Outcome.SUCCESS
        if succeeded and sender:
            clause_ids = [f"{self.p}.credits.success"]
        else:
            about = {*exchange.expectation.clauses, *(v.clause for v in exchange.expectation.because), *result.checked}
            general = f"{self.p}.credits.{'isolation' if succeeded else 'failure'}"
            clause_ids = [general, *sorted(about & UNCHARGED_WHEN_REFUSED)]
        violation = check_charge(before, after, succeeded and sender, clause_ids[0])
        self.credit_log.request(exchange, expected_charge(succeeded and sender), ok=violation is None)
        whose = "" if sender else f" on the {exchange.watched} key, which did not send it"
        for clause_id in clause_ids:
            if violation is None:
                self.tally.exercise(clause_id, f"{exchange.observed()} charged {before - after} credits{whose}")
            elif violation.clause == clause_ids[0]:
                self.violate(Violation(clause_id, violation.message + whose), exchange)
        if violation is not None and violation.clause not in clause_ids:
            self.violate(violation, exchange)  # a negative balance: ait.credits.insufficient

    def _file(self, clause_id: str, exchanges: tuple[Exchange, ...]) -> None:
        if self.pictures is not None:
            for exchange in exchanges:
                self.pictures.file(clause_id, exchange)

    # -- the run ----------------------------------------------------------------------------
    def run(
        self, on_probe_done: Callable[[str], None] | None = None, *, probes: list[ProbeDef] | None = None
    ) -> list[ClauseResult]:
        """Run ``probes`` (default: every probe of the API) and return one result per clause."""
        for definition in probes_for(self.api) if probes is None else probes:
            self.current_probe = definition.name
            try:
                definition.run(self)
            except Exception as exc:  # a harness bug must not pass for a server's verdict
                error = f"probe {definition.name} ({self.api.value}) crashed: {type(exc).__name__}: {exc}"
                self.harness_errors.append(
                    f"{error}\n{traceback.format_exc().rstrip()}" if self.debug else f"{error} (--debug shows where)"
                )
            if on_probe_done:
                on_probe_done(definition.name)
        self._explain_unobserved()
        results = self.tally.results(self.reproducer.command)
        if self.pictures is not None:
            results = self.pictures.attach(results, self.tally)
        return results

    def _explain_unobserved(self) -> None:
        p = self.p
        self.not_exercised(f"{p}.rate.limit", "no 429 or 402 came: the clause only says what a server may do")
        self.not_exercised(f"{p}.rate.retry_after", "no 429 came, so there was no Retry-After to check")
        if self.api is Api.AITHRIVING and not self.credits_observable:
            reason, fix = self.target.credits_missing()
            for clause_id in credit_clauses(self.api):
                self.skip(clause_id, reason, fix)


def _note(clause_id: str, observed: str, exchange: Exchange) -> str:
    """The observation, plus the number a clause is about (a seed, a PSNR, an error body)."""
    result = exchange.result
    assert result is not None and exchange.response is not None
    obs = result.observations
    if ".seed." in clause_id and result.seed is not None:
        return f"{observed} seed {result.seed}"
    if clause_id in result.pictured and obs.get("psnr_kept") is not None:
        return f"{observed}, PSNR kept {obs['psnr_kept']} / repainted {obs.get('psnr_repainted')} dB"
    if clause_id.endswith(".errors.body"):
        return f"HTTP {exchange.response.status} {exchange.response.headers.media_type() or 'no Content-Type'} body"
    return observed


def _unjudged_fix(result: ResponseVerdict) -> str | None:
    if result.outcome is Outcome.REFUSED:
        return "rerun when the server does not refuse for rate or size (B2, B5)"
    return None


def _retry_after(response: HttpResponse) -> float:
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0  # an HTTP-date or nonsense: wait a little, bounded by the cap anyway

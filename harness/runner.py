"""Sending probe requests and judging the answers with the contracts.

`Runner.send` builds a request with httpx, judges what it sends with
`validate_request`, sends it (waiting out 429s as Retry-After says), judges the
answer with `validate_response`, checks the credits it cost, and marks in the tally
every clause the exchange exercised or broke. Probes only say what to send, which
clauses they are about and what a correct server answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from inpaint_conformance.contracts import (
    Api,
    Expectation,
    HttpRequest,
    HttpResponse,
    Outcome,
    RequestVerdict,
    ResponseVerdict,
    Violation,
    validate_request,
    validate_response,
)
from inpaint_conformance.contracts.exchange import REDACTED
from inpaint_conformance.contracts.response_validation import server_error_floor
from inpaint_conformance.contracts.sequences import check_charge

from .exchanges import Exchange
from .pictures import PictureBook
from .probes import RequestSpec, probes_for
from .reproduce import Reproducer
from .results import ClauseResult
from .tally import Tally
from .target import CreditsUnavailable, Target

MAX_RETRIES = 3
CHARGED_ROLES = ("main", "second", "low")
__all__ = ["Exchange", "Runner", "scrub"]


class Runner:
    """Runs the probes of one API against one target; probes call `send`, `skip` and `violate`."""

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
    ) -> None:
        self.target, self.api, self.p = target, api, api.prefix
        self.examples, self.hypothesis_seed = examples, hypothesis_seed
        self.tally = Tally(api)
        self.reproducer = reproducer
        self.max_retries = max_retries
        self.current_probe = "?"
        self.harness_errors: list[str] = []
        # Pictures cost about a quarter of a default run: kept only for a report that shows them.
        self.pictures = PictureBook() if pictures else None

    # -- what probes use --------------------------------------------------------------
    def key(self, role: str) -> str | None:
        return self.target.key(self.api, role)

    def has_key(self, role: str) -> bool:
        return self.key(role) is not None

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
            for name in ("success", "failure", "insufficient", "isolation"):
                self.tally.skip(f"{self.p}.credits.{name}", str(exc))
            return None

    def skip(self, clause_id: str, reason: str) -> None:
        self.tally.skip(clause_id, reason)

    def exercise(self, clause_id: str, observed: str) -> None:
        self.tally.exercise(clause_id, observed)

    def violate(self, violation: Violation, exchange: Exchange | None = None) -> None:
        self.tally.violate(violation.clause, violation.message, self.current_probe, exchange)

    def send(
        self,
        spec: RequestSpec,
        *,
        focus: tuple[str, ...] = (),
        expect: str | Expectation = "auto",
        relabel: dict[str, str] | None = None,
        failure_charge_clause: str | None = None,
        label: str = "",
    ) -> Exchange:
        """Send one request and mark every clause its answer exercised or broke.

        ``expect``: "auto" (a failure when the contracts find the request broken, else
        a success of the ``focus`` clauses), "any" (either is allowed; only the floor,
        no 5xx, is judged) or an explicit Expectation. ``relabel`` moves verdicts from
        one clause to another (a mask-meaning failure in an alpha probe is an alpha failure).
        """
        relabel = relabel or {}
        http, outgoing = self._build(spec)
        verdict = validate_request(self.api, http)
        expectation = self._expectation(expect, verdict, focus)
        probe = self.current_probe + (f"[{label}]" if label else "")
        exchange = Exchange(probe, self.api, spec, http, verdict, expectation)
        self._exchange(exchange, outgoing)
        self._record(exchange, focus, relabel, failure_charge_clause)
        if self.pictures is not None:
            self.pictures.add(exchange)
        return exchange

    # -- internals ----------------------------------------------------------------------
    def _build(self, spec: RequestSpec) -> tuple[HttpRequest, httpx.Request]:
        url = self.target.url(self.api)
        headers = self._auth_headers(spec.auth)
        if spec.body == "urlencoded":
            text = {k: (v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in spec.fields.items()}
            request = httpx.Request("POST", url, headers=headers, data=text)
        else:
            files = [(name, (u.filename, u.data, u.content_type)) for name, u in spec.files.items()]
            request = httpx.Request("POST", url, headers=headers, data=spec.fields, files=files)
        body = request.read()
        if spec.body == "truncated":
            sent = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx.Request("POST", url, headers=sent, content=body[: len(body) // 2])
            body = request.read()
        return HttpRequest("POST", url, request.headers.raw, body), request

    def _auth_headers(self, role: str) -> dict[str, str]:
        key = self.key(role)
        if key is None:
            return {}
        if role.endswith("authorization-bearer"):
            return {"authorization": f"Bearer {key}"}
        return {"authorization" if self.api is Api.AITHRIVING else "bearer": key}

    def _expectation(self, expect: str | Expectation, verdict: RequestVerdict, focus: tuple[str, ...]) -> Expectation:
        if isinstance(expect, Expectation):
            return expect
        if expect == "success":
            return Expectation.success(*focus)
        # Under "any", validate_response fails the focus clauses on a 5xx (the floor).
        floor = Expectation(Outcome.ANY, clauses=focus)
        if expect == "any":
            return floor
        expected = Expectation.from_request(verdict)
        if expected.outcome is Outcome.FAILURE:
            return expected
        # Refused only by MAY clauses (limits a server may or may not have): either answer will do.
        return floor if verdict.refused else Expectation.success(*focus)

    def _exchange(self, exchange: Exchange, outgoing: httpx.Request) -> None:
        tracked = self.credits_observable and exchange.spec.auth in CHARGED_ROLES
        for attempt in range(self.max_retries + 1):
            before = self.balance(exchange.spec.auth) if tracked else None
            try:
                raw = self.target.client.send(outgoing)
                raw.read()
            except httpx.TimeoutException:
                exchange.error = f"no answer within {self.target.client.timeout.read:g} s"
                return
            except httpx.TransportError as exc:
                exchange.error = f"no answer: {' '.join(str(exc).split())[:160] or type(exc).__name__}"
                return
            exchange.response = HttpResponse(raw.status_code, raw.headers.raw, raw.content)
            exchange.result = validate_response(self.api, exchange.verdict, exchange.response, exchange.expectation)
            after = self.balance(exchange.spec.auth) if tracked else None
            exchange.credits = (before, after) if before is not None and after is not None else None
            if exchange.outcome is not Outcome.REFUSED:
                return
            self._record_refusal(exchange)
            if exchange.response.status != 429 or attempt == self.max_retries:
                return
            time.sleep(min(_retry_after(exchange.response), self.target.retry_wait_cap))

    def _record_refusal(self, exchange: Exchange) -> None:
        """B5: a refusal is judged by the rate clauses only, and must not cost anything."""
        assert exchange.response is not None and exchange.result is not None
        status = exchange.response.status
        exchange.refusals.append(status)
        note = exchange.observed() + (
            " (injected once into the embedded fake)" if self.target.embedded and status == 429 else ""
        )
        clause_id = f"{self.p}.rate.limit" if status in (402, 429) else f"{self.p}.limits.size"
        self.exercise(clause_id, note)
        if status == 429:
            self.exercise(f"{self.p}.rate.retry_after", note)
        for violation in exchange.result.violations:
            self.violate(violation, exchange)
        if exchange.credits:
            # A17/B5: a refusal is a failure, and no failure is charged (a MUST, whatever the
            # level of the clause that allows the refusal itself).
            charged = check_charge(*exchange.credits, succeeded=False, clause=f"{self.p}.credits.failure")
            if charged:
                self.violate(charged, exchange)
                self.violate(Violation(clause_id, f"HTTP {status} was charged: {charged.message}"), exchange)

    def _record(
        self, exchange: Exchange, focus: tuple[str, ...], relabel: dict[str, str], failure_charge_clause: str | None
    ) -> None:
        mark = lambda clause_id, note: self.exercise(relabel.get(clause_id, clause_id), note)  # noqa: E731
        broken = lambda v: self.violate(Violation(relabel.get(v.clause, v.clause), v.message), exchange)  # noqa: E731
        if exchange.error:
            clause_ids = focus or (f"{self.p}.robust.malformed",)
            for clause_id in clause_ids:
                broken(Violation(clause_id, f"{exchange.error}: expected an answer"))
            floor = server_error_floor(self.api, clause_ids)  # B1: no input goes unanswered
            if floor:
                broken(Violation(floor, f"{exchange.error}: no input may go unanswered (B1)"))
            return
        result, response = exchange.result, exchange.response
        assert result is not None and response is not None
        if result.outcome is Outcome.REFUSED:
            for clause_id in focus:
                self.skip(
                    relabel.get(clause_id, clause_id),
                    f"the server refused the probe with HTTP {response.status} every time",
                )
            return
        for violation in result.violations:
            broken(violation)
        observed = exchange.observed()
        # One mark per clause per exchange, with the most telling note.
        # A success whose picture did not decode (its own clause failed above) showed nothing
        # about what the probe was about: its focus clauses are not marked.
        unseen = result.outcome is Outcome.SUCCESS and result.image is None
        notes = {} if unseen else {relabel.get(c, c): observed for c in focus}
        for clause_id in _outcome_clauses(self.api, exchange):
            notes[relabel.get(clause_id, clause_id)] = _note(clause_id, observed, result)
        if self.api is Api.VYRO and result.outcome is Outcome.FAILURE:
            notes["vyro.errors.body"] = (
                f"HTTP {response.status} {response.headers.media_type() or 'no Content-Type'} body"
            )
        for clause_id, note in notes.items():
            self.exercise(clause_id, note)
        self._record_charge(exchange, failure_charge_clause, mark, broken)

    def _record_charge(self, exchange: Exchange, failure_clause: str | None, mark, broken) -> None:
        if exchange.credits is None or exchange.outcome not in (Outcome.SUCCESS, Outcome.FAILURE):
            return
        before, after = exchange.credits
        succeeded = exchange.succeeded
        clause_id = f"{self.p}.credits.success" if succeeded else (failure_clause or f"{self.p}.credits.failure")
        violation = check_charge(before, after, succeeded, None if succeeded else clause_id)
        if violation:
            broken(violation)
        else:
            mark(clause_id, f"{'success' if succeeded else 'failure'} charged {before - after} credits")

    # -- the run ----------------------------------------------------------------------------
    def run(self, on_probe_done: Callable[[str], None] | None = None) -> list[ClauseResult]:
        for definition in probes_for(self.api):
            self.current_probe = definition.name
            try:
                definition.run(self)
            except Exception as exc:  # a harness bug must not pass for a server's verdict
                self.harness_errors.append(
                    f"probe {definition.name} ({self.api.value}) crashed: {type(exc).__name__}: {exc}"
                )
            if on_probe_done:
                on_probe_done(definition.name)
        self._explain_unobserved()
        secrets = [k for k in (self.key("main"), self.key("second"), self.key("low")) if k]
        results = self.tally.results(self.reproducer.command)
        if self.pictures is not None:
            results = self.pictures.attach(results, self.tally)
        return [scrub(result, secrets) for result in results]

    def _explain_unobserved(self) -> None:
        p = self.p
        self.skip(f"{p}.rate.limit", "no 429 or 402 was observed: the clause only says what a server may do")
        self.skip(f"{p}.rate.retry_after", "no 429 was observed, so there was no Retry-After to check")
        if self.api is Api.AITHRIVING and not self.credits_observable:
            for name in ("success", "failure", "insufficient", "isolation"):
                self.skip(f"{p}.credits.{name}", "credits are not observable: pass --credits-url")


def scrub(result: ClauseResult, secrets: list[str]) -> ClauseResult:
    """B3: a server may echo a key in its error text; nothing it said reaches a report with the key in it."""

    def clean(value):
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    if not secrets:
        return result
    return ClauseResult(
        result.api,
        result.clause,
        result.level,
        result.status,
        clean(result.detail),
        clean(result.reproduce),
        clean(result.evidence),
    )


def _outcome_clauses(api: Api, exchange: Exchange) -> list[str]:
    """The clauses an answer of this kind was judged on by validate_response."""
    result = exchange.result
    assert result is not None
    expected, got, p = exchange.expectation.outcome, result.outcome, api.prefix
    found: list[str] = []
    if api is Api.AITHRIVING:
        found.append("ait.envelope.json")
    if got is Outcome.SUCCESS and expected in (Outcome.SUCCESS, Outcome.ANY):
        if api is Api.AITHRIVING:
            request = exchange.verdict.request
            found += ["ait.success.status", "ait.success.code", "ait.success.data", "ait.success.image"]
            if result.image_bytes is not None:  # the base64 was read (A20)
                found.append("ait.success.base64")
            if result.image is not None:  # size and format are judged on the decoded picture
                found += [
                    "ait.output.size",
                    "ait.output_format.honoured" if request and request.output_format else "ait.output_format.default",
                ]
            if result.seed is not None:
                found.append("ait.seed.echo" if request and request.seed else "ait.seed.random_range")
        else:
            found += ["vyro.success.status", "vyro.success.content_type", "vyro.success.png"]
            if result.image is not None:
                found.append("vyro.output.size")
        if result.observations.get("psnr_kept") is not None:
            found.append(f"{p}.kept_pixels")
            if result.observations.get("psnr_repainted") is not None:
                found.append(f"{p}.mask.meaning")
    if got is Outcome.FAILURE and expected in (Outcome.FAILURE, Outcome.ANY):
        found += (
            ["ait.failure.envelope", "ait.failure.not_5xx", "ait.failure.status"]
            if api is Api.AITHRIVING
            else ["vyro.errors.4xx"]
        )
    if got is not Outcome.REFUSED:
        found += [v.clause for v in exchange.expectation.because]
    return found


def _note(clause_id: str, observed: str, result: ResponseVerdict) -> str:
    """The observation, plus the number a clause is about (a seed, a PSNR)."""
    obs = result.observations
    if ".seed." in clause_id and result.seed is not None:
        return f"{observed} seed {result.seed}"
    if (
        clause_id.endswith((".kept_pixels", ".mask.meaning", ".mask.alpha", ".mask.wins"))
        and obs.get("psnr_kept") is not None
    ):
        return f"{observed}, PSNR kept {obs['psnr_kept']} / repainted {obs.get('psnr_repainted')} dB"
    return observed


def _retry_after(response: HttpResponse) -> float:
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0  # an HTTP-date or nonsense: wait a little, bounded by the cap anyway

"""What judging an answer yields: the expected outcome, the verdict, and the judging state.

Kept apart from response_validation (the classifier) and response_content (the checks
of the image and seed), which both use these types; neither imports the other back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from .clauses import Api, Level
from .exchange import HttpResponse
from .request_validation import RequestVerdict
from .violations import Violation


class Outcome(str, enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    REFUSED = "refused"  # 429/413/402: allowed at any time, judged by no other clause
    ANY = "any"


@dataclass(frozen=True)
class Expectation:
    """What a correct server answers, and what the exchange is about.

    ``because``: the request's violations; a FAILURE expectation must be refused for
    them, an ANY expectation may be (MAY clauses: a limit, non-UTF-8 text).
    ``clauses``: the clauses a probe is about (its focus): a success probe's clauses
    fail on a wrong answer; on a refusal they are judged like the floor (no 5xx).
    """

    outcome: Outcome
    because: tuple[Violation, ...] = ()
    clauses: tuple[str, ...] = ()

    @classmethod
    def success(cls, *clauses: str) -> Expectation:
        return cls(Outcome.SUCCESS, clauses=clauses)

    @classmethod
    def failure(cls, *because: Violation) -> Expectation:
        return cls(Outcome.FAILURE, because=because)

    @classmethod
    def from_request(cls, verdict: RequestVerdict, *clauses: str) -> Expectation:
        """FAILURE when the request breaks a MUST or SHOULD a server refuses for; otherwise
        ANY, carrying the MAY clauses a server may refuse it for (B2, B4, B1's non-UTF-8 text)."""
        refused = tuple(v for v in verdict.refused if v.level is not Level.MAY)
        if refused:
            return cls(Outcome.FAILURE, because=refused, clauses=clauses)
        return cls(Outcome.ANY, because=tuple(verdict.refused), clauses=clauses)


@dataclass
class ResponseVerdict:
    outcome: Outcome
    violations: list[Violation] = field(default_factory=list)
    observations: dict = field(default_factory=dict)
    image_bytes: bytes | None = None
    image: Image.Image | None = None
    checked: set[str] = field(default_factory=set)  # every clause a check evaluated here, held or broken
    pictured: set[str] = field(default_factory=set)  # of those, the ones judged on the output's pixels
    unjudged: dict[str, str] = field(default_factory=dict)  # clause -> why this answer could not judge it

    @property
    def seed(self) -> int | None:
        return self.observations.get("seed")

    def held(self) -> set[str]:
        """The clauses a check evaluated and found kept."""
        return self.checked - {v.clause for v in self.violations}


@dataclass
class Judging:
    """One answer being judged: the checks of response_content record into its result."""

    api: Api
    verdict: RequestVerdict
    response: HttpResponse
    expect: Expectation
    result: ResponseVerdict
    quote: Callable[[str], str]  # server text passes through it before it is quoted (B3)
    body: object = None

    def fail(self, clause: str, message: str) -> None:
        self.result.violations.append(Violation(clause, message))
        self.result.checked.add(clause)

    def check(self, *clauses: str) -> None:
        self.result.checked.update(clauses)

    def cannot_judge(self, clause: str, why: str) -> None:
        self.result.unjudged.setdefault(clause, why)

    def excerpt(self, limit: int) -> str:
        return self.quote(self.response.excerpt(limit))

    @property
    def p(self) -> str:
        return self.api.prefix

"""Executable contracts of the AIThriving and Vyro Imagine inpaint APIs.

The single source of truth of the project: the clause catalog, the rules' numbers,
request and response validators over a neutral HTTP exchange, the OpenAPI export and
hypothesis strategies. Nothing else in the project states a rule.
"""

from .catalog import CATALOG, clause, clauses
from .clauses import Api, Citation, Clause, Level, Side
from .exchange import Headers, HttpRequest, HttpResponse, redact_headers, redact_secret
from .request_validation import InpaintRequest, RequestVerdict, validate_request
from .response_validation import Expectation, Outcome, ResponseVerdict, validate_response
from .violations import Violation

__all__ = [
    "CATALOG",
    "Api",
    "Citation",
    "Clause",
    "Expectation",
    "Headers",
    "HttpRequest",
    "HttpResponse",
    "InpaintRequest",
    "Level",
    "Outcome",
    "RequestVerdict",
    "ResponseVerdict",
    "Side",
    "Violation",
    "clause",
    "clauses",
    "redact_headers",
    "redact_secret",
    "validate_request",
    "validate_response",
]

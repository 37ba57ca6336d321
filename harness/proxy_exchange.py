"""One exchange the proxy forwarded, with the verdicts on both sides (the proxy's modules share it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from inpaint_conformance.contracts import Api, Headers, HttpRequest, HttpResponse, Violation, redact_headers


@dataclass
class Exchange:
    """One proxied exchange and its verdicts (violations of the client and of the upstream)."""

    api: Api | None  # None: a path outside the API, forwarded without judging
    request: HttpRequest
    response: HttpResponse | None
    request_violations: list[Violation] = field(default_factory=list)
    response_violations: list[Violation] = field(default_factory=list)
    error: str | None = None  # why the upstream gave no answer
    duration_ms: float = 0.0
    near_miss: bool = False  # a wrong inpaint path: the client is judged, the upstream's 404 is not
    other_api: Api | None = None  # an inpaint request of the API this proxy does not judge
    client_left: bool = False  # the client went away before the answer: the upstream call was cancelled
    unjudged: str | None = None  # why the judge did not run (the answer was forwarded all the same)

    def without_bodies(self) -> Exchange:
        """This exchange as the proxy keeps it: verdicts and headers, not the (possibly huge) bodies."""
        request = HttpRequest(self.request.method, self.request.url, Headers(redact_headers(self.request.headers)))
        response = None
        if self.response is not None:
            response = HttpResponse(self.response.status, Headers(redact_headers(self.response.headers)))
        return replace(self, request=request, response=response)

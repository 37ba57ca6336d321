"""One probe exchange as the runner keeps it: what was sent, what came back, what it cost.

Reports show an exchange through `observed()` (a short line) and `evidence()` (a
JSON-safe dict); neither carries the key the request was sent with, nor a key the
server echoed (see harness/redaction.py). `build_request` turns a RequestSpec into
the bytes sent: the runner and the preflight build requests the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from inpaint_conformance.contracts import (
    Api,
    Expectation,
    Headers,
    HttpRequest,
    HttpResponse,
    Outcome,
    RequestVerdict,
    ResponseVerdict,
)

from .redaction import Redactor
from .request_spec import RequestSpec


def build_request(spec: RequestSpec, url: str, headers: dict[str, str]) -> tuple[HttpRequest, httpx.Request]:
    """The request a spec describes: the neutral form validators read, and the one httpx sends."""
    if spec.body == "urlencoded":
        text = {k: (v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in spec.fields.items()}
        request = httpx.Request("POST", url, headers=headers, data=text)
    else:
        files = [(name, part.as_file()) for name, part in spec.files.items()]
        request = httpx.Request("POST", url, headers=headers, data=spec.fields, files=files)
    body = request.read()
    if spec.body == "truncated":
        sent = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        request = httpx.Request("POST", url, headers=sent, content=body[: len(body) // 2])
        body = request.read()
    return HttpRequest("POST", url, Headers(request.headers.multi_items()), body), request


def no_answer(exc: httpx.TransportError, client: httpx.Client) -> str:
    """Why a request got no answer, in one short line (what an exchange's ``error`` says)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {client.timeout.read:g} s"
    return f"no answer: {' '.join(str(exc).split())[:160] or type(exc).__name__}"


@dataclass
class Exchange:
    """One probe request and its final answer (after any 429 retries)."""

    probe: str
    api: Api
    spec: RequestSpec
    request: HttpRequest  # carries the real key: never written anywhere
    verdict: RequestVerdict
    expectation: Expectation
    response: HttpResponse | None = None
    result: ResponseVerdict | None = None
    error: str | None = None  # no answer: timeout or dropped connection
    refusals: list[int] = field(default_factory=list)  # 429/413/402 statuses seen on the way
    watched: str | None = None  # the key role whose balance is read around the request
    credits: tuple[int, int] | None = None  # that balance before and after the final attempt
    redactor: Redactor = field(default_factory=Redactor)

    @property
    def outcome(self) -> Outcome | None:
        return self.result.outcome if self.result is not None else None

    @property
    def succeeded(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def success(self) -> ResponseVerdict | None:
        """The judged answer if it was a success, else None: what a probe reads a success from."""
        return self.result if self.succeeded else None

    @property
    def path(self) -> str:
        return self.request.path

    def observed(self) -> str:
        """A short, secret-free line of what came back, for a clause's evidence."""
        if self.error:
            return self.error
        assert self.response is not None and self.result is not None
        obs = self.result.observations
        status = self.response.status
        if self.result.outcome is Outcome.SUCCESS:
            size = "x".join(str(n) for n in obs.get("size") or []) or "?"
            return f"HTTP {status} {obs.get('format') or 'no image'} {size}"
        if self.result.outcome is Outcome.REFUSED:
            retry = self.response.headers.get("retry-after")
            return f"HTTP {status} refusal" + (f", Retry-After {retry}" if retry is not None else ", no Retry-After")
        return f"HTTP {status} failure"

    def evidence(self) -> dict:
        """What a report shows about this exchange: the request's shape and the answer, never a key."""
        request = self.verdict.request
        summary = None
        if request is not None:
            summary = {
                "image": _describe(request.image, request.image_format),
                "mask": _describe(request.mask, request.mask_format),
                "prompt_chars": len(request.prompt) if request.prompt is not None else None,
                "seed": request.seed,
                "output_format": request.output_format,
                "model_version": request.model_version,
                "extra_fields": request.extra_fields,
            }
        return {
            "probe": self.probe,
            "request": {
                "auth": self.spec.auth,
                "body": self.spec.body,
                "fields": {k: self.redactor.value(v) for k, v in _field_view(self.spec.fields).items()},
                "files": {
                    k: {"filename": u.filename, "content_type": u.content_type, "bytes": len(u.data)}
                    for k, u in self.spec.files.items()
                },
                "decoded": summary,
            },
            "status": self.response.status if self.response is not None else None,
            "headers": self.redactor.headers(self.response.headers) if self.response is not None else None,
            "observations": self.result.observations if self.result is not None else None,
            "body": self.redactor.text(self.response.excerpt(300)) if self.response is not None else None,
            "error": self.redactor.text(self.error) if self.error else None,
            "refusals": self.refusals,
            "credits": list(self.credits) if self.credits else None,
            "credits_of": self.watched if self.credits else None,
        }


def _describe(image, fmt) -> str | None:
    return f"{(fmt or '?').upper()} {image.width}x{image.height} {image.mode}" if image is not None else None


def _field_view(fields: dict) -> dict:
    view = {}
    for name, value in fields.items():
        if isinstance(value, bytes):
            view[name] = f"({len(value)} bytes, not UTF-8)" if not _utf8(value) else value.decode()[:80]
        else:
            view[name] = value if len(value) <= 80 else f"{value[:40]}… ({len(value)} characters)"
    return view


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False

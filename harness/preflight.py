"""Before any probe: tell a broken setup from a broken server, in a few requests.

A user's mistake is not the server's fault: an unreachable --base-url, one that points
at no endpoint (or at the other API's), a key the server does not know, a credits URL
that refuses the key. Each stops `verify` with exit 2 and the flag to fix, instead of
a screen of failed clauses blamed on the server. (A --base-url that ends in an
endpoint path is refused before anything is sent: see RemoteTarget.)

Only requests every conforming server serves are sent: one valid request per API with
the main key, and, where an AIThriving failure must be told apart from an unknown key,
the same with a made-up key. They go through the API's Runner, so their answers are
judged like any probe's (a 429 waited out and judged, a charge checked); a server that
serves the valid request badly is not stopped here: the verdict says what is wrong.
"""

from __future__ import annotations

import httpx

from inpaint_conformance.contracts import Api, Expectation, Outcome, Violation
from inpaint_conformance.contracts.exchange import REDACTED
from inpaint_conformance.contracts.rules import PATHS

from .credentials import CHARGED_ROLES, auth_header
from .exchanges import Exchange, build_request
from .probes import valid_spec
from .runner import Runner
from .target import CreditsUnavailable, RemoteTarget, TargetError

REACH_TIMEOUT_S = 8.0  # an origin that does not even accept a connection in this long is not there
NOT_THERE = (404, 405)
REFUSED_KEY = (401, 403)
NAMES = {Api.AITHRIVING: "AIThriving", Api.VYRO: "Vyro"}
KEY_FLAGS = {
    "main": "the key given with --api-key",
    "second": "the second key (the second --api-key)",
    "low": "the low-credit key (--low-credit-key)",
}
REFUSED_KEY_FIX = "pass a key this server knows with --api-key"


def preflight(target: RemoteTarget, runners: list[Runner]) -> None:
    """Raise TargetError, with the fix, when the setup (not the server) keeps the run from meaning anything."""
    _reach(target)
    for runner in runners:
        _endpoint_and_key(target, runner, [r.api for r in runners])
    if target.credits_url is not None and any(r.api is Api.AITHRIVING for r in runners):
        _credits(target)  # the main key is known to the server by now: a refusal here is the credits URL's


def _reach(target: RemoteTarget) -> None:
    try:
        target.get(target.base_url + "/", timeout=min(target.timeout, REACH_TIMEOUT_S))
    except httpx.TransportError as exc:
        raise TargetError(
            f"cannot reach {target.base_url}: {_reason(exc)}; is the server running, and is --base-url right?"
        ) from None


def _endpoint_and_key(target: RemoteTarget, runner: Runner, apis: list[Api]) -> None:
    api = runner.api
    runner.current_probe = "preflight"
    answer = runner.send(valid_spec(), label="valid-request")
    if answer.error:
        raise TargetError(
            f"POST {answer.request.url}: {answer.error} to a valid {NAMES[api]} request"
            + (": if the server is slow, raise --timeout" if "within" in answer.error else "")
        )
    assert answer.response is not None and answer.result is not None
    status = answer.response.status
    if answer.outcome is Outcome.REFUSED:
        return  # "not now" (429, 413, 402) says nothing about the setup; the runner judged it
    if status in NOT_THERE:
        raise TargetError(_no_endpoint(target, api, apis, status))
    if status in REFUSED_KEY or _answered_like_a_made_up_key(runner, answer):
        message = answer.result.observations.get("message")
        said = f": {message!r}" if message else ""
        raise TargetError(
            f"the server refused the key given with --api-key on a valid {NAMES[api]} request "
            f"(HTTP {status}{said}): {REFUSED_KEY_FIX}"
        )


def _answered_like_a_made_up_key(runner: Runner, answer: Exchange) -> bool:
    """A2 lets an unknown key get a 200 failure envelope: the failure is the key's fault only if the
    server answers a made-up key exactly the same (each key shown as <key>)."""
    assert answer.response is not None
    if runner.api is not Api.AITHRIVING or answer.outcome is not Outcome.FAILURE or answer.response.status >= 500:
        return False  # a server error is the server's, whoever asked
    unknown = Violation("ait.auth.invalid", "the key is unknown to the server")
    made_up = runner.send(
        valid_spec().but(auth="wrong"), expect=Expectation.failure(unknown), watch_balance="main", label="made-up-key"
    )
    if made_up.outcome is not Outcome.FAILURE:
        return False
    return _shape(answer, runner.key("main")) == _shape(made_up, runner.key("wrong"))


def _shape(exchange: Exchange, key: str | None) -> tuple:
    assert exchange.response is not None and exchange.result is not None
    observed = exchange.result.observations
    message = observed.get("message")
    if isinstance(message, str):
        # Compared, never shown. The runner showed the run's own keys as [redacted]; the made-up one is not secret.
        message = message.replace(REDACTED, "<key>")
        message = message.replace(key, "<key>") if key else message
    return exchange.response.status, observed.get("code"), message


def _no_endpoint(target: RemoteTarget, api: Api, apis: list[Api], status: int) -> str:
    said = f"no {NAMES[api]} inpaint endpoint at POST {target.base_url}{PATHS[api]} (HTTP {status})"
    # A --base-url that already carries the start of the path (Vyro's documented origin ends in /v1/imagine/api).
    for cut in _prefixes_of(PATHS[api]):
        if target.base_url.endswith(cut):
            return f"{said}: --base-url already ends in {cut}; pass --base-url {target.base_url[: -len(cut)]}"
    other = next(a for a in Api if a is not api)
    if _answers(target, other, target.key(other, "main") or target.key(api, "main")):
        if other in apis:
            return f"{said}, though the {NAMES[other]} one answers there: pass --api {other.value} to verify only it"
        return f"{said}; the {NAMES[other]} endpoint answers there instead: pass --api {other.value}"
    return (
        f"{said}, nor a {NAMES[other]} one: pass the server's origin as --base-url "
        "(https://host:port, plus any prefix it is mounted under)"
    )


def _answers(target: RemoteTarget, api: Api, key: str | None) -> bool:
    """Whether an endpoint of this API answers at the base URL (a valid request, sent outside any verdict)."""
    headers = dict([auth_header(api, "main", key)]) if key is not None else {}
    _, outgoing = build_request(valid_spec(), target.base_url + PATHS[api], headers)
    try:
        return target.send(outgoing).status_code not in NOT_THERE
    except httpx.TransportError:
        return False


def _prefixes_of(path: str) -> list[str]:
    """ "/a/b/c" -> ["/a/b", "/a"]: the leading segments a --base-url may have swallowed, longest first."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]


def _credits(target: RemoteTarget) -> None:
    """Every key's balance can be read: a refusal is the key's fault, a 404 or a wrong shape the URL's."""
    for role in CHARGED_ROLES:
        key = target.key(Api.AITHRIVING, role)
        if key is None:
            continue
        try:
            target.balance(Api.AITHRIVING, key)
        except CreditsUnavailable as exc:
            if exc.status not in REFUSED_KEY:
                raise TargetError(f"{exc}: check --credits-url") from None
            accepted = ", which the inpaint endpoint accepts," if role == "main" else ""
            raise TargetError(
                f"the credits URL refused {KEY_FLAGS[role]}{accepted} (HTTP {exc.status}): the balance must be read "
                "with the same `authorization` header as the inpaint requests, for a key the server knows; "
                "check that key"
            ) from None


def _reason(exc: Exception) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())[:200]

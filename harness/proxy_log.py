"""The proxy's console: one line per exchange, what came back and which clauses each side broke.

No secrets reach it: paths (no query), statuses, clause ids and the proxy's own messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from inpaint_conformance.contracts import Api, Violation

if TYPE_CHECKING:
    from .proxy_exchange import Exchange

_NAMES = {Api.AITHRIVING: "AIThriving", Api.VYRO: "Vyro"}


def log_exchange(console: Console, exchange: Exchange) -> None:
    req = exchange.request
    if exchange.client_left:
        console.print(
            f"[dim]{req.method} {escape(req.path)}  the client left after {exchange.duration_ms:.0f} ms: "
            "the upstream call was cancelled[/]"
        )
        return
    status = f"{exchange.response.status}" if exchange.response is not None else "no answer"
    head = f"{req.method} {escape(req.path)} → {status} ({exchange.duration_ms:.0f} ms)"
    if exchange.api is None:
        if exchange.other_api is not None:
            judged = next(api for api in Api if api is not exchange.other_api)
            console.print(
                f"[yellow]{head}  a {_NAMES[exchange.other_api]} inpaint request: this proxy judges "
                f"{_NAMES[judged]} (--api {judged.value}); forwarded, not judged. Run a second proxy with "
                f"--api {exchange.other_api.value} for it[/]"
            )
        else:
            console.print(f"[dim]{head}  not an inpaint request: forwarded, not judged[/]")
        return
    if exchange.unjudged:
        console.print(f"{head}  [yellow]not judged: {escape(exchange.unjudged)}[/]")
        return
    if exchange.near_miss:
        server = "server [dim]not judged (wrong path)[/]"
    else:
        server = (
            _side("server", exchange.response_violations)
            if exchange.response is not None
            else f"[bold red]upstream: {escape(exchange.error or 'no answer')}[/]"
        )
    console.print(f"{head}  {_side('client', exchange.request_violations)}  {server}")


def _side(who: str, violations: list[Violation]) -> str:
    if not violations:
        return f"{who} [green]ok[/]"
    ids = ", ".join(dict.fromkeys(f"{v.clause} [{v.level}]" for v in violations))
    colour = "red" if any(v.level.value == "MUST" for v in violations) else "yellow"
    return f"{who} [{colour}]{escape(ids)}[/]"

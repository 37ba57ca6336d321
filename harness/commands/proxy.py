"""`inpaint-conformance proxy`: forward to an upstream and judge both directions live."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.rules import PATHS
from inpaint_conformance.fakes.connection_guard import add_limit_arguments, limits_from_args

from ..proxy import ProxyServer, create_proxy_app, proxy_server_config
from ..recording import Recorder
from .serve import _signals_end_cleanly

API_CHOICES = [api.value for api in Api]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=API_CHOICES, required=True, help="the API whose rules judge the traffic")
    parser.add_argument("--upstream", required=True, metavar="URL", help="where to forward, e.g. https://api.vyro.ai")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument(
        "--record", metavar="FILE", help="append each exchange as a JSON line, secrets redacted (for serve --replay)"
    )
    add_limit_arguments(parser)


def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False, soft_wrap=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    api = Api.parse(args.api)
    recorder = None
    if args.record:
        try:
            recorder = Recorder(args.record)
        except OSError as exc:
            errors.print(f"[red]error:[/] cannot write the recording {escape(args.record)}: {escape(str(exc))}")
            return 2
    try:
        app = create_proxy_app(api, args.upstream, recorder, console=console)
        limits = limits_from_args(args)
    except ValueError as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    origin = f"http://{args.host}:{args.port}"
    console.print(
        f"proxying {api.value}: {origin}{PATHS[api]} → {escape(app.state.upstream)}{PATHS[api]} "
        "(any prefix before the path is kept)"
    )
    if recorder is not None:
        console.print(f"recording exchanges to {escape(str(recorder.path))} (secret headers and fields redacted)")
    server = ProxyServer(proxy_server_config(app, args.host, args.port, limits), app)
    try:
        # Ctrl-C or SIGTERM: exchanges in flight get SHUTDOWN_GRACE_S, then they are cancelled.
        with _signals_end_cleanly():
            server.run()
    except SystemExit:  # uvicorn exits when it cannot bind the port
        errors.print(f"[red]error:[/] could not listen on {args.host}:{args.port}; choose another with --port")
        return 2
    finally:  # uvicorn re-raises Ctrl-C once it has shut down: say what was seen either way
        if server.started:
            _summary(console, app, recorder)
    return 0


def _summary(console: Console, app, recorder: Recorder | None) -> None:
    judged = [x for x in app.state.exchanges if x.api is not None]
    client_bad = sum(1 for x in judged if x.request_violations)
    server_bad = sum(1 for x in judged if x.response_violations)
    console.print(
        f"{len(judged)} inpaint exchange(s): {client_bad} with client violations, "
        f"{server_bad} with server violations" + (f"; {recorder.count} recorded" if recorder else "")
    )

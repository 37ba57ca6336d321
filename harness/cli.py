"""`inpaint-conformance`: the command line. Each subcommand lives in its own module.

Exit codes: 0 ok, 1 a MUST clause failed (any clause with --strict), 2 could not run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

APIS = ("aithriving", "vyro")


def _key_credits(text: str) -> tuple[str, int | None]:
    key, _, credits = text.partition("=")
    if not key:
        raise argparse.ArgumentTypeError(f"expected KEY or KEY=CREDITS, got {text!r}")
    if credits and not credits.isdigit():
        raise argparse.ArgumentTypeError(f"credits must be a whole number >= 0, got {credits!r} in {text!r}")
    return key, int(credits) if credits else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inpaint-conformance", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("clauses", help="list the clause catalog")
    p.add_argument("--api", choices=APIS)
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p.add_argument(
        "--decisions",
        action="store_true",
        help="print the decision rows the clauses cite (docs/decisions.md is the markdown output)",
    )

    p = sub.add_parser("openapi", help="print the OpenAPI 3.1 document of one API")
    p.add_argument("--api", choices=APIS, required=True)

    p = sub.add_parser("serve", help="serve the fake (or the reference) provider for both APIs")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", action="append", type=_key_credits, default=[], metavar="KEY[=CREDITS]")
    p.add_argument("--db", metavar="PATH", help="keep keys and balances in SQLite (survives restarts)")
    p.add_argument("--admin-token", help="allow /__fake__/ admin calls from non-loopback clients that send it")
    p.add_argument(
        "--ait-failure-status",
        choices=("200", "4xx"),
        default="200",
        help="HTTP status of AIThriving failures (the decisions allow both)",
    )
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--replay", metavar="FILE", help="answer with the exchanges recorded by `proxy --record`")
    p.add_argument("--engine", choices=("fake", "reference"), default="fake")
    p.add_argument(
        "--model",
        default="tiny-random",
        help="reference engine: folder, hub id, tiny-random or sd15-random (full-size SD 1.5 shapes, random weights)",
    )
    p.add_argument("--device", choices=("cuda", "cpu", "auto"), default="auto")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"))
    p.add_argument("--steps", type=int)
    p.add_argument("--max-batch", type=int, default=4)
    p.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS", help="run on Ray Serve (no ADDRESS: local)")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--autoscale", metavar="MIN:MAX", help="--ray: scale engine replicas on queued requests")
    p.add_argument("--gpus-per-replica", type=float, help="--ray: GPUs per engine replica (default 1 where GPUs exist)")
    p.add_argument("--cpus-per-replica", type=float, help="--ray: CPUs per engine replica (default 1)")

    p = sub.add_parser("verify", help="verify a server (default: the embedded fake) clause by clause")
    p.add_argument("--api", choices=APIS)
    p.add_argument("--base-url")
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="key to test with; a second one enables the isolation clause",
    )
    p.add_argument("--credits-url")
    p.add_argument("--low-credit-key", help="a key with fewer than 6 credits (enables ait.credits.insufficient)")
    p.add_argument("--examples", type=int, default=None, help="hypothesis examples per property")
    p.add_argument("--hypothesis-seed", type=int, default=0)
    p.add_argument("--max-credits", type=int)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one answer")
    p.add_argument("--strict", action="store_true")
    p.add_argument("--json-report", metavar="PATH")
    p.add_argument("--junit-xml", metavar="PATH")
    p.add_argument("--html-report", metavar="PATH")
    p.add_argument("--deviation", action="append", default=[], help="embedded fake only: turn on a named deviation")
    p.add_argument("--yes", action="store_true", help="do not ask before spending credits")

    p = sub.add_parser("check-client", help="judge a client from the fake's journal (JSON lines) or a HAR file")
    p.add_argument("file")
    p.add_argument("--json-report", metavar="PATH")
    p.add_argument("--junit-xml", metavar="PATH")
    p.add_argument("--strict", action="store_true")

    p = sub.add_parser("proxy", help="forward to an upstream and judge both directions live")
    p.add_argument("--api", choices=APIS, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--record", metavar="FILE")

    p = sub.add_parser("report", help="render a saved JSON report")
    p.add_argument("report")
    p.add_argument("--html", metavar="PATH", required=True)

    from inpaint_conformance.harness.commands.ray_config import add_arguments as ray_config_arguments

    ray_config_arguments(sub.add_parser("ray-config", help="print the Ray Serve config YAML for `serve deploy`"))
    return parser


COMMANDS = {
    "clauses": "inpaint_conformance.harness.commands.clauses",
    "openapi": "inpaint_conformance.harness.commands.openapi",
    "serve": "inpaint_conformance.harness.commands.serve",
    "verify": "inpaint_conformance.harness.commands.verify",
    "check-client": "inpaint_conformance.harness.commands.check_client",
    "proxy": "inpaint_conformance.harness.commands.proxy",
    "report": "inpaint_conformance.harness.commands.report",
    "ray-config": "inpaint_conformance.harness.commands.ray_config",
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`inpaint-conformance`: test code that talks to the AIThriving and Vyro Imagine inpaint APIs.

Exit codes: 0 ok, 1 a MUST clause failed (any clause with --strict), 2 could not run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

# command -> (module, one-line help). Each module declares its own options in
# `add_arguments(parser)` and does its work in `run(args)`; only the module of the
# command being run is imported, so `--help` and every command start fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("verify", "verify a server (default: the embedded fake) clause by clause"),
    "serve": ("serve", "serve the fake (or the reference) provider for both APIs"),
    "check-client": ("check_client", "judge a client from the fake's journal (JSON lines) or a HAR file"),
    "proxy": ("proxy", "forward to an upstream and judge both directions live"),
    "report": ("report", "render a saved JSON report as HTML"),
    "clauses": ("clauses", "list the clause catalog (or the decisions it cites)"),
    "openapi": ("openapi", "print the OpenAPI 3.1 document of one API"),
    "ray-config": ("ray_config", "print the Ray Serve config YAML for `serve deploy`"),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default where it has a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        # Identity, not equality: a default of 0 is worth showing, False (a plain flag) is not.
        quiet = action.default is None or action.default is False or action.default == []
        quiet = quiet or action.default is argparse.SUPPRESS or "(default" in text
        if action.option_strings and "%(default)" not in text and not quiet:
            text += " (default: %(default)s)"
        return text


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f"inpaint_conformance.harness.commands.{COMMANDS[name][0]}")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the command it names gets its options (and its module imported)."""
    parser = argparse.ArgumentParser(
        prog="inpaint-conformance", description=__doc__.strip(), formatter_class=HelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = set(COMMANDS) if argv is None else {a for a in argv if a in COMMANDS}
    for name, (_, help_text) in COMMANDS.items():
        module = command_module(name) if name in wanted else None
        description = module.__doc__.strip() if module is not None and module.__doc__ else help_text
        p = sub.add_parser(name, help=help_text, description=description, formatter_class=HelpFormatter)
        if module is not None:
            module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[:1] if argv and argv[0] in COMMANDS else argv).parse_args(argv)
    try:
        return int(command_module(args.command).run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

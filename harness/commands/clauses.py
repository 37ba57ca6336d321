"""`inpaint-conformance clauses`: the clause catalog as a table, JSON or Markdown.

Exit codes: 0 printed, 2 an unknown API or format.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inpaint_conformance.contracts import Api, Clause, clauses
from inpaint_conformance.contracts.catalog_docs import API_HEADINGS, render_decisions_markdown, render_markdown
from inpaint_conformance.contracts.decisions import DECISIONS

API_CHOICES = [api.value for api in Api]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=API_CHOICES, help="list only this API's clauses (default: both)")
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table", help="output format")
    parser.add_argument(
        "--decisions",
        action="store_true",
        help="print the decision rows the clauses cite (docs/decisions.md is the markdown output)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        selected = clauses(args.api)
    except ValueError as exc:
        Console(stderr=True, highlight=False).print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    if args.decisions:
        return _decisions(args.format, selected)
    if args.format == "json":
        write_stdout(json.dumps([c.to_dict() for c in selected], indent=2, ensure_ascii=False) + "\n")
    elif args.format == "markdown":
        # Plain text, not rich: the output is a file (docs/clauses.md), byte for byte.
        write_stdout(render_markdown(selected))
    else:
        console = Console(highlight=False)
        for api in Api:
            rows = [c for c in selected if c.api is api]
            if rows:
                console.print(_table(api, rows))
    return 0


def _decisions(fmt: str, selected: list[Clause]) -> int:
    if fmt == "markdown":
        write_stdout(render_decisions_markdown(selected))
    elif fmt == "json":
        write_stdout(json.dumps([asdict(d) for d in DECISIONS], indent=2, ensure_ascii=False) + "\n")
    else:
        table = Table(title=f"{len(DECISIONS)} decisions", title_justify="left")
        for column in ("row", "topic", "level", "decision"):
            table.add_column(column, no_wrap=column in ("row", "level"))
        for d in DECISIONS:
            table.add_row(d.id, escape(d.topic), escape(d.level), escape(d.decision))
        Console(highlight=False).print(table)
    return 0


def _table(api: Api, rows: list[Clause]) -> Table:
    table = Table(title=f"{API_HEADINGS[api].replace('`', '')}: {len(rows)} clauses", title_justify="left")
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("level", no_wrap=True)
    table.add_column("sides", no_wrap=True)
    table.add_column("statement")
    colours = {"MUST": "red", "SHOULD": "yellow", "MAY": "green"}
    for clause in rows:
        level = clause.level.value
        table.add_row(
            clause.id,
            f"[{colours[level]}]{level}[/]",
            ", ".join(sorted(s.value for s in clause.sides)),
            escape(clause.statement),
        )
    return table


def write_stdout(text: str) -> None:
    """Print ``text``; a reader that stops early (`| head`) ends the output quietly, not with a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would report the broken pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

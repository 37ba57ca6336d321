"""`inpaint-conformance openapi --api X`: the OpenAPI 3.1 document of one API, as JSON on stdout.

Feed it to any OpenAPI tool, e.g. Schemathesis against a server of your own:
`inpaint-conformance openapi --api vyro > vyro.json` then
`schemathesis run vyro.json --url http://127.0.0.1:8000 -H 'bearer: KEY'`.
Exit codes: 0 printed, 2 an unknown API.
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.markup import escape

from inpaint_conformance.contracts import Api
from inpaint_conformance.contracts.openapi import openapi_document

from .clauses import write_stdout

API_CHOICES = [api.value for api in Api]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=API_CHOICES, required=True, help="which API's document to print")


def run(args: argparse.Namespace) -> int:
    try:
        document = openapi_document(args.api)
    except ValueError as exc:
        Console(stderr=True, highlight=False).print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    write_stdout(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 0

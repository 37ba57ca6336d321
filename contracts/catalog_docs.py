"""The clause catalog as a Markdown document (docs/clauses.md is exactly its output).

`inpaint-conformance clauses --format markdown > docs/clauses.md` regenerates the
file; a test fails when the committed copy is stale, so the docs cannot drift from
the catalog.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from .clauses import Api, Citation, Clause

REGENERATE = "inpaint-conformance clauses --format markdown > docs/clauses.md"
API_HEADINGS = {Api.AITHRIVING: "AIThriving inpaint (`ait`)", Api.VYRO: "Vyro Imagine inpaint (`vyro`)"}
SOURCES = {Api.AITHRIVING: "aithriving-inpaint.txt", Api.VYRO: "vyro-imagine-inpaint.txt"}

# Decision rows that bind this project's own tools rather than a server or a client,
# so no catalog clause (each has an Api) carries them.
TOOL_RULES = (
    (
        "B3",
        "secrets",
        "No key or token is ever written to a log, journal, report or recording in clear; recordings redact auth headers.",
        "Tools redact with `contracts.exchange.redact_headers` / `redact_secret` before writing: the fake's "
        "journal, key listings and fault listings, and the proxy's recordings; `verify` reports show which key "
        "role a request used, never the key. `contracts.exchange.SECRET_HEADERS` names both APIs' auth headers "
        "(`authorization`, `bearer`). Schemathesis filters `authorization` but not `bearer` by default: the "
        "OpenAPI test adds `bearer` to its `keys-to-sanitize`, and so should anyone running the exported "
        "documents against Vyro.",
    ),
    (
        "B6",
        "what the suite may not assume",
        "How random seeds are drawn, what the fill looks like, JPEG/WebP encoder settings and PNG compression "
        "level, error wording, header order and extra headers, `Content-Length` vs chunked: all free.",
        "No clause judges any of these: formats are read from magic bytes, pixels only where the mask is exactly "
        "0 or 255 and only in PNG output, by PSNR (reproducibility passes on identical bytes or on PSNR), error "
        "wording is never matched (an AIThriving failure's message only has to be non-empty, a Vyro error body "
        "is shown, never judged), and headers are read by name, case-insensitively. A clause that needs one of "
        "them is a bug in the catalog.",
    ),
)

_CODE_SPAN = re.compile(r"(`[^`]*`)")
_MARKDOWN_SPECIAL = re.compile(r"([\\*_\[\]<>#])")


def render_markdown(clauses: Iterable[Clause]) -> str:
    """The catalog document: one table per API (id, level, statement, citation), then the tools' rules."""
    clauses = list(clauses)
    lines = [
        "# Clause catalog",
        "",
        f"Generated from the `contracts` package by `{REGENERATE}`; do not edit by hand.",
        "",
        "Each clause is one rule of one API, with a stable id that reports, CI and allow-lists refer to. Levels follow "
        "RFC 2119 as the project's CONTRACT-DECISIONS.md uses them: a MUST failure makes "
        "`verify` exit non-zero, a SHOULD failure is reported (and fails with `--strict`), and for a MAY clause both "
        "behaviours pass. A citation quotes the API's own document verbatim (the copies in `contracts/seeds/`) "
        "and names the decision row that reads it.",
    ]
    for api in Api:
        rows = [c for c in clauses if c.api is api]
        if not rows:
            continue
        lines += ["", f"## {API_HEADINGS[api]}", "", f"{len(rows)} clauses; source document `{SOURCES[api]}`.", ""]
        lines += ["| id | level | statement | citation |", "| --- | --- | --- | --- |"]
        lines += [f"| `{c.id}` | {c.level.value} | {_text_cell(c.statement)} | {_citation_cell(c.citation)} |" for c in rows]
    lines += ["", "## Rules for the tools themselves", "",
              "Two decision rows bind this project's tools rather than a server or a client, so no clause above "
              "carries them; this is how the project keeps them.", ""]
    lines += ["| row | topic | rule | how the project keeps it |", "| --- | --- | --- | --- |"]
    lines += [f"| {row} | {topic} | {_text_cell(rule)} | {_text_cell(how)} |" for row, topic, rule, how in TOOL_RULES]
    return "\n".join(lines) + "\n"


def _text_cell(text: str) -> str:
    """Prose for a table cell: code spans kept, Markdown and HTML specials escaped outside them."""
    parts = _CODE_SPAN.split(" ".join(text.split()))
    return "".join(part if part.startswith("`") else _MARKDOWN_SPECIAL.sub(r"\\\1", part) for part in parts).replace("|", "\\|")


def _code(text: str) -> str:
    """Verbatim text as a code span (whitespace runs shown as one space), safe in a table."""
    text = " ".join(text.split())
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" or text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def _citation_cell(citation: Citation) -> str:
    parts = []
    if citation.quote:
        parts.append(f"{_code(citation.quote)} ({citation.document})")
    if citation.decision:
        parts.append(f"decision {citation.decision}")
    return "; ".join(parts) or "interpretation"

"""The clause catalog as a Markdown document (docs/clauses.md is exactly its output).

`inpaint-conformance clauses --format markdown > docs/clauses.md` regenerates the
file; a test fails when the committed copy is stale, so the docs cannot drift from
the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .clauses import Api, Citation, Clause
from .decisions import DECISIONS, cited, decision

REGENERATE = "inpaint-conformance clauses --format markdown > docs/clauses.md"
API_HEADINGS = {Api.AITHRIVING: "AIThriving inpaint (`ait`)", Api.VYRO: "Vyro Imagine inpaint (`vyro`)"}
SOURCES = {Api.AITHRIVING: "aithriving-inpaint.txt", Api.VYRO: "vyro-imagine-inpaint.txt"}

# How the project keeps the decision rows that bind its own tools rather than a server
# or a client (no catalog clause, each of which has an Api, carries them).
TOOL_RULES = {
    "B3": "Secrets are removed where they stand: the secret headers (by name, in "
    "`contracts/exchange.py`), form fields whose value is a known key, reproducers that read keys from "
    "`$AIT_API_KEY` / `$VYRO_TOKEN`, and a key a server echoes, replaced as a whole token. Never a substring "
    "replacement over JSON keys, field names, file names or image data. Schemathesis filters "
    "`authorization` but not `bearer` by default: the OpenAPI test adds `bearer` to its "
    "`keys-to-sanitize`, and so should anyone running the exported documents against Vyro.",
    "B6": "No clause judges any of these: formats are read from magic bytes, pixels only where the mask is exactly "
    "0 or 255 and only in PNG output, by PSNR (reproducibility passes on identical bytes or on PSNR), error "
    "wording is never matched (an AIThriving failure's message only has to be non-empty, a Vyro error body "
    "is shown, never judged), headers are read by name, case-insensitively, and a duplicated form field "
    "may be served either way or refused. A clause that needs one of them is a bug in the catalog.",
}
DECISIONS_REGENERATE = "inpaint-conformance clauses --decisions --format markdown > docs/decisions.md"
DECISION_HEADINGS = {
    "A": "AIThriving inpaint (`A` rows)",
    "V": "Vyro Imagine inpaint (`V` rows)",
    "B": "Both APIs (`B` rows)",
}

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
        "RFC 2119 as [the project's decisions](decisions.md) use them: a MUST failure makes "
        "`verify` exit non-zero, a SHOULD failure is reported (and fails with `--strict`), and for a MAY clause both "
        "behaviours pass. A citation quotes the API's own document verbatim (the copies in `contracts/seeds/`) "
        "and names the decision row ([docs/decisions.md](decisions.md)) that reads it.",
    ]
    for api in Api:
        rows = [c for c in clauses if c.api is api]
        if not rows:
            continue
        lines += ["", f"## {API_HEADINGS[api]}", "", f"{len(rows)} clauses; source document `{SOURCES[api]}`.", ""]
        lines += ["| id | level | statement | citation |", "| --- | --- | --- | --- |"]
        lines += [
            f"| `{c.id}` | {c.level.value} | {_text_cell(c.statement)} | {_citation_cell(c.citation)} |" for c in rows
        ]
    lines += [
        "",
        "## Rules for the tools themselves",
        "",
        "Two decision rows bind this project's tools rather than a server or a client, so no clause above "
        "carries them; this is how the project keeps them.",
        "",
    ]
    lines += ["| row | topic | rule | how the project keeps it |", "| --- | --- | --- | --- |"]
    for row, how in TOOL_RULES.items():
        rule = decision(row)
        lines.append(
            f"| [{row}](decisions.md#{rule.anchor}) | {rule.topic} | {_text_cell(rule.decision)} | {_text_cell(how)} |"
        )
    return "\n".join(lines) + "\n"


def render_decisions_markdown(clauses: Iterable[Clause]) -> str:
    """docs/decisions.md: every decision row, its level, its reasons and the clauses that cite it."""
    clauses = list(clauses)
    citing: dict[str, list[str]] = {}
    for c in clauses:
        for row in cited(c.citation.decision):
            citing.setdefault(row.id, []).append(c.id)
    lines = [
        "# Contract decisions",
        "",
        f"Generated from `contracts/decisions.py` by `{DECISIONS_REGENERATE}`; do not edit by hand.",
        "",
        "The two provider documents (verbatim in `contracts/seeds/`) are short, and in places silent or "
        "self-contradictory. Each row below is how this project reads one question; every clause of the "
        "[catalog](clauses.md) cites the rows it comes from. Levels follow RFC 2119: a MUST failure makes `verify` "
        "exit non-zero, a SHOULD failure is reported (and fails with `--strict`), and for a MAY row every allowed "
        "behaviour passes: a suite that fails a correct server is as broken as one that passes a wrong one.",
        "",
        "Image formats are always decided from the bytes (magic numbers), never from a part's filename or "
        "Content-Type: the official Vyro SDK labels every upload `image/jpeg` named `image.jpeg`, whatever it holds.",
    ]
    for prefix, heading in DECISION_HEADINGS.items():
        lines += ["", f"## {heading}", ""]
        for row in (d for d in DECISIONS if d.id.startswith(prefix)):
            ids = citing.get(row.id, [])
            lines += [
                f'<a id="{row.anchor}"></a>',
                f"### {row.id}: {row.topic}",
                "",
                f"**Level:** {_text_cell(row.level)}",
                "",
                _text_cell(row.decision),
                "",
                f"*Why:* {_text_cell(row.why)}",
                "",
            ]
            if ids:
                lines += ["Clauses: " + ", ".join(f"`{c}`" for c in ids), ""]
            elif row.id in TOOL_RULES:
                lines += ["Binds this project's own tools: " + _text_cell(TOOL_RULES[row.id]), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _text_cell(text: str) -> str:
    """Prose for a table cell: code spans kept, Markdown and HTML specials escaped outside them."""
    parts = _CODE_SPAN.split(" ".join(text.split()))
    return "".join(part if part.startswith("`") else _MARKDOWN_SPECIAL.sub(r"\\\1", part) for part in parts).replace(
        "|", "\\|"
    )


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
        parts.append(
            "decision " + ", ".join(f"[{row.id}](decisions.md#{row.anchor})" for row in cited(citation.decision))
        )
    return "; ".join(parts) or "interpretation"

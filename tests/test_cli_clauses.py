"""`inpaint-conformance clauses` and the catalog's citations.

docs/clauses.md is the markdown output for the whole catalog, byte for byte; every
quote is verbatim in the seed document it names; every decision row is cited.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from inpaint_conformance.contracts import CATALOG, Api, clauses
from inpaint_conformance.contracts.catalog_docs import (
    DECISIONS_REGENERATE,
    REGENERATE,
    TOOL_RULES,
    render_decisions_markdown,
    render_markdown,
)
from inpaint_conformance.contracts.decisions import DECISIONS, cited
from inpaint_conformance.harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "clauses.md"
SEEDS = ROOT / "contracts" / "seeds"
SEED_FILES = ("aithriving-inpaint.txt", "vyro-imagine-inpaint.txt")
# The decision rows (docs/decisions.md); B3 and B6 bind the project's own tools, not an API.
DECISION_ROWS = [f"A{i}" for i in range(1, 22)] + [f"V{i}" for i in range(1, 10)] + [f"B{i}" for i in range(1, 7)]
DECISIONS_DOC = ROOT / "docs" / "decisions.md"
TOOL_ROWS = {"B3", "B6"}


def shared_seeds() -> list[Path]:
    """The project's master copies of the seed documents, where this checkout can see them."""
    candidates = [Path("/work/shared/seeds"), ROOT.parent / "shared" / "seeds"]
    return list(dict.fromkeys(p.resolve() for p in candidates if p.is_dir()))


def run_cli(capsys, *args: str) -> str:
    assert main(["clauses", *args]) == 0
    return capsys.readouterr().out


# -- docs/clauses.md ---------------------------------------------------------------------------
def test_docs_clauses_md_is_up_to_date():
    expected = render_markdown(CATALOG)
    actual = DOCS.read_text(encoding="utf-8") if DOCS.exists() else ""
    assert actual == expected, f"docs/clauses.md is stale: regenerate it with `{REGENERATE}`"


def test_docs_decisions_md_is_up_to_date(capsys):
    expected = render_decisions_markdown(CATALOG)
    actual = DECISIONS_DOC.read_text(encoding="utf-8") if DECISIONS_DOC.exists() else ""
    assert actual == expected, f"docs/decisions.md is stale: regenerate it with `{DECISIONS_REGENERATE}`"
    assert run_cli(capsys, "--decisions", "--format", "markdown") == expected


def test_decisions_are_the_rows_the_project_reads_and_each_has_its_reasons():
    assert [d.id for d in DECISIONS] == [r for r in DECISION_ROWS if r[0] == "A"] + [
        r for r in DECISION_ROWS if r[0] == "V"
    ] + ["B1", "B2", "B3", "B4", "B5", "B6"]
    for row in DECISIONS:
        assert row.decision.strip() and row.why.strip() and row.level.strip(), row.id


def test_every_citation_in_the_catalog_resolves_to_a_decision_row():
    for clause in CATALOG:
        rows = cited(clause.citation.decision)  # raises UnknownDecision for a row that is not there
        assert rows or clause.citation.quote, f"{clause.id} cites neither the document nor a decision"
        for row in rows:
            assert (
                f"`{clause.id}`"
                in DECISIONS_DOC.read_text(encoding="utf-8").split(f"### {row.id}:", 1)[1].split("###", 1)[0]
            )


def test_markdown_output_is_the_docs_file(capsys):
    assert run_cli(capsys, "--format", "markdown") == render_markdown(CATALOG)


def cells(line: str) -> list[str]:
    """The cells of a Markdown table row (escaped pipes stay inside their cell)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def test_markdown_has_one_well_formed_table_row_per_clause():
    text = render_markdown(CATALOG)
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(CATALOG)
    for line, clause in zip(rows, CATALOG, strict=True):
        id_, level, statement, citation = cells(line)
        assert (id_, level) == (f"`{clause.id}`", clause.level.value)
        for row in cited(clause.citation.decision):
            assert f"[{row.id}](decisions.md#{row.anchor})" in citation
    assert text.startswith("# Clause catalog\n")
    assert "## AIThriving inpaint" in text and "## Vyro Imagine inpaint" in text


def test_markdown_lists_the_rules_for_the_tools():
    text = render_markdown(CATALOG)
    section = text.split("## Rules for the tools themselves", 1)[1]
    assert set(TOOL_RULES) == TOOL_ROWS
    for row in TOOL_ROWS:
        assert f"| [{row}](decisions.md#decision-{row.lower()}) |" in section


def test_markdown_escapes_what_would_render_as_html_or_emphasis():
    text = render_markdown(CATALOG)
    assert "<base64 str>" not in text.replace("`", "")  # would vanish as an HTML tag
    assert r"\<base64 str\>" in text


# -- the other formats ----------------------------------------------------------------------------
def test_json_lists_every_clause(capsys):
    listed = json.loads(run_cli(capsys, "--format", "json"))
    assert [c["id"] for c in listed] == [c.id for c in CATALOG]
    assert listed[0] == CATALOG[0].to_dict()


@pytest.mark.parametrize("api", list(Api))
def test_api_filter(api, capsys):
    listed = json.loads(run_cli(capsys, "--api", api.value, "--format", "json"))
    assert {c["api"] for c in listed} == {api.value}
    assert len(listed) == len(clauses(api))


def test_table_shows_every_clause_with_its_level(capsys):
    out = run_cli(capsys)
    for clause in CATALOG:
        assert clause.id in out
    assert "MUST" in out and "SHOULD" in out and "MAY" in out


def test_unknown_api_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["clauses", "--api", "dalle"])
    assert exited.value.code == 2
    assert "aithriving" in capsys.readouterr().err


# -- citations ------------------------------------------------------------------------------------
@pytest.mark.parametrize("clause", [c for c in CATALOG if c.citation.quote], ids=lambda c: c.id)
def test_quotes_are_verbatim_in_their_seed_document(clause):
    assert clause.citation.document in SEED_FILES
    text = (SEEDS / clause.citation.document).read_text(encoding="utf-8")
    assert clause.citation.quote in text, f"{clause.id} quotes text that is not in {clause.citation.document}"


@pytest.mark.parametrize("clause", CATALOG, ids=lambda c: c.id)
def test_every_clause_cites_something(clause):
    assert clause.citation.quote or clause.citation.decision


@pytest.mark.skipif(not shared_seeds(), reason="no shared seeds folder next to this checkout")
@pytest.mark.parametrize("name", SEED_FILES)
def test_seed_copies_are_byte_identical_to_the_shared_ones(name):
    for folder in shared_seeds():
        assert (SEEDS / name).read_bytes() == (folder / name).read_bytes(), (
            f"contracts/seeds/{name} differs from {folder}"
        )


def cited_rows() -> set[str]:
    return {row for c in CATALOG if c.citation.decision for row in re.findall(r"\b[AVB]\d+\b", c.citation.decision)}


def test_every_decision_row_is_cited():
    missing = set(DECISION_ROWS) - TOOL_ROWS - cited_rows()
    assert not missing, f"decision rows no clause cites: {sorted(missing)}"


def test_clauses_cite_only_real_decision_rows():
    assert cited_rows() <= set(DECISION_ROWS) - TOOL_ROWS

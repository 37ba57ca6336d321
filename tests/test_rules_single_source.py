"""Nothing outside contracts/ restates a rule: no API path, auth header name, fake prefix,
seed bound, credit price, key variable name or media-type list written as a literal.

Docstrings may name them (they explain, they do not decide); code reads them from
`inpaint_conformance.contracts.rules`. A failure names the file and line to change.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from inpaint_conformance.contracts.clauses import Api, Level
from inpaint_conformance.contracts.rules import (
    AUTH_HEADER,
    FAKE_PREFIX,
    KEY_ENV_VARS,
    MEDIA_TYPES,
    PATHS,
    SEED_MAX,
)

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("fakes", "harness", "reference_impl")

SUBSTRINGS = (*PATHS.values(), FAKE_PREFIX, str(SEED_MAX))
EXACT = {*(h.lower() for h in AUTH_HEADER.values()), *KEY_ENV_VARS.values()}
CREDIT_PRICE = re.compile(r"\b\d+ credits? (per|for|a) (success|result|request|image)", re.IGNORECASE)
MEDIA = set(MEDIA_TYPES.values())
ENUM_VALUES = ({a.value for a in Api}, {lv.value for lv in Level})


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def restated_rules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    docstrings = _docstrings(tree)
    where = lambda node: f"{path.relative_to(ROOT)}:{node.lineno}"  # noqa: E731
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            value = node.value
            if isinstance(value, str):
                hits = [s for s in SUBSTRINGS if s in value]
                if value.lower() in EXACT:
                    hits.append(value)
                if CREDIT_PRICE.search(value):
                    hits.append("a credit price")
                found += [f"{where(node)}: {hit!r}" for hit in hits]
            elif isinstance(value, int) and not isinstance(value, bool) and value == SEED_MAX:
                found.append(f"{where(node)}: {value}")
        elif isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
            elements = node.values if isinstance(node, ast.Dict) else node.elts
            strings = {e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if len(strings & MEDIA) >= 2:
                found.append(f"{where(node)}: a list of media types")
            for values in ENUM_VALUES:
                if strings and strings == values:
                    found.append(f"{where(node)}: the values of an enum ({sorted(values)})")
    return found


def test_the_scan_finds_a_restated_rule(tmp_path):
    bad = ROOT / "harness" / "_scan_probe_tmp.py"
    bad.write_text(
        'URL = "https://x" + "/api/edit/inpaint"\nHEADER = "Authorization"\nSEED = 4294967294\n'
        'TYPES = ("image/png", "image/jpeg")\nLEVELS = ("MUST", "SHOULD", "MAY")\n'
        'MEDIA = {"png": "image/png", "webp": "image/webp"}\n'
    )
    try:
        found = restated_rules(bad)
    finally:
        bad.unlink()
    assert len(found) == 6, found


def test_no_rule_is_restated_outside_contracts():
    found = [
        hit for package in SCANNED for path in sorted((ROOT / package).rglob("*.py")) for hit in restated_rules(path)
    ]
    assert not found, "rules restated outside contracts/ (read them from contracts.rules):\n" + "\n".join(found)

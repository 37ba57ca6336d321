"""What the generated doc parts share: reading bench/results/NAME.json, number formats,
Markdown tables, and the line naming where a part's numbers come from."""

from __future__ import annotations

import json

from _common import REPO

RESULTS = REPO / "bench" / "results"


class MissingResults(Exception):
    """A part needs a results file that is not there: run its benchmark."""


def load(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise MissingResults(f"{path.relative_to(REPO)} is missing: python bench/report.py --run {name}")
    return json.loads(path.read_text())


# -- formatting --------------------------------------------------------------------------------
def x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def rate(value: float | None) -> str:
    if not value:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def table(header: list[str], rows: list[list[str]], right_from: int = 1, right_to: int | None = None) -> str:
    """A Markdown table; columns right_from up to (not including) right_to are right-aligned."""
    right = range(right_from, len(header) if right_to is None else right_to)
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def source(name: str, numbers: dict) -> str:
    """Where a part's numbers come from: the command, the machine, how busy it was."""
    machine = numbers.get("machine", {})
    versions = ", ".join(
        f"{k} {machine[k]}" for k in ("python", "Pillow", "numpy", "uvicorn", "httptools", "uvloop") if k in machine
    )
    return (
        f"`{numbers.get('command', '?')}` on {machine.get('cores', '?')} cores "
        f"({machine.get('cpu', '?')}), {versions}; load average at the start {machine.get('load average at start', '?')} "
        f"(bench/results/{name}.json)."
    )

"""The code stays lint-clean, formatted and type-checked: ruff and mypy, as a contributor runs them.

Each check runs from the repository root with this interpreter's tools (the `test` extra
installs both); it is skipped, saying how to install it, only where the tool is missing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = "pip install '.[test]'"


def _needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed for {sys.executable}: {INSTALL_HINT}")


def _run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, **env},
        check=False,
    )


def _explain(result: subprocess.CompletedProcess[str], fix: str) -> str:
    return f"exit {result.returncode}; {fix}\n{result.stdout}{result.stderr}"


def test_ruff_check_passes() -> None:
    _needs("ruff")
    result = _run([sys.executable, "-m", "ruff", "check", "."])
    assert result.returncode == 0, _explain(result, "fix these (`ruff check --fix .` fixes some)")


def test_ruff_format_check_passes() -> None:
    _needs("ruff")
    result = _run([sys.executable, "-m", "ruff", "format", "--check", "."])
    assert result.returncode == 0, _explain(result, "run `ruff format .`")


def test_typecheck_passes() -> None:
    _needs("mypy")
    # .ci/typecheck runs $PYTHON (default: the `python` on PATH); this interpreter has mypy.
    result = _run(["bash", str(ROOT / ".ci" / "typecheck")], PYTHON=sys.executable)
    assert result.returncode == 0, _explain(result, "fix the types mypy reports")
    assert "Success: no issues found" in result.stdout, result.stdout

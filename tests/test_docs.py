"""The docs say what the code does: README examples run, sample output has the shape of a
real run, and every generated number matches the benchmark results it was made from."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
INSTALLED = any(ep.name == "inpaint_fakes" for ep in entry_points(group="pytest11"))
PLUGIN = [] if INSTALLED else ["-p", "inpaint_conformance.fakes.pytest_plugin"]

pytest_plugins = ["pytester"]


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_readme_examples_for_tests_run_as_written(pytester: pytest.Pytester):
    """The fixture examples (retrying a timeout included) and the mock_providers() block, verbatim."""
    blocks = _python_blocks(_section("### In your tests, without a server"))
    assert len(blocks) >= 3, "expected the fixture example, the retry example and the mock_providers() block"
    for name in ("cat.png", "mask.png"):
        Image.new("RGB" if name == "cat.png" else "L", (64, 48), (90, 140, 200) if name == "cat.png" else 255).save(
            pytester.path / name
        )
    for number, block in enumerate(blocks):
        if "def test_" in block:
            pytester.makepyfile(**{f"test_readme_{number}": block})
        else:  # a top-level script: run it as the body of a test
            body = textwrap.indent(block, "    ")
            pytester.makepyfile(**{f"test_readme_{number}": f"def test_block():\n{body}"})
    result = pytester.runpytest(*PLUGIN, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(blocks))


def _sample_from_readme() -> list[str]:
    found = re.search(r"<!-- bench:verify-sample -->\n```text\n(.*?)```\n<!-- /bench:verify-sample -->", README, re.S)
    assert found, "README.md has no generated verify sample"
    return found.group(1).rstrip("\n").splitlines()


def _shape(line: str) -> tuple:
    """clause, level, status and first piece of evidence (numbers with decimals normalised).

    Not how many checks ran: property probes draw their examples from hypothesis, whose draws
    for a given seed change between hypothesis releases (a fresh install may get a newer one)."""
    cells = [c.strip() for c in line.strip("│ ").split("│")]
    if len(cells) < 4:
        return (re.sub(r"\d+\.\d+", "#.#", line.strip()),)
    clause, level, status, evidence = cells[:4]
    count, _, rest = evidence.partition(":")
    first = re.split(r";|\(x\d+\)", rest)[0]
    return clause, level, status, re.sub(r"\d+\.\d+", "#.#", first).strip()


@pytest.mark.slow
def test_the_readme_sample_output_has_the_shape_of_a_real_verify_run(monkeypatch):
    """Each sample row (clause, level, status, what the checks saw) and the last line
    match what `inpaint-conformance verify` prints today; `python bench/report.py` rewrites them."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import _doc_parts

    sample, real = _sample_from_readme(), _doc_parts.verify_sample_lines()
    assert [_shape(line) for line in sample] == [_shape(line) for line in real], (
        "README.md's sample verify output no longer matches a real run: python bench/report.py rewrites it"
    )
    assert sample[-1] == real[-1]  # "OK: N passed, ...": the counts themselves


@pytest.mark.slow
def test_every_generated_number_in_the_docs_matches_the_benchmark_results():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "report.py"), "--check", "--skip", "verify-sample"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_generated_part_names_the_command_that_made_it():
    """A part of bench/README.md states its source: the command, the machine and the results file."""
    text = (ROOT / "bench" / "README.md").read_text()
    parts = re.findall(r"<!-- bench:([\w-]+) -->(.*?)<!-- /bench:\1 -->", text, re.S)
    expected = {"fake", "hotpath", "verify", "mock", "scaling", "memory", "slow-clients", "scaling-ingress"}
    assert {name for name, _ in parts} >= expected
    for name, body in parts:
        assert f"bench/results/{name}.json" in body and "python bench/" in body, name

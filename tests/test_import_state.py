"""Importing any module of the project changes no process-wide state: logging and Pillow stay
as the user's program left them; only the CLI and our servers configure logging, when they start."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from inpaint_conformance.contracts.images import ImageDecodeError, decode_image

# Runs in a fresh interpreter: import the libraries our modules import (they may set up
# their own logging), take a snapshot, import every module of ours, take another.
SNAPSHOT_SCRIPT = r"""
import importlib, json, logging, sys, warnings
from PIL import Image, ImageFile

def snapshot():
    loggers = {"": logging.getLogger()}
    loggers.update((n, l) for n, l in logging.Logger.manager.loggerDict.items() if isinstance(l, logging.Logger))
    return {
        "loggers": {
            name: [logger.level, [repr(type(f)) for f in logger.filters], len(logger.handlers),
                   logger.propagate, logger.disabled]
            for name, logger in loggers.items()
        },
        "disable": logging.root.manager.disable,
        "pil": [ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS],
        "warnings": len(warnings.filters),
    }

libraries, ours = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in libraries:
    try:
        importlib.import_module(name)
    except Exception:
        pass
ImageFile.LOAD_TRUNCATED_IMAGES = True  # the user's program's choice, which must survive
logging.getLogger("python_multipart").setLevel(logging.INFO)
before = snapshot()
for name in ours:
    importlib.import_module(name)
after = snapshot()
print(json.dumps({"before": before, "after": after}))
"""


PACKAGES = ("contracts", "fakes", "harness", "reference_impl")


def _our_modules() -> list[str]:
    names = ["inpaint_conformance"]
    for package in PACKAGES:
        module = importlib.import_module(f"inpaint_conformance.{package}")
        names.append(module.__name__)
        names += [info.name for info in pkgutil.walk_packages(module.__path__, f"{module.__name__}.")]
    assert len(names) > 100, names  # the walk found the four packages, not an empty namespace
    return sorted(names)


def _libraries_imported_by(modules: list[str]) -> list[str]:
    """Every absolute, non-project import of the modules, dotted names and their parents."""
    found: set[str] = set()
    for name in modules:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text())
        for node in ast.walk(tree):
            dotted: list[str] = []
            if isinstance(node, ast.Import):
                dotted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                dotted = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for full in dotted:
                if full.split(".")[0] in {"inpaint_conformance", "__future__"}:
                    continue
                parts = full.split(".")
                found.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(found)


def test_importing_every_module_changes_no_logging_or_pillow_setting():
    modules = _our_modules()
    script = [sys.executable, "-c", SNAPSHOT_SCRIPT, json.dumps(_libraries_imported_by(modules)), json.dumps(modules)]
    done = subprocess.run(script, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    states = json.loads(done.stdout.strip().splitlines()[-1])
    before, after = states["before"], states["after"]
    assert after["pil"] == before["pil"]
    assert after["disable"] == before["disable"]
    assert after["warnings"] == before["warnings"], "a module added a warnings filter at import"
    changed = {
        name: (before["loggers"].get(name), config)
        for name, config in after["loggers"].items()
        # A logger created by getLogger() at import is fine as long as it is left unconfigured.
        if config != before["loggers"].get(name, [0, [], 0, True, False])
    }
    assert not changed, f"loggers configured at import (name: before, after): {changed}"


def test_the_cli_configures_logging_when_it_runs():
    code = (
        "import logging, sys\n"
        "from inpaint_conformance.harness.cli import main\n"
        "assert not logging.getLogger('uvicorn.error').filters\n"
        "main(['clauses'])\n"
        "print(len(logging.getLogger('uvicorn.error').filters), logging.getLogger('python_multipart').level)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "1 40"


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").resize((96, 80)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_images_refused_even_when_the_program_allows_them(fmt, monkeypatch):
    """A user's program may set Pillow's LOAD_TRUNCATED_IMAGES; the validators still refuse a cut-off image."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = _encoded(fmt)
    assert decode_image(data, {fmt.lower()}).size == (96, 80)
    with pytest.raises(ImageDecodeError, match="truncated|do not decode"):
        decode_image(data[:-40], {fmt.lower()})

"""The wheel installs under its own namespace: a project with its own top-level `contracts`
and `harness` packages keeps them, and the `inpaint_fake` fixture still works there.

Builds the wheel, installs it into a fresh virtual environment (dependencies from the
interpreter running the tests), writes such a project and runs its pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

USER_FILES = {
    "contracts/__init__.py": 'OWNER = "the user\'s contracts"\n',
    "harness/__init__.py": "",
    "harness/tools.py": "def answer() -> int:\n    return 42\n",
    "tests/test_project.py": """
        import inpaint_conformance
        import requests

        import contracts
        from harness.tools import answer


        def test_its_own_packages_are_its_own():
            assert contracts.OWNER == "the user's contracts"
            assert answer() == 42


        def test_the_tool_comes_from_the_installed_wheel():
            assert inpaint_conformance.__file__.startswith("{venv}")


        def test_the_fixture_answers_and_charges(inpaint_fake):
            from inpaint_conformance.contracts.strategies import encode_image, picture

            image = encode_image(picture((64, 64), "RGBA"), "png")
            answer = requests.post(
                "https://www.aithriving.com/api/edit/inpaint",
                headers={{"authorization": inpaint_fake.key}},
                files={{"prompt": (None, "a boat"), "image": ("image.png", image, "image/png")}},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["message"] == "success"
            assert inpaint_fake.balance() == 6000 - 6
            inpaint_fake.assert_client_conformant()
    """,
}


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.mark.slow
def test_a_project_with_its_own_contracts_and_harness_keeps_them(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    wheels, venv, project = tmp_path / "wheels", tmp_path / "venv", tmp_path / "project"
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        tmp_path,
        env,
    )
    # Built as `pip wheel` builds it for a user: in an isolated build environment (.ci/typecheck too).
    [wheel] = wheels.glob("inpaint_conformance-*.whl")
    # The test interpreter's packages serve as the dependencies; the wheel itself goes in the venv.
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], tmp_path, env)
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path, env)
    for name, text in USER_FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).replace("{venv}", str(venv)).replace("{{", "{").replace("}}", "}"))
    out = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], project, env)
    assert "3 passed" in out, out

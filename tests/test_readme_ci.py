"""The CI recipes of README.md, run as written.

Each YAML block of the "CI recipes" section is parsed and its shell steps (`run:` of each
GitHub Actions job, `script:` of the GitLab job) run with bash, in a temporary folder that
stands for the repository checkout, with the environment the recipe sets. Only what a CI
service does itself is stood in for, and nothing else is changed:

- `${{ secrets.X }}` / `${{ vars.X }}` (and GitLab's CI/CD variables) get values pointing
  at a live fake provider that stands for "your server";
- `uses:` steps: checkout is the prepared folder (the committed baseline, the app's client
  tests), setup-python is this interpreter (its bin/ first on PATH), upload-artifact checks
  that what it would upload exists;
- a step that is only `pip install PACKAGES` is not run (no network in the test, and the
  package under test is this checkout): the test checks each package imports instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from inpaint_conformance.fakes import FakeControl, FakeProvider
from inpaint_conformance.fakes.app import create_app
from inpaint_conformance.fakes.server import serving

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
KEY = "readme-ci-key-0123456789"
STEP_TIMEOUT = 240
# The app's client tests of the recipe: a client of the AIThriving API, pointed at the fake by its env.
CLIENT_TEST = """
import io, os
import httpx
from PIL import Image

def png(mode, colour):
    out = io.BytesIO()
    Image.new(mode, (64, 48), colour).save(out, "PNG")
    return out.getvalue()

def test_inpaint_through_the_fake():
    answer = httpx.post(
        os.environ["AIT_BASE_URL"] + "/api/edit/inpaint",
        headers={"authorization": os.environ["AIT_API_KEY"]},
        data={"prompt": "a boat", "seed": "7"},
        files={"image": ("a.png", png("RGB", (90, 140, 200)), "image/png"),
               "mask": ("m.png", png("L", 255), "image/png")},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.json()["data"]["seed"] == 7
"""


def recipes() -> list[dict]:
    start = README.index("## CI recipes")
    section = README[start : README.index("\n## ", start + 1)]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def _expand(value: str, context: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        expression = match.group(1).strip()
        assert expression in context, f"the recipe uses ${{{{ {expression} }}}}, which the test does not provide"
        return context[expression]

    return re.sub(r"\$\{\{(.*?)\}\}", one, str(value))


def _pip_install_only(script: str) -> list[str] | None:
    lines = [line.strip() for line in script.strip().splitlines()]
    if len(lines) == 1 and lines[0].startswith("pip install "):
        return lines[0].split()[2:]
    return None


def _importable(package: str) -> bool:
    return importlib.util.find_spec(package.replace("-", "_")) is not None


class Shell:
    """Runs steps with bash, each in its own session, so background jobs can be ended afterwards."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env, self.sessions = folder, env, []

    def run(self, script: str) -> subprocess.CompletedProcess:
        skipped = _pip_install_only(script)
        if skipped is not None:
            missing = [p for p in skipped if not _importable(p)]
            assert not missing, (
                f"{missing} not importable: the test stands for `{script.strip()}` with the installed ones"
            )
            return subprocess.CompletedProcess(script, 0, "", "")
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.sessions.append(process.pid)
        out, _ = process.communicate(timeout=STEP_TIMEOUT)
        return subprocess.CompletedProcess(script, process.returncode, out, "")

    def close(self) -> None:
        for pid in self.sessions:  # only the sessions this test started (serve's background job among them)
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIT_", "VYRO_"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(Path(extra.pop("_hypothesis")))
    return env | extra


@pytest.fixture(scope="module")
def staging(tmp_path_factory):
    """A live fake standing for the user's server, with one known failing clause, and its baseline."""
    provider = FakeProvider()
    provider.add_key(KEY, 10_000_000)
    FakeControl(provider).inject("success_message_wrong", api="aithriving")
    checkout = tmp_path_factory.mktemp("checkout")
    with serving(create_app(provider)) as server:
        known = checkout / "conformance" / "known.json"
        written = subprocess.run(
            [sys.executable, "-m", "inpaint_conformance.harness.cli", "verify", "--api", "aithriving"]
            + ["--base-url", server.url, "--api-key", KEY, "--yes", "--write-baseline", str(known)],
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            env=_environment({"_hypothesis": str(checkout / ".hyp")}),
        )
        assert written.returncode == 1, written.stderr  # the server fails one clause: the baseline records it
        assert '"ait.success.code"' in known.read_text()
        yield server.url, checkout


def run_github_job(job: dict, folder: Path, context: dict[str, str]) -> list[subprocess.CompletedProcess]:
    env = _environment({"_hypothesis": str(folder / ".hyp")} | {k: _expand(v, context) for k, v in job["env"].items()})
    shell, done, failed = Shell(folder, env), [], False
    try:
        for step in job["steps"]:
            if failed and "always()" not in str(step.get("if", "")):
                continue
            if "uses" in step:
                action = step["uses"].split("@")[0]
                assert action in ("actions/checkout", "actions/setup-python", "actions/upload-artifact"), action
                if action == "actions/upload-artifact":
                    assert (folder / step["with"]["path"]).exists(), f"nothing to upload at {step['with']['path']}"
                continue
            result = shell.run(_expand(step["run"], context))
            done.append(result)
            failed = failed or result.returncode != 0
    finally:
        shell.close()
    return done


def test_the_recipes_are_a_github_workflow_with_two_jobs_and_a_gitlab_job():
    github, gitlab = recipes()
    assert set(github["jobs"]) == {"verify", "client-tests"}
    assert "script" in gitlab["conformance"]


@pytest.mark.slow
def test_github_verify_job_passes_against_its_baseline_and_leaves_the_reports_to_upload(staging):
    url, checkout = staging
    job = recipes()[0]["jobs"]["verify"]
    results = run_github_job(job, checkout, {"vars.STAGING_URL": url, "secrets.AIT_API_KEY": KEY})
    assert [r.returncode for r in results] == [0, 0], results[-1].stdout[-3000:]
    assert "OK: no new failure (1 known failure in conformance/known.json)" in results[-1].stdout
    for name in ("junit.xml", "report.html", "report.json"):
        assert (checkout / "reports" / name).stat().st_size > 0


@pytest.mark.slow
def test_github_client_tests_job_runs_the_apps_tests_against_serve_in_the_background(tmp_path):
    (tmp_path / "tests" / "client").mkdir(parents=True)
    (tmp_path / "tests" / "client" / "test_client.py").write_text(CLIENT_TEST)
    job = recipes()[0]["jobs"]["client-tests"]
    results = run_github_job(job, tmp_path, {})
    assert [r.returncode for r in results] == [0, 0, 0, 0], "\n".join(r.stdout[-2000:] for r in results)
    assert "1 passed" in results[2].stdout
    assert '"clause"' not in results[3].stdout  # check-client printed its table, not JSON
    assert (tmp_path / "reports" / "client-junit.xml").stat().st_size > 0
    assert KEY not in (tmp_path / "reports" / "client-junit.xml").read_text()


@pytest.mark.slow
def test_gitlab_job_passes_against_its_baseline_and_leaves_the_junit_report(staging):
    url, checkout = staging
    job = recipes()[1]["conformance"]
    env = _environment({"_hypothesis": str(checkout / ".hyp"), "STAGING_URL": url, "AIT_API_KEY": KEY})
    shell = Shell(checkout, env)
    try:
        # GitLab runs the script's lines in one shell, stopping at the first that fails.
        result = shell.run("\n".join(line for line in job["script"] if _pip_install_only(line) is None))
        for line in job["script"]:
            if _pip_install_only(line) is not None:
                shell.run(line)  # the importability check
    finally:
        shell.close()
    assert result.returncode == 0, result.stdout[-3000:]
    assert (checkout / job["artifacts"]["reports"]["junit"]).stat().st_size > 0
    for path in job["artifacts"]["paths"]:
        assert (checkout / path).exists()

"""`inpaint-conformance verify` against the embedded fake: the README's main job, and its self-test.

The parametrized test runs verify with each named deviation of the fake turned on:
a deviation no clause catches fails CI, so a new deviation needs a probe that sees it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from inpaint_conformance.contracts import CATALOG
from inpaint_conformance.fakes import DEVIATIONS
from inpaint_conformance.harness.cli import main
from inpaint_conformance.harness.reports import load_json

# The clause each deviation is meant to break: the probe that sees it must name it.
CAUGHT_BY = {
    "seed_echo_wrong": "ait.seed.echo",
    "charge_on_failure": "ait.credits.failure",
    "charge_twice": "ait.credits.success",
    "overdraw": "ait.credits.insufficient",
    "wrong_output_format": "ait.output_format.default",
    "bare_string_data": "ait.success.data",
    "success_message_wrong": "ait.success.code",
    "size_rounded": "vyro.output.size",
    "mask_inverted": "ait.mask.meaning",
    "alpha_ignored": "ait.mask.alpha",
    "alpha_wins": "ait.mask.wins",
    "kept_pixels_drift": "ait.kept_pixels",
    "random_seed_zero": "ait.seed.random_range",
    "random_seed_constant": "ait.seed.random_differs",
    "not_reproducible": "ait.reproducible",
    "seed_range_unchecked": "ait.seed.range",
    "prompt_optional": "vyro.prompt.required",
    "no_auth": "ait.auth.missing",
    "server_error_on_bad_input": "vyro.errors.4xx",
    "vyro_422": "vyro.image.invalid",
    "vyro_jpeg_content_type": "vyro.success.content_type",
    "webp_rejected": "ait.image.formats",
    "format_from_filename": "vyro.image.sniffed",
    "mask_size_500": "vyro.mask.size",
    "model_version_required": "vyro.model_version.default",
    "unknown_field_500": "ait.unknown_fields",
}


def run_verify(tmp_path, *flags: str) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    code = main(["verify", "--json-report", str(report), *flags])
    return code, json.loads(report.read_text())


def test_unmodified_fake_passes_every_clause(tmp_path, capsys):
    # Its speed is measured by bench/verify.py, not asserted here (the machine is shared and noisy).
    junit = tmp_path / "junit.xml"
    code, report = run_verify(tmp_path, "--junit-xml", str(junit))

    assert code == 0
    failed = [r for r in report["results"] if r["status"] == "failed"]
    assert failed == []
    assert report["summary"]["passed"] == len(CATALOG)  # every clause verified (tests/test_verify_unverified.py)
    assert report["apis"] == ["aithriving", "vyro"]
    # Every clause of the catalog gets exactly one verdict.
    assert sorted(r["clause"] for r in report["results"]) == sorted(c.id for c in CATALOG)
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == len(CATALOG)
    out = capsys.readouterr().out
    assert "ait.seed.range" in out and "vyro.mask.size" in out
    assert "0 failed" in out


def test_embedded_fake_exercises_the_credit_clauses(tmp_path):
    _, report = run_verify(tmp_path, "--api", "aithriving", "--examples", "1")
    status = {r["clause"]: r["status"] for r in report["results"]}
    for name in ("success", "failure", "insufficient", "isolation"):
        assert status[f"ait.credits.{name}"] == "passed"
    assert status["ait.rate.retry_after"] == "passed"  # the one injected 429 was waited out


@pytest.mark.parametrize("deviation", sorted(DEVIATIONS))
def test_each_deviation_is_caught(tmp_path, deviation):
    code, report = run_verify(tmp_path, "--deviation", deviation, "--examples", "0")
    failed = [r for r in report["results"] if r["status"] == "failed"]
    assert failed, f"verify did not notice the fake's deviation {deviation!r}: {DEVIATIONS[deviation]}"
    assert code == (1 if any(r["level"] == "MUST" for r in failed) else 0)
    if deviation in CAUGHT_BY:
        assert CAUGHT_BY[deviation] in {r["clause"] for r in failed}
    for result in failed:
        # One request replays as curl; requests at once or a sequence as a Python script (harness/credit_scripts.py).
        assert result["reproduce"] and result["reproduce"].startswith(("curl ", "python3 - <<'PY'"))


def test_should_failure_fails_only_with_strict(tmp_path):
    code, report = run_verify(tmp_path, "--deviation", "kept_pixels_drift", "--api", "vyro", "--examples", "1")
    assert code == 0
    assert {r["clause"] for r in report["results"] if r["status"] == "failed"} == {"vyro.kept_pixels"}
    code, _ = run_verify(tmp_path, "--deviation", "kept_pixels_drift", "--api", "vyro", "--examples", "1", "--strict")
    assert code == 1


def test_failure_report_has_a_reproducer_with_files_and_no_key(tmp_path):
    code, report = run_verify(tmp_path, "--deviation", "seed_range_unchecked", "--api", "aithriving", "--examples", "0")
    assert code == 1
    (result,) = [r for r in report["results"] if r["status"] == "failed"]
    assert result["clause"] == "ait.seed.range" and result["level"] == "MUST"
    assert "expected a failure, got a success" in result["detail"]
    command = result["reproduce"]
    assert '-H "authorization: $AIT_API_KEY"' in command
    assert "--form-string seed=" in command
    assert "embedded-main-key" not in json.dumps(report)
    image_path = command.split("image=@", 1)[1].split(";", 1)[0]
    assert (tmp_path / "report.json.probes").is_dir()
    with open(image_path, "rb") as saved:
        assert saved.read(8) == b"\x89PNG\r\n\x1a\n"
    assert load_json(tmp_path / "report.json").summary() == report["summary"]


def test_one_api_only(tmp_path):
    code, report = run_verify(tmp_path, "--api", "vyro", "--examples", "0")
    assert code == 0
    assert report["apis"] == ["vyro"]
    assert {r["api"] for r in report["results"]} == {"vyro"}


@pytest.mark.parametrize(
    "flags, reason",
    [
        (["--deviation", "no_such_thing"], "unknown deviation no_such_thing"),
        (["--examples", "-1"], "--examples must be 0 or more"),
        (["--credits-url", "http://127.0.0.1:9/credits"], "--credits-url needs --base-url"),
        (["--base-url", "http://127.0.0.1:9", "--deviation", "no_auth", "--api-key", "k"], "--deviation"),
        (["--base-url", "ftp://example.com", "--api-key", "k"], "--base-url must be an http(s) URL"),
    ],
)
def test_unusable_flags_exit_2_with_one_line(flags, reason, capsys, monkeypatch):
    monkeypatch.delenv("AIT_API_KEY", raising=False)
    assert main(["verify", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_html_report_flag_writes_a_self_contained_page_with_the_clause_table(tmp_path):
    path = tmp_path / "r.html"
    assert main(["verify", "--api", "vyro", "--examples", "0", "--html-report", str(path)]) == 0
    page = path.read_text()
    assert 'data-clause="vyro.success.png"' in page
    assert "data:image/png;base64," in page
    assert "<script src=" not in page and "http://" not in page.replace("http://127.0.0.1", "")

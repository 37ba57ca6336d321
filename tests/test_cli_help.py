"""`--help` is the first thing a new user reads: every option explained, every default shown."""

from __future__ import annotations

import argparse
import re

import pytest

from inpaint_conformance.harness.cli import COMMANDS, build_parser, main


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser([name])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _option_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    return formatter._expand_help(action) if action.help else ""


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_option_has_help_and_shows_its_default(command):
    parser = _subparser(command)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        text = _option_help(parser, action)
        assert text.strip(), f"{command} {name} has no help text"
        has_default = action.default not in (None, [], argparse.SUPPRESS) and action.default is not False
        if action.option_strings and has_default:
            assert "default" in text, f"{command} {name}: default {action.default!r} not shown: {text!r}"


@pytest.mark.parametrize(
    "command, shown",
    [
        ("serve", ["port to listen on (0: a free one) (default: 8000)", "default: one key, dev-key=6000"]),
        ("verify", ["(default: 10)", "(default: 60.0)", "(default: the embedded fake", "seed of the property probes"]),
        ("verify", ["--credits-url URL", "--strict", "--json-report PATH"]),
        ("proxy", ["(default: 8080)"]),
    ],
)
def test_the_options_a_new_user_asked_about_show_defaults(capsys, monkeypatch, command, shown):
    monkeypatch.setenv("COLUMNS", "200")  # argparse breaks lines at hyphens ("dev-\nkey")
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in shown:
        assert " ".join(words.split()) in text


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_has_no_notes_meant_for_developers(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"] if command else ["--help"])
    text = capsys.readouterr().out
    for internal in (r"harness\.", r"\.py\b", r"\bargparse\b", r"\bmodule\b", r"subcommand"):
        assert not re.search(internal, text), f"{command or 'top-level'} --help mentions {internal!r}:\n{text}"


def test_verify_says_where_it_wrote_each_report(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(
        ["verify", "--api", "vyro", "--examples", "0"]
        + ["--json-report", "out/r.json", "--junit-xml", "out/j.xml", "--html-report", "r.html"]
    )
    captured = capsys.readouterr()
    # Where the reports went is progress (stderr); stdout's last line stays the verdict.
    out = " ".join(captured.err.split())
    assert code == 0
    assert captured.out.strip().splitlines()[-1].startswith("OK")
    for what, path in (("JSON report", "out/r.json"), ("JUnit XML report", "out/j.xml"), ("HTML report", "r.html")):
        assert f"wrote the {what}" in out and str(tmp_path / path) in out
        assert (tmp_path / path).stat().st_size > 0

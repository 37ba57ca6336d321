"""Writing, reading and showing a RunReport: JSON, JUnit XML and a rich console table."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .baseline import fixed_hint
from .results import STATUSES, ClauseResult, ReportError, RunReport

STATUS_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "unverified": "yellow",
    "not_exercised": "dim",
    "not_selected": "dim",
}
STATUS_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "unverified": "unverified",
    "not_exercised": "not exercised",
    "not_selected": "not selected",
}
BASELINE_WORDS = {"known": "known failure", "new": "new failure", "fixed": "fixed"}
BASELINE_STYLE = {"known": "yellow", "new": "bold red", "fixed": "green"}
LEVEL_STYLE = {"MUST": "bold", "SHOULD": "", "MAY": "dim"}


def write_json(report: RunReport, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def load_json(path: str | Path) -> RunReport:
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"no report at {source}: expected a file written by --json-report") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportError(f"{source} is not JSON ({exc}): expected a file written by --json-report") from None
    return RunReport.from_dict(data)


def write_junit(report: RunReport, path: str | Path) -> Path:
    """One <testsuite> per API, one <testcase> per clause: failed as failures; unverified and
    not exercised as skipped, with the reason (and what would verify it). Against a baseline a known
    failure is skipped (expected, as an xfail), and a fixed clause fails with --strict-baseline."""
    root = ET.Element(
        "testsuites",
        name="inpaint-conformance",
        tests=str(len(report.results)),
        failures=str(sum(_junit_kind(r, report) == "failure" for r in report.results)),
        skipped=str(sum(_junit_kind(r, report) == "skipped" for r in report.results)),
    )
    for api in report.apis:
        results = report.for_api(api)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"inpaint-conformance.{api}",
            tests=str(len(results)),
            failures=str(sum(_junit_kind(r, report) == "failure" for r in results)),
            skipped=str(sum(_junit_kind(r, report) == "skipped" for r in results)),
            timestamp=report.started,
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="target", value=report.target)
        ET.SubElement(properties, "property", name="tool_version", value=report.tool_version)
        for result in results:
            case = ET.SubElement(suite, "testcase", classname=f"{api}.{result.level}", name=result.clause)
            kind = _junit_kind(result, report)
            if result.baseline == "known":  # CI tools count these as expected, as test runners do an xfail
                ET.SubElement(
                    case,
                    "skipped",
                    message=f"known failure (baseline): {STATUS_WORDS[result.status]}: {_reason(result)}",
                )
            elif result.baseline == "fixed":
                text = f"fixed: in the baseline {report.baseline and report.baseline.get('path')}, now passes; update the baseline"
                if kind == "failure":
                    ET.SubElement(case, "failure", message=f"[baseline] {text}", type="baseline").text = result.detail
                else:
                    ET.SubElement(case, "system-out").text = f"{text}\n{result.detail}"
            elif result.status == "failed":
                new = "new failure: " if result.baseline == "new" else ""
                failure = ET.SubElement(
                    case, "failure", message=f"[{result.level}] {new}{result.detail}", type=result.level
                )
                failure.text = result.detail + (f"\n\nReproduce:\n{result.reproduce}" if result.reproduce else "")
            elif result.status in _SKIPPED:
                ET.SubElement(case, "skipped", message=f"{STATUS_WORDS[result.status]}: {_reason(result)}")
            else:
                ET.SubElement(case, "system-out").text = result.detail
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)
    return target


_SKIPPED = ("unverified", "not_exercised", "not_selected")


def _junit_kind(result: ClauseResult, report: RunReport) -> str:
    """failure, skipped or passed, as a JUnit reader should count this clause."""
    if result.baseline == "known":
        return "skipped"
    if result.baseline == "fixed":
        return "failure" if report.baseline and report.baseline.get("strict") else "passed"
    if result.status == "failed":
        return "failure"
    return "skipped" if result.status in _SKIPPED else "passed"


def results_table(api: str, results: list[ClauseResult], *, baseline: bool = False) -> Table:
    table = Table(title=f"{api}: {_counts(results)}", title_justify="left", expand=False, show_lines=False)
    table.add_column("clause", no_wrap=True)
    table.add_column("level", no_wrap=True)
    table.add_column("status", no_wrap=True)
    if baseline:
        table.add_column("baseline", no_wrap=True)
    table.add_column("evidence", overflow="fold")
    for result in results:
        if result.status == "not_selected":
            continue  # --only/--skip: the title counts them; listing them all would bury the few selected
        mark = result.baseline
        table.add_row(
            result.clause,
            f"[{LEVEL_STYLE[result.level]}]{result.level}[/]" if LEVEL_STYLE[result.level] else result.level,
            f"[{STATUS_STYLE[result.status]}]{STATUS_WORDS[result.status]}[/]",
            *([f"[{BASELINE_STYLE[mark]}]{BASELINE_WORDS[mark]}[/]" if mark else ""] if baseline else []),
            escape(_one_line(result.detail) + (f" (to verify it: {result.fix})" if result.fix else "")),
        )
    return table


def print_console(report: RunReport, console: Console, *, strict: bool = False) -> None:
    """A table per API, then each failure's reproducer, then the counts and the verdict (last line)."""
    console.print(f"target: {escape(report.target)}  (inpaint-conformance {escape(report.tool_version)})")
    for api in report.apis:
        console.print(results_table(api, report.for_api(api), baseline=report.baseline is not None))
    failed = [r for r in report.results if r.status == "failed"]
    if failed:
        console.rule("failures")
    for result in failed:
        mark = f" ({BASELINE_WORDS[result.baseline]})" if result.baseline else ""
        console.print(f"[bold red]{escape(result.clause)}[/] [{result.level}]{mark} {escape(result.detail)}")
        if result.reproduce:
            console.print(escape(result.reproduce), soft_wrap=True, highlight=False)
        console.print()
    hint = fixed_hint(report)
    if hint:
        console.print(escape(hint), highlight=False, soft_wrap=True)
    console.print(_counts(report.results), highlight=False)
    console.print(escape(verdict_line(report, strict=strict)), highlight=False, soft_wrap=True)


def verdict_line(report: RunReport, *, strict: bool = False) -> str:
    """The run's verdict in one line: OK, OK with the MUST clauses not verified and how to verify
    them, or FAILED with what decided it (--strict: any failure, and any MUST not verified)."""
    counts = report.summary()
    unverified = counts["must_unverified"]
    missing = (
        f"{unverified} MUST clause{'s' if unverified != 1 else ''} not verified: {'; '.join(report.unverified_fixes())}"
        if unverified
        else ""
    )
    if report.baseline is not None:
        return _baseline_verdict(report, strict, missing)
    failures = report.failures(strict=strict)
    if failures:
        musts = counts["must_failed"]
        line = f"FAILED: {len(failures)} clause{'s' if len(failures) != 1 else ''} failed ({musts} MUST)"
        return line + (f"; {missing}" if missing else "")
    if missing:
        return f"FAILED (--strict): {missing}" if strict else f"OK, but {missing}"
    if report.selection is not None:
        return "OK: every selected MUST clause was verified and none failed (--only/--skip: not a whole run)"
    return "OK: every MUST clause was verified and none failed"


def _baseline_verdict(report: RunReport, strict: bool, missing: str) -> str:
    """Against a baseline only what it does not excuse decides, and the verdict names only that."""
    assert report.baseline is not None
    path, known = report.baseline["path"], report.baseline["known"]
    blocking = report.blocking(strict)
    new = [r for r in blocking if r.baseline == "new"]
    fixed = [r for r in report.results if r.baseline == "fixed"]
    known_words = f"{known} known failure{'s' if known != 1 else ''} in {path}"
    if new:
        named = ", ".join(f"{r.clause} ({r.level}{', not verified' if r.status == 'unverified' else ''})" for r in new)
        return (
            f"FAILED: {len(new)} new failure{'s' if len(new) != 1 else ''} not in the baseline: {named}; {known_words}"
        )
    if blocking:  # --strict-baseline: the fixed clauses
        return (
            f"FAILED (--strict-baseline): {len(fixed)} clause{'s' if len(fixed) != 1 else ''} of the baseline now "
            f"pass{'es' if len(fixed) == 1 else ''}: {', '.join(r.clause for r in fixed)}; "
            f"rewrite it with --write-baseline {path}"
        )
    tail = f"; {len(fixed)} fixed: update the baseline" if fixed else ""
    unexcused = [r for r in report.must_unverified() if r.baseline != "known"]
    note = f"; but {missing}" if missing and unexcused and not strict else ""
    return f"OK: no new failure ({known_words}{tail}){note}"


def _reason(result: ClauseResult) -> str:
    return result.detail + (f" (to verify it: {result.fix})" if result.fix else "")


def _counts(results: list[ClauseResult]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    if not counts["not_selected"]:
        del counts["not_selected"]
    return ", ".join(f"{n} {STATUS_WORDS[s]}" for s, n in counts.items())


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"

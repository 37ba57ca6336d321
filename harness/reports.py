"""Writing, reading and showing a RunReport: JSON, JUnit XML and a rich console table."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .results import STATUSES, ClauseResult, ReportError, RunReport

STATUS_STYLE = {"passed": "green", "failed": "bold red", "unverified": "yellow", "not_exercised": "dim"}
STATUS_WORDS = {"passed": "passed", "failed": "failed", "unverified": "unverified", "not_exercised": "not exercised"}
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
    not exercised as skipped, with the reason (and what would verify it)."""
    counts = report.summary()
    root = ET.Element(
        "testsuites",
        name="inpaint-conformance",
        tests=str(len(report.results)),
        failures=str(counts["failed"]),
        skipped=str(counts["unverified"] + counts["not_exercised"]),
    )
    for api in report.apis:
        results = report.for_api(api)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"inpaint-conformance.{api}",
            tests=str(len(results)),
            failures=str(sum(r.status == "failed" for r in results)),
            skipped=str(sum(r.status in ("unverified", "not_exercised") for r in results)),
            timestamp=report.started,
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="target", value=report.target)
        ET.SubElement(properties, "property", name="tool_version", value=report.tool_version)
        for result in results:
            case = ET.SubElement(suite, "testcase", classname=f"{api}.{result.level}", name=result.clause)
            if result.status == "failed":
                failure = ET.SubElement(case, "failure", message=f"[{result.level}] {result.detail}", type=result.level)
                failure.text = result.detail + (f"\n\nReproduce:\n{result.reproduce}" if result.reproduce else "")
            elif result.status in ("unverified", "not_exercised"):
                ET.SubElement(case, "skipped", message=f"{STATUS_WORDS[result.status]}: {_reason(result)}")
            else:
                ET.SubElement(case, "system-out").text = result.detail
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)
    return target


def results_table(api: str, results: list[ClauseResult]) -> Table:
    table = Table(title=f"{api}: {_counts(results)}", title_justify="left", expand=False, show_lines=False)
    table.add_column("clause", no_wrap=True)
    table.add_column("level", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("evidence", overflow="fold")
    for result in results:
        table.add_row(
            result.clause,
            f"[{LEVEL_STYLE[result.level]}]{result.level}[/]" if LEVEL_STYLE[result.level] else result.level,
            f"[{STATUS_STYLE[result.status]}]{STATUS_WORDS[result.status]}[/]",
            escape(_one_line(result.detail) + (f" (to verify it: {result.fix})" if result.fix else "")),
        )
    return table


def print_console(report: RunReport, console: Console, *, strict: bool = False) -> None:
    """A table per API, then each failure's reproducer, then the counts and the verdict (last line)."""
    console.print(f"target: {escape(report.target)}  (inpaint-conformance {escape(report.tool_version)})")
    for api in report.apis:
        console.print(results_table(api, report.for_api(api)))
    failed = [r for r in report.results if r.status == "failed"]
    if failed:
        console.rule("failures")
    for result in failed:
        console.print(f"[bold red]{escape(result.clause)}[/] [{result.level}] {escape(result.detail)}")
        if result.reproduce:
            console.print(escape(result.reproduce), soft_wrap=True, highlight=False)
        console.print()
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
    failures = report.failures(strict=strict)
    if failures:
        musts = counts["must_failed"]
        line = f"FAILED: {len(failures)} clause{'s' if len(failures) != 1 else ''} failed ({musts} MUST)"
        return line + (f"; {missing}" if missing else "")
    if missing:
        return f"FAILED (--strict): {missing}" if strict else f"OK, but {missing}"
    return "OK: every MUST clause was verified and none failed"


def _reason(result: ClauseResult) -> str:
    return result.detail + (f" (to verify it: {result.fix})" if result.fix else "")


def _counts(results: list[ClauseResult]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    return ", ".join(f"{n} {STATUS_WORDS[s]}" for s, n in counts.items())


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"

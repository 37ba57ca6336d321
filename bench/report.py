"""Write the numbers in README.md and bench/README.md from the benchmarks' own output.

    python bench/report.py                 # rewrite the docs from bench/results/*.json
    python bench/report.py --run fake      # run bench/fake.py first (fresh numbers), then rewrite
    python bench/report.py --run all       # every benchmark (the reference ones take minutes)
    python bench/report.py --check         # exit 1 when a doc differs from what this would write

Each benchmark writes its numbers as JSON (`--json`); `--run NAME` runs it with its
default settings into bench/results/NAME.json, the file this script reads. A doc
holds each generated part between `<!-- bench:PART -->` and `<!-- /bench:PART -->`;
nothing outside those markers is touched, and no number in them is typed by hand.
`verify-sample` (README's sample output) comes from a `verify` run made here.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO
from _doc_format import RESULTS, MissingResults
from _doc_parts import BENCHES, PARTS

DOCS = (REPO / "README.md", REPO / "bench" / "README.md")
MARKER = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->(?P<body>.*?)<!-- /bench:(?P=name) -->", re.S)


def render(text: str, skip: set[str] = frozenset()) -> str:
    def one(match: re.Match) -> str:
        name = match["name"]
        if name in skip:
            return match.group(0)
        if name not in PARTS:
            raise MissingResults(f"unknown part <!-- bench:{name} -->: known parts are {', '.join(PARTS)}")
        return f"<!-- bench:{name} -->{PARTS[name](name)}<!-- /bench:{name} -->"

    return MARKER.sub(one, text)


def run_benches(names: list[str]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in names:
        # Relative to the checkout (the command runs there): the path each part quotes in its source line.
        command = [sys.executable, *BENCHES[name], "--json", str((RESULTS / f"{name}.json").relative_to(REPO))]
        print(f"running {' '.join(command[1:])} ...", flush=True)
        done = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
        if done.returncode != 0:
            raise SystemExit(f"{BENCHES[name][0]} exited {done.returncode}: the docs were not rewritten")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", metavar="NAME[,NAME]", help=f"run these benchmarks first: {', '.join(BENCHES)} or all")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a doc is out of date")
    parser.add_argument("--skip", default="", metavar="PART[,PART]", help="leave these parts as they are")
    args = parser.parse_args(argv)
    if args.run:
        names = list(BENCHES) if args.run == "all" else args.run.split(",")
        unknown = [n for n in names if n not in BENCHES]
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}: expected {', '.join(BENCHES)} or all")
        run_benches(names)
    skip = {s for s in args.skip.split(",") if s}
    stale = []
    for doc in DOCS:
        text = doc.read_text()
        try:
            new = render(text, skip)
        except MissingResults as exc:
            print(f"bench/report.py: {exc}", file=sys.stderr)
            return 2
        if new != text:
            stale.append(doc.relative_to(REPO))
            if not args.check:
                doc.write_text(new)
    if args.check and stale:
        print(f"out of date: {', '.join(map(str, stale))}; run python bench/report.py", file=sys.stderr)
        return 1
    print(("up to date: " if args.check or not stale else "rewrote: ") + ", ".join(map(str, stale or DOCS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The mutation check: break one of arunner's promises at a time, see a test fail.

    python scripts/mutants.py [--junitxml FILE] [--list] [NAME ...]

Each mutation in tests/mutants.toml is a small edit of arunner's source (a
file, its exact old text, the new text, the promise it breaks) and the tests
that must catch it.  For each one, ``src/`` is copied to a scratch
directory, the edit is made there (the old text must occur exactly once),
and only the listed tests run (``pytest -x -q -p no:cacheprovider``, with
this Python) with PYTHONPATH pointing at the copy; kernels and other
processes that the tests start inherit it.  A mutation that fails a test is
killed; one that all its tests pass survived, and then this script fails.

First the listed tests run once against an unmutated copy (the baseline):
they must pass, or a "killed" would mean nothing.  NAMEs pick mutations.
``--junitxml`` writes a testcase per mutation (a failure if it survived)
and one for the baseline, which ``scripts/dev.py`` adds to its ``total:``
line.  Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTATIONS = ROOT / "tests" / "mutants.toml"
#: Native tracebacks: pytest's own parse the source of every frame, which
#: CPython 3.11 can fail at ("AST constructor recursion depth mismatch").
PYTEST = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
PYTEST.append("--tb=native")
#: The lines of pytest's summary that say which test caught a mutation.
FAILED = ("FAILED ", "ERROR ")
#: A bound on one pytest run; each test has its own, far smaller, timeout.
RUN_TIMEOUT = 600


@dataclass(frozen=True)
class Mutation:
    name: str
    promise: str
    file: str
    old: str
    new: str
    tests: list[str]

    def apply(self, src: Path) -> None:
        """Make the edit in the copy of ``src/`` whose root is ``src``."""
        path = src.parent / self.file
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(self.old, self.new), encoding="utf-8")

    def problem(self) -> str | None:
        """Why the edit cannot be made to the current source, if it cannot."""
        path = ROOT / self.file
        if not self.file.startswith("src/") or not path.is_file():
            return f"{self.file} is no file under src/"
        found = path.read_text(encoding="utf-8").count(self.old)
        if found != 1:
            return (
                f"its old text occurs {found} times in {self.file}, not once; "
                f"write it against the current source:\n{self.old}"
            )
        return None


@dataclass
class Outcome:
    name: str
    verdict: str  # "killed", "survived" or "error"
    seconds: float
    detail: str = ""


def load(path: Path = MUTATIONS) -> list[Mutation]:
    entries = tomllib.loads(path.read_text(encoding="utf-8"))["mutation"]
    mutations = [Mutation(**entry) for entry in entries]
    names = [m.name for m in mutations]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        sys.exit(f"{path.name}: mutation names used twice: {sorted(duplicates)}")
    return mutations


def scratch_src(directory: Path) -> Path:
    src = directory / "src"
    shutil.copytree(
        ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    return src


def environment(src: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path)


def check_import(src: Path) -> None:
    """Fail loudly unless the tests would import arunner from the copy."""
    found = subprocess.run(
        [sys.executable, "-c", "import arunner; print(arunner.__file__)"],
        capture_output=True,
        text=True,
        env=environment(src),
        cwd=ROOT,
        check=True,
    ).stdout.strip()
    if not Path(found).is_relative_to(src):
        sys.exit(f"arunner is imported from {found}, not from the copy in {src}")


def run_tests(src: Path, tests: list[str]) -> tuple[int | None, str]:
    """pytest's exit status (None: it did not end in time) and its output."""
    try:
        proc = subprocess.run(
            [*PYTEST, *tests],
            capture_output=True,
            text=True,
            env=environment(src),
            cwd=ROOT,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout if isinstance(exc.stdout, str) else ""
        return None, output
    return proc.returncode, proc.stdout + proc.stderr


def tail(output: str, lines: int = 30) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:])


def baseline(mutations: list[Mutation]) -> Outcome:
    """The listed tests against an unmutated copy: they must all pass."""
    tests = list(dict.fromkeys(t for m in mutations for t in m.tests))
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="arunner-mutants-") as tmp:
        src = scratch_src(Path(tmp))
        status, output = run_tests(src, tests)
    seconds = time.monotonic() - begin
    if status == 0:
        return Outcome("baseline", "passed", seconds)
    why = f"the listed tests fail without any mutation:\n{tail(output)}"
    return Outcome("baseline", "error", seconds, why)


def mutate(mutation: Mutation) -> Outcome:
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="arunner-mutant-") as tmp:
        src = scratch_src(Path(tmp))
        mutation.apply(src)
        status, output = run_tests(src, mutation.tests)
    seconds = time.monotonic() - begin
    if status in (1, 2, 3):  # a test failed (2, 3: and pytest was upset by it)
        caught = [line[:200] for line in output.splitlines() if line.startswith(FAILED)]
        if status != 1:
            caught.append(f"pytest exited {status}")
        return Outcome(mutation.name, "killed", seconds, "\n          ".join(caught))
    if status == 0:
        return Outcome(
            mutation.name,
            "survived",
            seconds,
            f"every listed test passed with this edit, which breaks: "
            f"{mutation.promise}",
        )
    why = "did not end in time" if status is None else f"pytest exited {status}"
    return Outcome(mutation.name, "error", seconds, f"{why}:\n{tail(output)}")


def write_junit(path: Path, outcomes: list[Outcome], seconds: float) -> None:
    suite = ET.Element(
        "testsuite",
        name="mutants",
        tests=str(len(outcomes)),
        failures=str(sum(o.verdict == "survived" for o in outcomes)),
        errors=str(sum(o.verdict == "error" for o in outcomes)),
        skipped="0",
        time=f"{seconds:.1f}",
    )
    for outcome in outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="mutants",
            name=outcome.name,
            time=f"{outcome.seconds:.1f}",
        )
        if outcome.verdict == "survived":
            ET.SubElement(case, "failure", message="survived").text = outcome.detail
        elif outcome.verdict == "error":
            ET.SubElement(case, "error", message="error").text = outcome.detail
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def report(outcome: Outcome) -> None:
    detail = f"\n          {outcome.detail}" if outcome.detail else ""
    print(f"{outcome.verdict:<9} {outcome.name} ({outcome.seconds:.1f} s){detail}")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these")
    parser.add_argument("--junitxml", type=Path, help="write a JUnit report here")
    parser.add_argument("--list", action="store_true", help="list the mutations")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the unmutated run"
    )
    args = parser.parse_args(argv)
    mutations = load()
    if args.names:
        unknown = set(args.names) - {m.name for m in mutations}
        if unknown:
            parser.error(f"no such mutation: {', '.join(sorted(unknown))}")
        mutations = [m for m in mutations if m.name in args.names]
    if args.list:
        for m in mutations:
            print(f"{m.name}: {m.promise}\n    {m.file}; {' '.join(m.tests)}")
        return 0
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="arunner-mutants-") as tmp:
        check_import(scratch_src(Path(tmp)))
    # Every edit is checked before anything runs: a stale one fails at once.
    outcomes = [
        Outcome(m.name, "error", 0.0, f"cannot make the edit: {problem}")
        for m in mutations
        if (problem := m.problem()) is not None
    ]
    if not outcomes and not args.no_baseline:
        outcomes.append(baseline(mutations))
        report(outcomes[0])
    if all(o.verdict == "passed" for o in outcomes):
        for mutation in mutations:
            outcomes.append(mutate(mutation))
            report(outcomes[-1])
    else:
        for outcome in outcomes:
            if outcome.name != "baseline":
                report(outcome)
    seconds = time.monotonic() - begin
    verdicts = [o.verdict for o in outcomes]
    print(
        f"mutants: {verdicts.count('killed')} killed, "
        f"{verdicts.count('survived')} survived, {verdicts.count('error')} errors, "
        f"in {seconds:.0f} s"
    )
    if args.junitxml:
        write_junit(args.junitxml, outcomes, seconds)
    return 0 if verdicts.count("killed") == len(mutations) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""The two commands of the README, on a machine that has only Python and pip.

    python3 scripts/dev.py demo    # set up, then take the tour (the main job)
    python3 scripts/dev.py test    # set up, then run every check and test

Both create ``.venv`` with nox and uv on first use; nox builds one
environment per session from PyPI.  ``test`` fetches CPython 3.14 and 3.15
into ``.pythons/`` once, where the machine lacks them (scripts/pythons.py),
runs every nox session and ends with one line adding up the test counts of
all of them.  Extra arguments go to nox, e.g.
``python3 scripts/dev.py test -s lint``.
Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pythons  # scripts/pythons.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
REPORTS = ROOT / ".reports"
TOOLS = ["nox>=2024.10", "uv>=0.5"]
#: Debian packages some tests need: where each installs, and which tests.
SYSTEM_TOOLS = {
    "chromium": (Path("/usr/bin/chromium"), "browser"),
    "tmux": (Path("/usr/bin/tmux"), "jupyter console"),  # a terminal that types ^C
}


def bin_path(name: str) -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return VENV / scripts / name


def ensure_tools() -> None:
    """Create .venv with nox and uv, once."""
    marker = VENV / ".arunner-tools"
    if marker.exists():
        return
    if sys.version_info < (3, 11):  # noqa: UP036 - this file may meet any python3
        sys.exit(f"arunner needs Python 3.11 or newer; this is {sys.version}")
    print(f"setting up {VENV.relative_to(ROOT)} with {', '.join(TOOLS)}", flush=True)
    venv.create(VENV, with_pip=True, clear=True)
    subprocess.run(
        [str(bin_path("python")), "-m", "pip", "install", "--quiet", *TOOLS],
        check=True,
    )
    marker.write_text("ok\n")


def nox(*args: str) -> int:
    env = dict(
        os.environ, PATH=f"{bin_path('python').parent}{os.pathsep}{os.environ['PATH']}"
    )
    return subprocess.run(
        [str(bin_path("nox")), *args], cwd=ROOT, env=env, check=False
    ).returncode


def ensure_system_tools() -> None:
    """Install what some tests need from Debian (apt-get), when running as root.

    Otherwise say how to get it; the tests that need it then skip and say why.
    """
    missing = {
        package: tests
        for package, (path, tests) in SYSTEM_TOOLS.items()
        if not path.exists()
    }
    if not missing:
        return
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        for package, tests in missing.items():
            print(
                f"{package} is missing, so the {tests} tests will skip; install "
                f"it with 'sudo apt-get install {package}'",
                flush=True,
            )
        return
    print(f"installing {', '.join(missing)} for some tests (apt-get)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", *missing],
    ):
        if subprocess.run(command, env=env, check=False).returncode != 0:
            print(
                f"could not install {', '.join(missing)}: the tests that need "
                "them will skip",
                flush=True,
            )
            return


def totals() -> dict[str, int]:
    """Add up the JUnit reports that the test sessions wrote."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for report in sorted(REPORTS.glob("*.xml")):
        for suite in ET.parse(report).getroot().iter("testsuite"):  # noqa: S314 - ours
            tests = int(suite.get("tests", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            counts["failed"] += failed
            counts["skipped"] += skipped
            counts["passed"] += tests - failed - skipped
    return counts


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test"}:
        print(__doc__)
        return 2
    command, extra = argv[0], argv[1:]
    ensure_tools()
    if command == "demo":
        return nox("-s", "demo", *extra)
    for stale in REPORTS.glob("*.xml"):
        stale.unlink()
    ensure_system_tools()
    pythons.ensure()  # CPython 3.14 and 3.15, which noxfile.py then finds
    status = nox(*extra)
    counts = totals()
    print(
        f"total: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped",
        flush=True,
    )
    if status == 0 and counts["passed"] == 0 and not extra:
        print("no test ran", file=sys.stderr)  # a subset (-s docs) may run none
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

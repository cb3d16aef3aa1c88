"""Every check arunner runs, as nox sessions (``scripts/dev.py test`` runs them all).

Sessions:
  lint                        ruff format --check, ruff check, mypy --strict
  tests-<python>-ipykernel7   unit, conformance, shell, kernel, terminal, clients
  tests-<python>-ipykernel6   the same on ipykernel 6.29 + IPython 8 (oldest Python)
  tests-3.13-ipykernel6.17    the same on ipykernel 6.17.1 + IPython 7.34 (Python 3.13)
  docs                        mkdocs build --strict: the documentation site
  notebooks                   each notebook run in a fresh kernel, outputs checked
  browser                     JupyterLab, Notebook 7 in headless Chromium (Playwright)
  demo                        the tour (``scripts/dev.py demo``); not part of ``test``
  reliability                 interrupts, blocking code, shutdown, bad input, soak
  bench-quick                 the benchmark, a few hundred iterations: proves it runs
  bench                       5 runs: docs/benchmarks.md and plot, fails on a missed
                              target; not in ``test``
  release                     sdist and wheel built, twine-checked, installed, tested
  mutants                     each mutation of tests/mutants.toml fails a test

Each test session writes a JUnit report under .reports/, which
``scripts/dev.py`` adds up into one closing line.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
REPORTS = ROOT / ".reports"
#: Where scripts/pythons.py puts the interpreters it fetches.
PYTHONS_FETCHED = ROOT / ".pythons" / "sid" / "usr" / "bin"

#: ipykernel/IPython pairs the test tiers run against.
KERNEL_FLAVOURS = {
    "ipykernel7": ["ipykernel>=7.4", "ipython>=9"],
    "ipykernel6": ["ipykernel>=6.29,<6.30", "ipython>=8.12,<9"],
    # What hosted notebooks still run (Colab's pins, on Python 3.13): the
    # oldest pair arunner supports.
    "ipykernel6.17": ["ipykernel==6.17.1", "ipython>=7.34,<7.35"],
}

#: The tiers that run on every interpreter and kernel flavour; ARUNNER_TIERS
#: (space-separated paths) runs others instead, e.g. ARUNNER_TIERS=tests/unit.
MATRIX_TIERS = [
    "tests/unit",
    "tests/conformance",
    "tests/shell",
    "tests/kernel",
    "tests/terminal",
    "tests/clients",
]


def _version_of(python: str) -> str | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def interpreters() -> dict[str, str]:
    """Every CPython 3.11+ on this machine: "3.12" -> its executable.

    pyenv installs that are not on PATH count too, because a fresh clone on
    a machine with pyenv should test everything it has, and so do the ones
    scripts/pythons.py unpacked into .pythons/ (3.14 and 3.15 from Debian
    unstable, where the machine has none).  Each by its absolute path: a
    relative one would make every venv's sys.executable relative too.
    """
    candidates = [sys.executable]
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in range(11, 20)]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(
        glob.glob(f"{pyenv_root}/versions/3.1[1-9]*/bin/python3.1[1-9]")
    )
    candidates += sorted(glob.glob(f"{PYTHONS_FETCHED}/python3.1[1-9]"))
    found: dict[str, str] = {}
    for candidate in filter(None, candidates):
        version = _version_of(candidate)
        if version and tuple(map(int, version.split("."))) >= (3, 11):
            found.setdefault(version, os.path.abspath(candidate))
    return dict(sorted(found.items(), key=lambda kv: tuple(map(int, kv[0].split(".")))))


PYTHONS = interpreters()
OLDEST = next(iter(PYTHONS))


def install(session: nox.Session, *requirements: str) -> None:
    session.install("-e", ".[test]", *requirements)


def pytest(session: nox.Session, *args: str) -> None:
    """Run pytest, keeping a JUnit report named after the session."""
    REPORTS.mkdir(exist_ok=True)
    report = REPORTS / f"{session.name}.xml"
    session.run("pytest", f"--junitxml={report}", *args, *session.posargs)


@nox.session(python=PYTHONS[OLDEST])
def lint(session: nox.Session) -> None:
    """ruff (format and lint) and mypy strict on src."""
    session.install("-e", ".[lint]")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    session.run("mypy")


def _register_test_session(version: str, python: str, flavour: str) -> None:
    def tests(session: nox.Session) -> None:
        install(session, *KERNEL_FLAVOURS[flavour])
        pytest(session, *os.environ.get("ARUNNER_TIERS", "").split() or MATRIX_TIERS)

    tests.__doc__ = (
        "Unit, conformance, shell, kernel, terminal and client tiers on "
        f"Python {version}, {flavour}."
    )
    nox.session(name=f"tests-{version}-{flavour}", python=python)(tests)


for _version, _python in PYTHONS.items():
    _register_test_session(_version, _python, "ipykernel7")
_register_test_session(OLDEST, PYTHONS[OLDEST], "ipykernel6")
if "3.13" in PYTHONS:  # the hosted notebooks' Python
    _register_test_session("3.13", PYTHONS["3.13"], "ipykernel6.17")


@nox.session(python=PYTHONS[OLDEST])
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly: any warning fails the build.

    The notebooks are executed during the build, in kernels of this
    environment, so it holds what the notebooks session holds, and the
    doctor's sample output is a real run's (docs/_hooks/generated.py).
    First every example of the pages runs and must print its Output block,
    error lines and interrupted cells included (tests/unit/test_docs_examples.py):
    no sample is published unchecked.
    """
    session.install("-e", ".[docs,test,notebooks]", *KERNEL_FLAVOURS["ipykernel7"])
    # Not through pytest(): this session's arguments are mkdocs's.
    session.run("pytest", "-q", "tests/unit/test_docs_examples.py")
    # Material prints a banner about MkDocs 2.0 on every build; it is no warning.
    session.env["NO_MKDOCS_2_WARNING"] = "1"
    # No user-wide "python3" kernelspec may stand in for this environment's.
    session.env["JUPYTER_DATA_DIR"] = session.create_tmp()
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(python=PYTHONS[OLDEST])
def notebooks(session: nox.Session) -> None:
    """Execute every notebook in a fresh kernel (nbclient) and check its outputs.

    Without uvloop, which the test extra brings: it is no dependency of
    arunner, so the notebooks must run where a plain ``pip install`` leaves
    the user (the docs build runs them with it).
    """
    session.install("-e", ".[test,notebooks]", *KERNEL_FLAVOURS["ipykernel7"])
    session.run_install("uv", "pip", "uninstall", "uvloop")
    pytest(session, "tests/notebooks")


@nox.session(python=PYTHONS[OLDEST], default=False)
def demo(session: nox.Session) -> None:
    """The tour: run the quickstart notebook, print it, write out/quickstart.html."""
    session.install("-e", ".[notebooks]", *KERNEL_FLAVOURS["ipykernel7"])
    session.run("python", "scripts/tour.py", *session.posargs)


@nox.session(python=PYTHONS[OLDEST])
def browser(session: nox.Session) -> None:
    """JupyterLab and Notebook 7 in Debian's headless Chromium: the stop button,
    restart, output, the debugger.

    Chromium comes from ``apt-get install chromium`` (scripts/dev.py test
    installs it as root); without it the tests skip and say so.
    """
    session.install("-e", ".[test,browser]", *KERNEL_FLAVOURS["ipykernel7"])
    pytest(session, "tests/browser")


@nox.session(python=PYTHONS[OLDEST])
def reliability(session: nox.Session) -> None:
    """Interrupt storm, blocking code, shutdown, bad input and soak in real kernels.

    ``ARUNNER_RELIABILITY=full`` (passed through) runs the long variants.
    """
    session.install("-e", ".[test]", *KERNEL_FLAVOURS["ipykernel7"])
    pytest(session, "tests/reliability")


@nox.session(name="bench-quick", python=PYTHONS[OLDEST])
def bench_quick(session: nox.Session) -> None:
    """The benchmark with a few hundred iterations: proves it runs, not the speed."""
    session.install("-e", ".[test,bench]", *KERNEL_FLAVOURS["ipykernel7"])
    pytest(session, "benchmarks")


@nox.session(python=PYTHONS[OLDEST])
def release(session: nox.Session) -> None:
    """Build the sdist and wheel, twine check --strict, and test what they install.

    tests/release builds into a temporary directory, installs the wheel (and
    one rebuilt from the unpacked sdist) into fresh venvs of their own, starts
    a kernel from the wheel's kernelspec and runs the unit tests from the
    sdist.  The project is not installed here, so tests/conftest.py (which
    imports arunner) is not loaded: --noconftest.
    """
    session.install("build[uv]", "twine", "uv", "pytest>=8", "pytest-timeout>=2.3")
    pytest(session, "--noconftest", "tests/release")


@nox.session(python=PYTHONS[OLDEST])
def mutants(session: nox.Session) -> None:
    """Break one promise at a time (tests/mutants.toml): a test must fail each time.

    scripts/mutants.py edits a copy of src/ and runs only the tests listed
    for that edit; a mutation they all pass fails the session.  Its JUnit
    report (a testcase per mutation) counts in scripts/dev.py's total.
    """
    install(session, *KERNEL_FLAVOURS["ipykernel7"])
    REPORTS.mkdir(exist_ok=True)
    report = REPORTS / f"{session.name}.xml"
    session.run(
        "python", "scripts/mutants.py", f"--junitxml={report}", *session.posargs
    )


@nox.session(python=PYTHONS[OLDEST], default=False)
def bench(session: nox.Session) -> None:
    """The full benchmark: writes docs/benchmarks.md and its plot (not in ``test``).

    Every figure is measured in five independent processes (``-- --runs N``
    for more); the session fails when a target is missed, after the page
    has been written.
    """
    session.install("-e", ".[test,bench]", *KERNEL_FLAVOURS["ipykernel7"])
    session.run("python", "-m", "benchmarks", "--docs", "docs", *session.posargs)

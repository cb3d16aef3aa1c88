"""The release artifacts: built, checked, installed and tested as a user gets them.

``python -m build`` makes an sdist and a wheel from this checkout into a
temporary directory; ``twine check --strict`` must pass on both.  The wheel
is installed (not editable) into a fresh venv that holds nothing else of the
project, and must bring the "Python 3 (arunner)" kernelspec and a kernel
that runs ``%%arun`` without ``%load_ext``.  The sdist is unpacked, a wheel
built from it must equal the first one, and the unit tests must pass from
the unpacked sdist against that wheel.

Nothing here imports arunner: the nox session ``release`` installs only
build, twine, uv and pytest, and every check of the installed package runs
in a venv of its own.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from packaging.version import Version

# Building, installing and running the unit tests take minutes, not seconds.
pytestmark = [pytest.mark.release, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DISTRIBUTION = "ipython-arunner"
VERSION = PROJECT["version"]
#: The file-name form of the distribution name (PEP 427, PEP 625).
STEM = f"{DISTRIBUTION.replace('-', '_')}-{VERSION}"
SPEC_NAME = "python3-arunner"
#: The CPython minors the noxfile's test sessions run on.
TESTED_PYTHONS = ["3.11", "3.12", "3.13", "3.14", "3.15"]
KERNEL_SCRIPT = Path(__file__).with_name("arun_in_kernel.py")
#: The example notebooks the wheel ships (src/arunner/notebooks).
NOTEBOOKS = ("quickstart", "background-tasks", "widgets", "configuration", "migrating")


def uv() -> str:
    """uv: the session installs it (with build[uv]); it makes venvs in seconds."""
    try:
        from uv import find_uv_bin
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            pytest.fail("uv is needed to make the venvs: pip install uv")
        return found
    return find_uv_bin()


def isolated_env(home: Path, venv: Path | None = None) -> dict[str, str]:
    """The environment minus Jupyter's, IPython's and Python's own settings.

    Jupyter and IPython see only empty directories of their own under
    ``home``, so a kernelspec or profile of the machine's user cannot stand
    in for the one under test; with ``venv``, its bin comes first on PATH.
    """
    dropped = ("JUPYTER", "IPYTHON", "PYTHON", "VIRTUAL_ENV", "UV_PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    for name, folder in [
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
    ]:
        (home / folder).mkdir(parents=True, exist_ok=True)
        env[name] = str(home / folder)
    if venv is not None:
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(venv)
    return env


def run(
    command: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> str:
    """Run ``command``; its stdout, or a failure that shows all it printed."""
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, command))} exited {done.returncode}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done.stdout


def build(source: Path, out: Path, *targets: str) -> None:
    command = [sys.executable, "-m", "build", *targets, "--installer", "uv"]
    run([*command, "--outdir", out, source], cwd=out)


def make_venv(path: Path, *requirements: str) -> Path:
    """A fresh venv on this interpreter with ``requirements``, and nothing else."""
    run([uv(), "venv", "--quiet", "--python", sys.executable, path], cwd=path.parent)
    install = [uv(), "pip", "install", "--quiet", "--python", path / "bin" / "python"]
    run([*install, *requirements], cwd=path.parent)
    return path


def metadata(text: str) -> Message:
    return email.parser.Parser().parsestr(text)


def wheel_files(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """An sdist and a wheel built from this checkout, as ``python -m build`` does."""
    out = tmp_path_factory.mktemp("dist")
    build(ROOT, out, "--sdist", "--wheel")
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    assert len(sdists) == 1, sdists
    assert len(wheels) == 1, wheels
    return Dist(sdist=sdists[0], wheel=wheels[0])


@pytest.fixture(scope="module")
def unpacked(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, unpacked as a downstream packager would."""
    where = tmp_path_factory.mktemp("sdist")
    with tarfile.open(dist.sdist) as archive:
        archive.extractall(where, filter="data")
    (top,) = where.iterdir()
    return top


@pytest.fixture(scope="module")
def sdist_wheel(unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the unpacked sdist."""
    out = tmp_path_factory.mktemp("dist-from-sdist")
    build(unpacked, out, "--wheel")
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def wheel_venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel (not editable) and ipykernel, to start kernels with."""
    return make_venv(
        tmp_path_factory.mktemp("wheel") / "venv", str(dist.wheel), "ipykernel"
    )


# -- the artifacts ------------------------------------------------------------------


def test_the_artifacts_are_named_for_the_distribution(dist: Dist) -> None:
    assert dist.sdist.name == f"{STEM}.tar.gz"
    assert dist.wheel.name == f"{STEM}-py3-none-any.whl"


def test_twine_check_strict_passes_on_both(dist: Dist) -> None:
    checked = run(
        [sys.executable, "-m", "twine", "check", "--strict", dist.sdist, dist.wheel],
        cwd=dist.wheel.parent,
    )
    assert checked.count("PASSED") == 2, checked


def test_the_metadata_names_the_distribution_and_the_pythons_tested(
    dist: Dist,
) -> None:
    found = metadata(wheel_files(dist.wheel)[f"{STEM}.dist-info/METADATA"].decode())
    assert found["Name"] == DISTRIBUTION
    assert found["Version"] == VERSION
    assert found["Requires-Python"] == f">={TESTED_PYTHONS[0]}"
    assert found["Description-Content-Type"] == "text/markdown"
    classifiers = found.get_all("Classifier") or []
    minors = [
        c.rsplit(" ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert minors == TESTED_PYTHONS
    assert "Programming Language :: Python :: Implementation :: CPython" in classifiers
    assert "nest" in (found.get_all("Provides-Extra") or [])


def test_the_changelog_names_this_version_as_the_latest(dist: Dist) -> None:
    """Artifacts are never labelled with a release that lacks their changes.

    With changes under ``Unreleased`` the version must be a ``.dev`` one of
    a later release; without, it is the newest release in the changelog.
    """
    changelog = (ROOT / "CHANGELOG.md").read_text()
    sections = re.split(r"^## \[([^\]]+)\].*$", changelog, flags=re.MULTILINE)
    versions = sections[1::2]
    released = [v for v in versions if v != "Unreleased"]
    assert released, "CHANGELOG.md has no released version"
    assert versions[0] in {"Unreleased", released[0]}
    unreleased = sections[2].strip() if versions[0] == "Unreleased" else ""
    if unreleased:
        assert Version(VERSION).is_devrelease, (
            f"CHANGELOG.md has unreleased changes, so the version must be a "
            f".dev one of the next release, not {VERSION}"
        )
        assert Version(VERSION) > Version(released[0])
    else:
        assert released[0] == VERSION


def test_the_wheel_holds_the_package_and_the_kernelspec(dist: Dist) -> None:
    names = set(wheel_files(dist.wheel))
    assert {
        "arunner/__init__.py",
        "arunner/py.typed",
        # the examples, for `python -m arunner notebooks`
        *(f"arunner/notebooks/{name}.ipynb" for name in NOTEBOOKS),
        f"{STEM}.data/data/share/jupyter/kernels/{SPEC_NAME}/kernel.json",
        f"{STEM}.dist-info/licenses/LICENSE",
    } <= names
    assert not [n for n in names if n.startswith(("tests/", "docs/"))]


def test_the_sdist_holds_what_its_tests_need_and_no_litter(unpacked: Path) -> None:
    assert unpacked.name == STEM
    files = {p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*")}
    assert {
        "PKG-INFO",
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "src/arunner/py.typed",
        f"jupyter-config/kernels/{SPEC_NAME}/kernel.json",
        "tests/conftest.py",
        "tests/unit/test_doctor.py",
        "docs/getting-started.md",
    } <= files
    litter = [
        f
        for f in files
        if "__pycache__" in f
        or f.endswith(".pyc")
        or f.split("/")[0] in {".nox", ".venv", ".reports", "site", "out", "dist"}
    ]
    assert not litter, litter


def test_a_wheel_built_from_the_sdist_equals_the_first(
    dist: Dist, sdist_wheel: Path
) -> None:
    assert sdist_wheel.name == dist.wheel.name
    first, again = wheel_files(dist.wheel), wheel_files(sdist_wheel)
    assert sorted(again) == sorted(first)
    metadata_file = f"{STEM}.dist-info/METADATA"
    assert again[metadata_file].decode() == first[metadata_file].decode()
    differ = [name for name in first if again[name] != first[name]]
    assert not differ, f"these files differ between the two wheels: {differ}"


# -- the installed wheel ------------------------------------------------------------


def test_the_wheel_installs_arunner_with_its_version(
    wheel_venv: Path, home: Path
) -> None:
    out = run(
        [
            wheel_venv / "bin" / "python",
            "-c",
            "import arunner, json, importlib.metadata as m; print(json.dumps("
            "[arunner.__version__, arunner.__file__, m.version('ipython-arunner')]))",
        ],
        cwd=home,
        env=isolated_env(home, wheel_venv),
    )
    version, where, distribution = json.loads(out)
    assert version == distribution == VERSION
    assert Path(where).is_relative_to(wheel_venv), where


def test_jupyter_kernelspec_list_shows_the_wheels_kernel(
    wheel_venv: Path, home: Path
) -> None:
    listed = json.loads(
        run(
            [wheel_venv / "bin" / "jupyter", "kernelspec", "list", "--json"],
            cwd=home,
            env=isolated_env(home, wheel_venv),
        )
    )["kernelspecs"]
    assert SPEC_NAME in listed, listed
    found = listed[SPEC_NAME]
    expected = wheel_venv / "share" / "jupyter" / "kernels" / SPEC_NAME
    assert Path(found["resource_dir"]) == expected
    assert found["spec"]["display_name"] == "Python 3 (arunner)"


def test_a_kernel_from_the_wheels_kernelspec_runs_an_arun_cell(
    wheel_venv: Path, home: Path
) -> None:
    kernels = wheel_venv / "share" / "jupyter" / "kernels"
    found = json.loads(
        run(
            [wheel_venv / "bin" / "python", KERNEL_SCRIPT, kernels],
            cwd=home,
            env=isolated_env(home, wheel_venv),
            timeout=180,
        )
    )
    assert found["display_name"] == "Python 3 (arunner)"
    assert Path(found["resource_dir"]) == kernels / SPEC_NAME
    assert Path(found["command"][0]).parent == wheel_venv / "bin"
    assert found["status"] == "ok", found["output"]
    assert re.fullmatch(
        rf"awaited on arunner-loop-\S+ in {re.escape(str(wheel_venv))}\n",
        found["output"],
    ), found["output"]


def test_doctor_from_the_wheel_names_the_distribution(
    wheel_venv: Path, home: Path
) -> None:
    out = run(
        [wheel_venv / "bin" / "python", "-m", "arunner", "doctor"],
        cwd=home,
        env=isolated_env(home, wheel_venv),
    )
    findings = {
        label.rstrip(":"): value.strip()
        for label, value in (line.split(": ", 1) for line in out.splitlines())
    }
    assert findings[DISTRIBUTION] == VERSION
    expected = wheel_venv / "share" / "jupyter" / "kernels" / SPEC_NAME
    assert Path(findings["kernelspec"]) == expected


def test_the_notebooks_command_from_the_wheel_copies_them_out(
    wheel_venv: Path, home: Path
) -> None:
    run(
        [wheel_venv / "bin" / "python", "-m", "arunner", "notebooks", "copies"],
        cwd=home,
        env=isolated_env(home, wheel_venv),
    )
    copied = sorted(p.name for p in (home / "copies").iterdir())
    assert copied == sorted(f"{name}.ipynb" for name in NOTEBOOKS)


# -- the sdist ----------------------------------------------------------------------


def test_the_unit_tests_pass_from_the_unpacked_sdist(
    unpacked: Path, sdist_wheel: Path, tmp_path: Path
) -> None:
    venv = make_venv(
        tmp_path / "venv", f"{DISTRIBUTION}[test] @ {sdist_wheel.as_uri()}"
    )
    env = isolated_env(tmp_path / "home", venv)
    python = venv / "bin" / "python"
    where = run(
        [python, "-c", "import arunner; print(arunner.__version__, arunner.__file__)"],
        cwd=unpacked,
        env=env,
    ).split()
    assert where[0] == VERSION
    assert Path(where[1]).is_relative_to(venv), "the tests would not test the build"
    summary = run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
        cwd=unpacked,
        env=env,
        timeout=600,
    ).splitlines()[-1]
    print(f"tests/unit from the sdist: {summary}")  # in the report's output
    assert re.search(r"\d+ passed", summary), summary
    assert "failed" not in summary
    assert "error" not in summary

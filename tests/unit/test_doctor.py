"""``python -m arunner doctor``: every line a bug report needs, as a user runs it."""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import ipykernel
import IPython
import pytest
import uvloop
from jupyter_client.kernelspec import KernelSpecManager

import arunner
from arunner import _doctor


def run_arunner(
    *args: str, pythonpath: Path | None = None, data_dir: Path
) -> subprocess.CompletedProcess[str]:
    """``python -m arunner ARGS`` in a subprocess whose Jupyter user dir is empty.

    An empty user data dir means only this environment's kernelspecs count,
    whatever the machine's user has installed.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["JUPYTER_DATA_DIR"] = str(data_dir)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(pythonpath), os.environ.get("PYTHONPATH")])
        )
    return subprocess.run(
        [sys.executable, "-m", "arunner", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def doctor(tmp_path: Path, pythonpath: Path | None = None) -> dict[str, str]:
    """The doctor's lines as {label: value}."""
    done = run_arunner("doctor", pythonpath=pythonpath, data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    findings = dict(line.split(": ", 1) for line in lines)
    assert len(findings) == len(lines), "a label was printed twice"
    return {label.rstrip(":"): value.strip() for label, value in findings.items()}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return doctor(tmp_path_factory.mktemp("doctor"))


def test_versions_are_those_of_this_environment(findings: dict[str, str]) -> None:
    assert findings["ipython-arunner"] == arunner.__version__
    assert arunner.__version__ == version("ipython-arunner")
    assert findings["IPython"] == IPython.__version__
    assert findings["ipykernel"] == ipykernel.__version__
    python = findings["Python"]
    assert python.startswith(f"{platform.python_version()} (")
    assert sys.executable in python


def test_no_loop_runs_in_a_script_so_auto_picks_inline(
    findings: dict[str, str],
) -> None:
    assert findings["loop running"] == "no (in this thread)"
    assert findings['mode="auto" picks'] == "inline"


def test_inside_a_running_loop_auto_picks_the_thread_engine() -> None:
    async def inside() -> dict[str, str]:
        return dict(_doctor.report())

    found = asyncio.run(inside())
    assert found["loop running"] == "yes (in this thread)"
    assert found['mode="auto" picks'] == "thread"


def test_uvloop_importable_with_its_version(findings: dict[str, str]) -> None:
    assert findings["uvloop"] == f"importable ({uvloop.__version__})"


def test_a_companion_that_fails_to_import_is_reported_with_the_reason(
    tmp_path: Path,
) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "uvloop.py").write_text("raise ImportError('broken build')\n")
    (shadow / "nest_asyncio2.py").write_text("")
    found = doctor(tmp_path, pythonpath=shadow)
    assert found["uvloop"] == "not importable (ImportError: broken build)"
    assert found["nest_asyncio2"].startswith("importable")


def test_the_kernelspec_of_this_environment_is_found(findings: dict[str, str]) -> None:
    expected = Path(sys.prefix, "share", "jupyter", "kernels", "python3-arunner")
    assert Path(findings["kernelspec"]) == expected


def test_a_missing_kernelspec_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(KernelSpecManager, "find_kernel_specs", lambda _self: {})
    assert _doctor.kernelspec() == (
        "python3-arunner not found (pip install ipython-arunner in this environment)"
    )


def test_a_missing_distribution_is_not_installed() -> None:
    assert _doctor.distribution_version("no-such-distribution-xyz") == "not installed"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: command"),
    ],
)
def test_a_wrong_command_gives_usage_and_exit_code_2(
    tmp_path: Path, args: list[str], complaint: str
) -> None:
    done = run_arunner(*args, data_dir=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("usage: python -m arunner")
    assert complaint in done.stderr
    assert "doctor" in done.stderr

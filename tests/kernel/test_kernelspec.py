"""Kernels with arunner loaded from the start: the README's three ways.

The "Python 3 (arunner)" kernelspec, as ``pip install ipython-arunner``
installs it: the wheel maps jupyter-config/kernels/ to
``<prefix>/share/jupyter/kernels`` (hatch shared-data).  The environment the
tests run in installed arunner the way a user does, so the spec must be
there, Jupyter must list it, and a kernel started from it must have
``%%arun`` without ``%load_ext``.  The other two ways are a profile's config
file and its startup directory.  (tests/release does the same from the
built wheel, installed in a venv of its own.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import files
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests.kernel.conftest import KERNEL_NAME, Kernel, kernel_spec_in

pytestmark = pytest.mark.kernel

SPEC_NAME = "python3-arunner"
SOURCE = Path(__file__).resolve().parents[2] / "jupyter-config" / "kernels" / SPEC_NAME
INSTALLED = Path(sys.prefix, "share", "jupyter", "kernels", SPEC_NAME)


def test_the_installed_distribution_ships_the_kernelspec() -> None:
    suffix = f"share/jupyter/kernels/{SPEC_NAME}/kernel.json"
    shipped = [
        f for f in files("ipython-arunner") or [] if f.as_posix().endswith(suffix)
    ]
    assert len(shipped) == 1, "ipython-arunner's RECORD does not list the kernelspec"
    assert Path(shipped[0].locate()).resolve() == (INSTALLED / "kernel.json").resolve()
    installed = json.loads((INSTALLED / "kernel.json").read_text())
    assert installed == json.loads((SOURCE / "kernel.json").read_text())
    assert installed["display_name"] == "Python 3 (arunner)"


def test_jupyter_kernelspec_list_shows_it(tmp_path: Path) -> None:
    """As the user runs it, with an empty user data dir so only this env counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["JUPYTER_DATA_DIR"] = str(tmp_path)
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("jupyter")), "kernelspec", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    ).stdout
    rows = [line.split() for line in listed.splitlines()[1:]]
    assert [SPEC_NAME, str(INSTALLED)] in rows, listed


def assert_arun_works_without_load_ext(
    manager: KernelManager, log: Path, **launch: Any
) -> None:
    with log.open("w") as out:
        manager.start_kernel(stdout=out, stderr=out, **launch)
        kernel = Kernel(manager, log)
        try:
            thread = kernel.value(
                "%%arun\nimport asyncio, threading\n"
                "await asyncio.sleep(0)\nthreading.current_thread().name"
            )
            assert thread is not None
            assert thread.startswith("'arunner-loop-"), thread
        finally:
            kernel.stop()


def test_a_kernel_from_the_spec_runs_arun_without_load_ext(tmp_path: Path) -> None:
    specs = KernelSpecManager(kernel_dirs=[str(INSTALLED.parent)])
    manager = KernelManager(kernel_name=SPEC_NAME, kernel_spec_manager=specs)
    assert manager.format_kernel_cmd()[0] == sys.executable  # "python" resolved
    assert_arun_works_without_load_ext(manager, tmp_path / "kernel.log")


def test_the_readmes_first_cell_is_silent_in_a_kernel_from_the_spec(
    tmp_path: Path,
) -> None:
    """The README's cell 1, ``%load_ext arunner``, in the kernel it recommends.

    The spec loads ``arunner.magics``, so IPython's extension manager does
    not list ``arunner`` as loaded and ``%load_ext arunner`` finds it set up
    already without saying "already loaded"; ``%unload_ext arunner`` then
    works as anywhere.  (A plain kernel's ``%load_ext arunner`` is what
    every other kernel test starts with.)
    """
    specs = KernelSpecManager(kernel_dirs=[str(SOURCE.parent)])
    manager = KernelManager(kernel_name=SPEC_NAME, kernel_spec_manager=specs)
    with (tmp_path / "kernel.log").open("w") as out:
        manager.start_kernel(stdout=out, stderr=out)
        kernel = Kernel(manager, tmp_path / "kernel.log")
        try:
            first = kernel.ok("%load_ext arunner\nimport asyncio")
            assert (first.stdout, first.stderr) == ("", "")
            assert kernel.value("%arun asyncio.sleep(0, 'ran')") == "'ran'"
            unloaded = kernel.ok("%unload_ext arunner")
            assert (unloaded.stdout, unloaded.stderr) == ("", "")
            gone = kernel.execute("%arun asyncio.sleep(0)")
            assert "magic function `%arun` not found" in gone.stderr
        finally:
            kernel.stop()


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("ipython_kernel_config.py", 'c.InteractiveShellApp.extensions = ["arunner"]'),
        ("startup/00-arunner.ipy", "%load_ext arunner"),
    ],
)
def test_a_profile_can_load_it_in_every_kernel(
    tmp_path: Path, path: str, text: str
) -> None:
    ipython_dir = tmp_path / "ipython"
    profile_file = ipython_dir / "profile_default" / path
    profile_file.parent.mkdir(parents=True)
    profile_file.write_text(text + "\n")
    manager = KernelManager(
        kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_spec_in(tmp_path)
    )
    env = dict(os.environ, IPYTHONDIR=str(ipython_dir))
    assert_arun_works_without_load_ext(manager, tmp_path / "kernel.log", env=env)

"""``python -m arunner doctor``: the facts a bug report about arunner needs.

Versions of what arunner sits on, whether a loop is already running, which
engine ``mode="auto"`` would pick here, and which optional companions can be
imported.  The engine is found by starting a real runner rather than by
repeating its rule, so the answer stays true when the rule changes.
"""

from __future__ import annotations

import asyncio
import importlib
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

from arunner.runner import Runner

__all__ = ["auto_engine", "distribution_version", "importable", "report"]

#: Optional companions: import name -> distribution name.
OPTIONAL = {"uvloop": "uvloop", "nest_asyncio2": "nest-asyncio2"}

KERNEL_NAME = "python3-arunner"

#: arunner's own distribution: what ``pip install`` takes, unlike the import name.
DISTRIBUTION = "ipython-arunner"


def distribution_version(name: str) -> str:
    """The installed version of distribution ``name``, or "not installed"."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def importable(module: str, distribution: str) -> str:
    """Whether ``module`` imports here; importing is the only real test of it."""
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot use it"
        return f"not importable ({type(exc).__name__}: {exc})"
    installed = distribution_version(distribution)
    return "importable" if installed == "not installed" else f"importable ({installed})"


def loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def auto_engine() -> str:
    """The engine a ``Runner(mode="auto")`` started in this thread gets."""
    runner = Runner(mode="auto")
    try:
        runner.get_loop()
        return str(runner.engine)
    finally:
        runner.close()


def kernelspec() -> str:
    """Where the "Python 3 (arunner)" kernelspec is, as Jupyter sees it."""
    try:
        kernelspecs = importlib.import_module("jupyter_client.kernelspec")
    except ImportError:
        return "unknown (jupyter_client not installed)"
    found = kernelspecs.KernelSpecManager().find_kernel_specs().get(KERNEL_NAME)
    if found is None:
        return (
            f"{KERNEL_NAME} not found (pip install {DISTRIBUTION} in this environment)"
        )
    return str(found)


def report() -> list[tuple[str, str]]:
    """The doctor's findings as (label, value) pairs, in print order."""
    running = loop_running()
    return [
        (DISTRIBUTION, distribution_version(DISTRIBUTION)),
        (
            "Python",
            f"{platform.python_version()} "
            f"({platform.python_implementation()}, {sys.executable})",
        ),
        ("IPython", distribution_version("ipython")),
        ("ipykernel", distribution_version("ipykernel")),
        ("loop running", "yes (in this thread)" if running else "no (in this thread)"),
        ('mode="auto" picks', auto_engine()),
        *((module, importable(module, dist)) for module, dist in OPTIONAL.items()),
        ("kernelspec", kernelspec()),
    ]


def main() -> int:
    findings = report()
    width = max(len(label) for label, _ in findings) + 2
    for label, value in findings:
        print(f"{label + ':':<{width}}{value}")
    return 0

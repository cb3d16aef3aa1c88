"""arunner: asyncio that works in Jupyter and IPython.

One persistent runner per kernel keeps one event loop and one
``contextvars.Context`` across cells, turns the stop button into
cancellation (cleanup first, then ``KeyboardInterrupt``), and offloads to a
dedicated loop thread when a loop is already running, as in every kernel.
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from arunner.runner import BackgroundTask, Runner

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

__all__ = [
    "BackgroundTask",
    "Runner",
    "__version__",
    "get_runner",
    "load_ipython_extension",
    "unload_ipython_extension",
]

#: The distribution is "ipython-arunner" (the name "arunner" on the package
#: index is another project's); the import name stays ``arunner``.
__version__ = _version("ipython-arunner")


def get_runner() -> Runner:
    """Return the runner that ``%arun`` uses in the current IPython shell."""
    from arunner.magics import get_runner as _get_runner

    return _get_runner()


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext arunner``: register ``%arun``/``%%arun`` and the shell's runner."""
    from arunner.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """``%unload_ext arunner``: close the shell's runner; pending cleanup runs."""
    from arunner.magics import unload_ipython_extension as _unload

    _unload(ipython)

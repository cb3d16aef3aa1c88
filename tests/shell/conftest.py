"""An in-process IPython shell with arunner loaded, fresh for every test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from IPython.testing.globalipapp import start_ipython


class Shell:
    """Runs cells through IPython's real path: transforms, magics, display hook."""

    def __init__(self, ip: InteractiveShell) -> None:
        self.ip = ip

    def run(self, cell: str) -> ExecutionResult:
        return self.ip.run_cell(cell, store_history=True)

    def ok(self, cell: str) -> Any:
        """Run a cell that must succeed; return its result (what Out stores)."""
        result = self.run(cell)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            raise AssertionError(f"cell failed: {error!r}\n{cell}") from error
        return result.result

    def error(self, cell: str) -> BaseException:
        """Run a cell that must fail; return the exception it failed with."""
        result = self.run(cell)
        error = result.error_before_exec or result.error_in_exec
        assert error is not None, f"cell did not fail:\n{cell}"
        return error

    @property
    def ns(self) -> dict[str, Any]:
        return self.ip.user_ns


@pytest.fixture(scope="session")
def _ipython() -> InteractiveShell:
    ip = start_ipython()
    assert ip is not None
    return ip


@pytest.fixture
def shell(_ipython: InteractiveShell) -> Iterator[Shell]:
    """The shell with arunner loaded; unloading after the test closes its runner."""
    _ipython.run_line_magic("load_ext", "arunner")
    try:
        yield Shell(_ipython)
    finally:
        _ipython.run_line_magic("unload_ext", "arunner")
        _ipython.config.pop("ARunMagics", None)  # %config writes to shell.config

"""The context sync against one Context, in a real kernel: a smaller run.

The machine of ``tests/shell/test_context_model.py``, whose cells here go
to a kernel: its interrupts are the kernel's (SIGINT, once the cell has
proved it started), and a Token reset in the other kind of cell must also
print arunner's hint.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.kernel.conftest import Kernel
from tests.shell.test_context_model import SETUP, check_against_the_model

pytestmark = pytest.mark.kernel


class KernelCells:
    stop = "print('started', flush=True)"
    again = "None"

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def ok(self, source: str) -> None:
        self.kernel.ok(source)

    def failure(self, source: str) -> tuple[str, str]:
        reply = self.kernel.execute(source)
        assert reply.error is not None, f"cell did not fail:\n{source}"
        said = f"{reply.error['evalue']}\n{reply.stderr}"
        if reply.ename == "ValueError":
            assert "arunner: a ContextVar Token can be reset only" in said
        return reply.ename or "", said

    def interrupted(self, source: str, *, times: int = 1) -> str:
        reply = self.kernel.execute(source, interrupt_on="started", interrupts=times)
        return reply.ename or ""

    def seen(self) -> str:
        return self.kernel.value("seen") or ""


def test_the_context_sync_agrees_with_one_context_in_a_kernel(
    start_kernel: Callable[..., Kernel],
) -> None:
    kernel = start_kernel()
    kernel.ok(SETUP)
    check_against_the_model(KernelCells(kernel), examples=30, steps=15)

"""Plain top-level-await cells routed to the runner (%arun --auto on), in a kernel."""

from __future__ import annotations

import pytest

from tests.kernel.cells import SLOW_CLEANUP, interruptible
from tests.kernel.conftest import Kernel

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def auto(kernel: Kernel) -> Kernel:
    kernel.ok("import asyncio, contextvars, threading, time")
    kernel.ok("var = contextvars.ContextVar('var', default='unset')")
    kernel.ok("%arun --auto on")
    return kernel


def test_await_cells_run_on_the_runner_and_keep_context(auto: Kernel) -> None:
    where = auto.value("await asyncio.sleep(0)\nthreading.current_thread().name")
    assert where is not None
    assert where.startswith("'arunner-loop-")
    auto.ok("await asyncio.sleep(0.01)\nvar.set('kept across plain cells')")
    assert (
        auto.value("await asyncio.sleep(0)\nvar.get()") == "'kept across plain cells'"
    )
    assert auto.value("threading.current_thread().name") == "'MainThread'"


def test_interrupt_of_a_plain_await_cell_cancels_with_cleanup(auto: Kernel) -> None:
    reply = auto.execute(
        interruptible(magic=None, cleanup=SLOW_CLEANUP),  # a plain cell: no %%arun
        interrupt_on="started",
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\ncleanup\n"
    assert reply.printed_before_error("cleanup"), "the cell ended before its cleanup"
    assert reply.interrupt_to_idle < 5  # not the 30 s of the sleep
    assert auto.value("await asyncio.sleep(0, 'usable')") == "'usable'"


def test_output_display_and_out_of_a_routed_cell(auto: Kernel) -> None:
    reply = auto.ok(
        "from IPython.display import display\n"
        "print('printed')\n"
        "await asyncio.sleep(0)\n"
        "display('displayed')\n"
        "'the result'\n"
    )
    assert reply.stdout == "printed\n"
    assert reply.displays == ["'displayed'"]
    assert reply.result == "'the result'"
    count = reply.outputs[-1]["content"]["execution_count"]
    assert auto.value(f"Out[{count}]") == "'the result'"
    assert reply.msg_id not in auto.elsewhere


def test_off_gives_the_cell_back_to_ipython(auto: Kernel) -> None:
    auto.ok("%arun --auto off")
    try:
        where = auto.value("await asyncio.sleep(0)\nthreading.current_thread().name")
        assert where == "'MainThread'"
    finally:
        auto.ok("%arun --auto on")

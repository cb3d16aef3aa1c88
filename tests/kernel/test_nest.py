"""mode="nest" in a kernel: the kernel's own loop, made re-entrant by nest-asyncio2.

Each test here pins either a part of the Runner contract that nest mode
keeps, or one documented difference.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from tests.kernel.cells import SLOW_CLEANUP, interruptible
from tests.kernel.conftest import Kernel

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def nest(start_kernel: Callable[..., Kernel]) -> Kernel:
    kernel = start_kernel()
    kernel.ok("import asyncio, contextvars, threading")
    kernel.ok("var = contextvars.ContextVar('var', default='unset')")
    kernel.ok("%config ARunMagics.mode = 'nest'")
    return kernel


def test_cells_run_on_the_kernels_own_loop_in_the_main_thread(nest: Kernel) -> None:
    nest.ok("kernel_loop = asyncio.get_running_loop()")
    same = nest.value(
        "%arun asyncio.sleep(0, asyncio.get_running_loop() is kernel_loop)"
    )
    assert same == "True"
    assert nest.value(
        "%%arun\nawait asyncio.sleep(0)\nthreading.current_thread().name"
    ) == ("'MainThread'")
    assert "engine:           nest" in nest.ok("%arun --status").stdout


def test_objects_bound_to_the_kernels_loop_can_be_awaited(nest: Kernel) -> None:
    nest.ok(
        "fut = kernel_loop.create_future()\n"
        "kernel_loop.call_later(0.05, fut.set_result, 'from the kernel loop')"
    )
    assert nest.value("%arun fut") == "'from the kernel loop'"


def test_context_var_set_after_await_persists(nest: Kernel) -> None:
    nest.ok("%%arun\nawait asyncio.sleep(0)\nvar.set('nested and kept')")
    assert (
        nest.value("%%arun\nawait asyncio.sleep(0)\nvar.get()") == "'nested and kept'"
    )


def test_interrupt_cancels_runs_cleanup_and_raises_keyboard_interrupt(
    nest: Kernel,
) -> None:
    reply = nest.execute(
        interruptible(cleanup=SLOW_CLEANUP),
        interrupt_on="started",
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\ncleanup\n"
    assert reply.printed_before_error("cleanup"), "the cell ended before its cleanup"
    assert reply.interrupt_to_idle < 5
    assert nest.value("%arun asyncio.sleep(0, 'usable')") == "'usable'"


def test_an_interrupt_that_another_thread_takes_still_stops_the_cell(
    nest: Kernel,
) -> None:
    """The OS may give the stop to one of the kernel's dozen other threads
    (Linux does when the main thread has a signal pending); the cell makes it
    certain by blocking SIGINT in the main thread while it waits, which here
    sleeps in the kernel loop's select() unless something wakes it."""
    reply = nest.execute(
        "%%arun\n"
        "import signal\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
        + interruptible(
            magic=None,
            cleanup="signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
            "print('cleanup', flush=True)",
        ),
        interrupt_on="started",
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\ncleanup\n"
    assert reply.interrupt_to_idle < 5  # not the 30 s of the sleep
    assert nest.value("%arun asyncio.sleep(0, 'usable')") == "'usable'"


def test_difference_asyncio_is_patched_for_the_whole_process(nest: Kernel) -> None:
    """nest-asyncio2 replaces asyncio.run and, before Python 3.14, swaps asyncio's
    C Task and Future for the Python ones (from 3.14 it leaves them: the C
    Task's current_task() would no longer see a Python Task)."""
    assert nest.value("asyncio.run is asyncio.runners.run") == "False"
    python_task = sys.version_info < (3, 14)  # the kernel runs this Python
    assert nest.value("asyncio.Task is asyncio.tasks._PyTask") == str(python_task)
    assert nest.value("asyncio.Future is asyncio.futures._PyFuture") == str(python_task)


def test_difference_no_loop_factory_so_no_uvloop(nest: Kernel) -> None:
    nest.ok("%config ARunMagics.loop_factory = 'uvloop.new_event_loop'")
    try:
        reply = nest.execute("%arun asyncio.sleep(0)")
        assert reply.ename == "ValueError"
        assert "loop_factory cannot apply" in reply.error["evalue"]
    finally:
        nest.ok("%config ARunMagics.loop_factory = ''")


def test_difference_restart_cannot_cancel_tasks_on_the_kernels_loop(
    nest: Kernel,
) -> None:
    nest.ok("h = %arun -b -n survivor asyncio.sleep(60)")
    restart = nest.ok("%arun --restart")
    assert "no tasks were pending" in restart.stdout
    assert nest.value("h.done()") == "False"
    nest.ok("h.cancel()")

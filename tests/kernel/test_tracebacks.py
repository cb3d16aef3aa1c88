"""The tracebacks a notebook shows for a ``%%arun`` cell: the user's lines only.

Read from the error message the kernel sends, as a frontend shows it: the
arrow of the cell's frame is at the line the cell was stopped at (not at
its ``finally:`` block, which ran since), and no frame names arunner's files.
"""

from __future__ import annotations

import re

import pytest

from tests.kernel.cells import IPYKERNEL_VERSION, LONG_AWAIT, cell_lines, interruptible
from tests.kernel.comms import drive, send
from tests.kernel.conftest import Kernel, Reply
from tests.paths import names_arunner_source

pytestmark = pytest.mark.kernel

#: The line of ``interruptible()``'s cell that its long await is on.
AWAIT_LINE = 4


@pytest.fixture(scope="module")
def nb(kernel: Kernel) -> Kernel:
    kernel.ok("import asyncio, threading")
    return kernel


def shown(reply: Reply) -> str:
    """The traceback of the cell's error as a frontend shows it, colours removed."""
    assert reply.error is not None, reply.outputs
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(reply.error["traceback"]))


def assert_stopped_at(reply: Reply, ename: str, line: int) -> None:
    """The cell ended with ``ename``, shown at ``line`` of the cell and nowhere
    else, after its cleanup ran; the code after the await never ran."""
    assert reply.ename == ename
    traceback = shown(reply)
    assert cell_lines(traceback) == [line], traceback
    assert not names_arunner_source(traceback), traceback
    assert "cleanup" in reply.stdout
    assert "resumed" not in reply.stdout


def test_a_stopped_cell_points_at_the_await_it_was_stopped_at(nb: Kernel) -> None:
    reply = nb.execute(interruptible(), interrupt_on="started")
    assert reply.printed_before_error("cleanup")
    assert_stopped_at(reply, "KeyboardInterrupt", AWAIT_LINE)


def test_a_timeout_points_at_the_await_and_not_into_arunner(nb: Kernel) -> None:
    reply = nb.execute(interruptible(magic="%%arun --timeout 0.2"))
    assert_stopped_at(reply, "TimeoutError", AWAIT_LINE)
    assert "did not finish within --timeout 0.2 s" in reply.error["evalue"]


def test_an_error_before_a_finally_block_points_at_its_raise(nb: Kernel) -> None:
    reply = nb.execute(interruptible("raise ValueError('in the cell')"))
    assert_stopped_at(reply, "ValueError", AWAIT_LINE)


#: A coroutine function of the user's, defined in a plain cell.
WORK = """async def work():
    try:
        print('started', flush=True)
        await asyncio.sleep(30)
        print('resumed')
    finally:
        print('cleanup', flush=True)
"""


@pytest.mark.parametrize(
    ("line", "interrupts"),
    [("%arun work()", 1), ("%arun --timeout 0.2 work()", 0)],
    ids=["stop", "timeout"],
)
def test_an_arun_line_points_at_the_await_in_the_users_function(
    nb: Kernel, line: str, interrupts: int
) -> None:
    nb.ok(WORK)
    reply = nb.execute(
        line, interrupt_on="started" if interrupts else None, interrupts=interrupts
    )
    # The cell's line, then the function's await.
    traceback = shown(reply)
    assert cell_lines(traceback) == [
        1,
        line_of("        await asyncio.sleep(30)", WORK),
    ]
    assert not names_arunner_source(traceback), traceback
    assert "cleanup" in reply.stdout
    assert "resumed" not in reply.stdout


def test_an_arun_line_of_asyncio_alone_shows_asyncios_call_not_arunners(
    nb: Kernel,
) -> None:
    # IPython shows a traceback's innermost frame even when hidden: with no
    # frame of the user's below the cell, that was arunner's raise.
    reply = nb.execute("%arun --timeout 0.2 asyncio.sleep(30)")
    assert reply.ename == "TimeoutError"
    traceback = shown(reply)
    assert cell_lines(traceback) == [1]
    assert not names_arunner_source(traceback), traceback
    assert " in sleep(delay" in traceback  # IPython 7 writes no comma before it


def test_a_second_stop_in_a_tight_loop_points_at_the_loop(nb: Kernel) -> None:
    reply = nb.execute(
        interruptible("while True:\n    pass"), interrupt_on="started", interrupts=2
    )
    assert reply.ename == "KeyboardInterrupt"
    traceback = shown(reply)
    assert cell_lines(traceback) in ([AWAIT_LINE], [AWAIT_LINE + 1]), traceback
    assert not names_arunner_source(traceback), traceback


#: A cell whose waiting thread, the kernel's, is held by a comm handler
#: (which the cell lets run while it waits) until a second interrupt; it
#: prints 'ended' once its task has ended, cleanup and all.
HELD_WAITER = interruptible(
    "await held.wait()\nprint('holding', flush=True)\n" + LONG_AWAIT,
    magic="%%arun\n"
    "loop = asyncio.get_running_loop()\n"
    "held = asyncio.Event()\n"
    "asyncio.current_task().add_done_callback(lambda _: print('ended', flush=True))\n"
    "def hold(comm, msg):\n"
    "    loop.call_soon_threadsafe(held.set)\n"
    "    threading.Event().wait(30)\n"
    "get_ipython().kernel.comm_manager.register_target('arunner-hold', hold)",
)


def line_of(text: str, cell: str) -> int:
    """The line of ``cell`` that is ``text``."""
    return cell.splitlines().index(text) + 1


@pytest.mark.skipif(
    tuple(map(int, IPYKERNEL_VERSION.split(".")[:2])) < (6, 29),
    reason=f"ipykernel {IPYKERNEL_VERSION} runs no comm handler while a cell "
    "waits, so nothing can hold the waiting thread (test_widget_events.py)",
)
def test_a_second_stop_after_the_cell_ended_shows_where_the_first_stopped_it(
    nb: Kernel,
) -> None:
    """The first stop cancels the cell, whose cleanup runs and ends it while
    the kernel's thread is held; the second stop comes before that thread
    saw the cell end, and shows what the first would have."""
    content = {"comm_id": "held", "target_name": "arunner-hold", "data": {}}
    reply = drive(
        nb,
        HELD_WAITER,
        [
            ("started", lambda _: send(nb, "comm_open", content)),
            ("holding", lambda _: nb.manager.interrupt_kernel()),
            # Not at "cleanup": its print may still be flushing (3.15).
            ("ended", lambda _: nb.manager.interrupt_kernel()),
        ],
    )
    await_line = line_of("    await asyncio.sleep(30)", HELD_WAITER)
    assert_stopped_at(reply, "KeyboardInterrupt", await_line)
    assert nb.value("%arun asyncio.sleep(0, 'usable')") == "'usable'"

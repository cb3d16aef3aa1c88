"""One context for the notebook: plain cells and %arun cells see each other's changes.

Each test starts the runner in a cell of its own first, so that what is
checked is the sync between two contexts that already exist, not the copy
the runner takes when it starts.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.kernel.cells import interruptible
from tests.kernel.conftest import Kernel

pytestmark = pytest.mark.kernel


@pytest.fixture
def nb(start_kernel: Callable[..., Kernel]) -> Kernel:
    kernel = start_kernel()
    kernel.ok(
        "import asyncio, contextvars, decimal\n"
        "v = contextvars.ContextVar('v', default='unset')\n"
        "%arun asyncio.sleep(0)  # the runner and its context exist from here"
    )
    return kernel


def test_a_plain_cells_change_reaches_later_arun_calls(nb: Kernel) -> None:
    nb.ok("v.set('from a plain cell')")
    assert nb.value("%arun asyncio.sleep(0, v.get())") == "'from a plain cell'"
    assert nb.value("%%arun\nawait asyncio.sleep(0)\nv.get()") == "'from a plain cell'"


def test_an_arun_cells_change_reaches_the_next_plain_cell(nb: Kernel) -> None:
    nb.ok("%%arun\nawait asyncio.sleep(0)\nv.set('from %%arun')")
    assert nb.value("v.get()") == "'from %%arun'"


def test_the_change_of_an_interrupted_cell_reaches_plain_cells(nb: Kernel) -> None:
    reply = nb.execute(
        interruptible("v.set('before the interrupt')\nawait asyncio.sleep(30)"),
        interrupt_on="started",
    )
    assert reply.ename == "KeyboardInterrupt"
    assert "cleanup" in reply.stdout
    assert nb.value("v.get()") == "'before the interrupt'"


def test_decimal_precision_set_in_a_plain_cell_applies_in_arun(nb: Kernel) -> None:
    nb.ok("decimal.getcontext().prec = 5")
    third = (
        "%%arun\nawait asyncio.sleep(0)\nstr(decimal.Decimal(1) / decimal.Decimal(3))"
    )
    assert nb.value(third) == "'0.33333'"


def test_a_background_task_keeps_the_copy_it_was_created_with(nb: Kernel) -> None:
    nb.ok(
        "import threading\n"
        "changed = threading.Event()\n"
        "v.set('at creation')\n"
        "async def watch():\n"
        "    v.set('inside the task')\n"
        "    await asyncio.to_thread(changed.wait, 10)\n"
        "    return v.get()\n"
        "handle = %arun -b watch()"
    )
    nb.ok("v.set('changed later')\nchanged.set()")
    assert nb.value("handle.result(10)") == "'inside the task'"
    assert nb.value("v.get()") == "'changed later'"  # the task's set stayed its own
    assert nb.value("%arun asyncio.sleep(0, v.get())") == "'changed later'"


def test_output_routing_is_not_carried_between_the_two_sides(nb: Kernel) -> None:
    first = nb.ok("%%arun\nawait asyncio.sleep(0)\nprint('from arun', flush=True)")
    plain = nb.ok("print('from a plain cell', flush=True)")
    assert first.stdout == "from arun\n"
    assert plain.stdout == "from a plain cell\n"
    later = nb.ok("%arun asyncio.to_thread(print, 'from a later arun', flush=True)")
    assert later.stdout == "from a later arun\n"

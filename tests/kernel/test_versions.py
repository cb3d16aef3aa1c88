"""What differs between the ipykernel versions arunner supports."""

from __future__ import annotations

import pytest

from tests.kernel.cells import IPYKERNEL_VERSION, ROUTES_BY_CONTEXT
from tests.kernel.conftest import Kernel

pytestmark = pytest.mark.kernel

TASK_WAITS_FOR_THE_NEXT_CELL = """%%arun
import threading
go, printed = threading.Event(), threading.Event()
async def later():
    await asyncio.to_thread(go.wait, 30)
    print("from the task", flush=True)
    printed.set()
task = asyncio.create_task(later())
"""


def test_a_background_tasks_output_goes_to_its_cell_from_ipykernel_6_29_on(
    kernel: Kernel,
) -> None:
    """Before 6.29 it goes to the cell running when it is printed: the
    kernel's streams keep one parent header for all threads, and arunner
    does not replace them to change that (a documented limit)."""
    kernel.ok("import asyncio")
    starter = kernel.ok(TASK_WAITS_FOR_THE_NEXT_CELL)
    later = kernel.ok("go.set()\nprinted.wait(30)")
    assert later.result == "True"
    if ROUTES_BY_CONTEXT:
        assert "from the task" not in later.stdout
        kernel.wait_elsewhere(starter.msg_id, "from the task")
    else:
        assert later.stdout == "from the task\n", IPYKERNEL_VERSION
        assert starter.msg_id not in kernel.elsewhere

"""Interrupt storm: many ``%%arun`` cells, each stopped at a random moment.

Every cell runs a tree of nested tasks (TaskGroup and gather, leaves that
keep creating short-lived tasks) whose ``finally`` blocks await and then
count themselves.  Each interrupt must end the cell with KeyboardInterrupt
only after every cleanup of that cell has run (the cell's own ``finally``
prints "cleanup" before the error arrives), and the same kernel and runner
must go on answering.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from tests.kernel.cells import SLOW_CLEANUP, interruptible
from tests.kernel.conftest import Kernel
from tests.reliability.conftest import FULL, probe, scaled

pytestmark = [pytest.mark.kernel, pytest.mark.reliability]

CELLS = scaled(100, 1000)

#: The longest wait after a cell proved it started before it is interrupted.
MAX_DELAY = 0.05

SETUP = """
import asyncio, random
entered = cleaned = 0
churn = random.Random({seed})

async def node(depth):
    global entered, cleaned
    entered += 1
    try:
        if depth == 0:
            while True:
                await asyncio.sleep(churn.random() * 0.002)
                await asyncio.create_task(asyncio.sleep(0))
        elif depth % 2:
            async with asyncio.TaskGroup() as group:
                group.create_task(node(depth - 1))
                group.create_task(node(depth - 1))
        else:
            await asyncio.gather(node(depth - 1), node(depth - 1))
    finally:
        await asyncio.sleep(0)  # cleanup that itself awaits
        cleaned += 1
"""

#: The cell's own ``finally`` runs once the whole tree has cleaned up, and
#: takes a while: an error that came before its "cleanup" would show.
CELL = interruptible("await node(3)\nprint('resumed')", cleanup=SLOW_CLEANUP)

#: Nodes in the tree of ``node(3)``.
TREE = 1 + 2 + 4 + 8


@pytest.mark.timeout(900 if FULL else 120)
def test_every_cleanup_runs_and_the_runner_answers_after_each_interrupt(
    start_kernel: Callable[..., Kernel],
) -> None:
    seed = random.randrange(2**32)
    delays = random.Random(seed)
    kernel = start_kernel()
    kernel.ok(SETUP.format(seed=seed))
    baseline = probe(kernel)
    for number in range(CELLS):
        reply = kernel.execute(
            CELL, interrupt_on="started", delay=delays.uniform(0, MAX_DELAY)
        )
        where = f"cell {number} of the storm with seed {seed}"
        assert reply.ename == "KeyboardInterrupt", where
        assert "resumed" not in reply.stdout, where
        assert reply.printed_before_error("cleanup"), f"{where}: error before cleanup"
        counts = kernel.value("%arun asyncio.sleep(0, (entered, cleaned))")
        entered, cleaned = eval(counts or "")  # noqa: S307 - a tuple of two ints
        assert entered == cleaned, f"{where}: {entered - cleaned} cleanups missing"
    # The storm did hit full trees, not only cells stopped before they grew.
    assert entered > CELLS * TREE // 2, (entered, seed)
    assert kernel.value("%arun asyncio.sleep(0, 'still answering')") == (
        "'still answering'"
    )
    after = probe(kernel)
    assert after["tasks"] == 0
    assert after["threads"] == baseline["threads"]
    assert kernel.value("1 + 1") == "2"

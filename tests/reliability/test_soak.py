"""Soak: thousands of cells through one real kernel, and nothing grows.

The cells cycle through what a notebook does all day: ``%%arun`` cells that
start and await tasks, set a ContextVar and print, ``%arun`` lines with and
without ``--timeout``, and background tasks awaited by a later cell.  They
run as silent requests, so that IPython keeps no history of them (its
In/Out/history grows by a few hundred bytes a cell and would hide a leak);
everything else is the kernel's normal execute path.

After a warm-up the kernel must keep the same threads and no leftover task,
and its memory must grow no faster than under plain cells with the same
output: the kernel itself keeps about one allocation per request (the
replay guard of jupyter_client's Session, bounded at 65,536) and a little
per printed line, so "no growth" is measured against that, in Python's
allocated blocks, which unlike resident memory is not blurred by the
allocator's arenas.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Sequence

import pytest

from tests.kernel.conftest import PATIENCE, Kernel
from tests.reliability.conftest import FULL, probe, scaled

pytestmark = [pytest.mark.kernel, pytest.mark.reliability]

CELLS = scaled(1_500, 10_000)
WARM_UP = 500
ROUNDS = 5

SETUP = """
import asyncio, contextvars
count = contextvars.ContextVar("count", default=0)
"""

#: One round of the cycle; every cell must succeed.
CYCLE = [
    "%%arun\n"
    "child = asyncio.create_task(asyncio.sleep(0, 1))\n"
    "count.set(count.get() + await child)\n"
    "print(count.get())",
    "%arun asyncio.sleep(0, count.get())",
    "handle = %arun -b -n soak asyncio.sleep(0.001, 'background')",
    "%%arun\nassert await handle == 'background'",
    "%arun --timeout 5 asyncio.sleep(0)",
]

#: The same requests and output without arunner: what the kernel keeps anyway.
PLAIN = ["print(1)", "pass", "pass", "pass", "pass"]

#: Allocated blocks a cell may keep beyond what a plain cell keeps.  The
#: difference measures within about one block a cell either way; keeping a
#: single finished task every fifth cell (with its context and result)
#: measured +7.7 blocks a cell.
EXTRA_BLOCKS_PER_CELL = 2.0

#: Resident memory, in bytes: a coarse bound on top of the blocks.
RSS_BOUND = (2 << 20) + 100 * CELLS


def run_silently(kernel: Kernel, code: str) -> None:
    reply = kernel.client.execute(code, silent=True, reply=True, timeout=PATIENCE)
    content = reply["content"]
    assert content["status"] == "ok", (code, content.get("evalue"))


def drain_iopub(kernel: Kernel) -> None:
    """Drop the iopub messages of silent cells nobody waits for."""
    while True:
        try:
            kernel.client.get_iopub_msg(timeout=0)
        except queue.Empty:
            return


def soak(kernel: Kernel, cycle: Sequence[str], cells: int) -> int:
    """Run ``cells`` cells of ``cycle``; return the blocks the kernel gained."""
    before = probe(kernel)["blocks"]
    for number in range(cells):
        run_silently(kernel, cycle[number % len(cycle)])
        if number % 100 == 99:
            drain_iopub(kernel)
    drain_iopub(kernel)
    gained: int = probe(kernel)["blocks"] - before
    return gained


@pytest.mark.timeout(1200 if FULL else 120)
def test_threads_tasks_and_memory_stay_flat(
    start_kernel: Callable[..., Kernel],
) -> None:
    kernel = start_kernel()
    kernel.ok(SETUP)
    soak(kernel, CYCLE, WARM_UP)
    soak(kernel, PLAIN, WARM_UP // 2)
    before = probe(kernel)
    arunner_blocks = plain_blocks = 0
    per_round = CELLS // ROUNDS
    for _ in range(ROUNDS):  # interleaved, so both see the same kernel state
        arunner_blocks += soak(kernel, CYCLE, per_round)
        plain_blocks += soak(kernel, PLAIN, per_round // 2)
    after = probe(kernel)
    rounds = (WARM_UP + CELLS) // len(CYCLE)
    assert kernel.value("%arun asyncio.sleep(0, count.get())") == str(rounds)
    assert after["tasks"] == before["tasks"] == 0
    assert after["threads"] == before["threads"]
    assert after["os_threads"] == before["os_threads"]
    extra = arunner_blocks / CELLS - plain_blocks / (CELLS // 2)
    assert extra < EXTRA_BLOCKS_PER_CELL, f"{extra:.2f} more blocks a cell"
    assert after["rss"] - before["rss"] < RSS_BOUND

"""Cells the kernel tests interrupt, and what the tests read from kernels.

Interrupted cells prove they started, then clean up.
"""

from __future__ import annotations

import importlib.metadata
import re
import textwrap

import pytest

IPYKERNEL_VERSION = importlib.metadata.version("ipykernel")

LONG_AWAIT = "await asyncio.sleep(30)\nprint('resumed')"

#: A cleanup that awaits a while before it says "cleanup": a cell that
#: ended before its cleanup had run shows its error before that line.
SLOW_CLEANUP = "await asyncio.sleep(0.3)\nprint('cleanup', flush=True)"


def interruptible(
    body: str = LONG_AWAIT,
    *,
    cleanup: str = "print('cleanup', flush=True)",
    magic: str | None = "%%arun",
) -> str:
    """A cell that prints "started", runs ``body`` and runs ``cleanup`` in finally.

    "started" is the proof tests wait for before they interrupt; a test then
    checks "cleanup" was printed (before the error: ``Reply.
    printed_before_error``; with ``SLOW_CLEANUP`` that proves the order) and
    "resumed" (the default body's line after its long await) was not.
    """
    lines = [] if magic is None else [magic]
    lines += ["try:", "    print('started', flush=True)"]
    lines += [
        textwrap.indent(body, "    "),
        "finally:",
        textwrap.indent(cleanup, "    "),
    ]
    return "\n".join(lines) + "\n"


#: The header of a cell's frame in a traceback: IPython 8+ names the cell and
#: the line ("Cell In[3], line 4"), IPython 7 the file of its code
#: (".../ipykernel_123/456.py in <module>"); the arrow below gives the line.
_CELL_FRAME = re.compile(r"^(Cell In\[\d+\], line \d+|\S*/ipykernel_\d+/\d+\.py in )")
_ARROW = re.compile(r"^-+> (\d+)")


def cell_lines(traceback: str) -> list[int]:
    """The line each frame of a cell in ``traceback`` (colours removed) is at."""
    lines: list[int] = []
    in_cell = False
    for line in traceback.splitlines():
        if _CELL_FRAME.match(line):
            in_cell = True
        elif in_cell and (arrow := _ARROW.match(line)):
            lines.append(int(arrow.group(1)))
            in_cell = False
    return lines


#: ipykernel 6.29 and later read a stream's parent header from a ContextVar,
#: which arunner sets per cell; before, the kernel's streams send everything
#: under the latest cell, and only replacing them would change that.
ROUTES_BY_CONTEXT = tuple(map(int, IPYKERNEL_VERSION.split(".")[:2])) >= (6, 29)

needs_routing_by_context = pytest.mark.skipif(
    not ROUTES_BY_CONTEXT,
    reason=f"ipykernel {IPYKERNEL_VERSION} sends a background task's output to "
    "the latest cell (pinned by tests/kernel/test_versions.py)",
)

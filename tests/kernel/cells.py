"""Cells the kernel tests interrupt: they prove they started, then clean up."""

from __future__ import annotations

import textwrap

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

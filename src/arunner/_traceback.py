"""Tracebacks that show the user's code rather than the loop's plumbing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType

__all__ = [
    "in_asyncio",
    "interrupted_at",
    "is_plumbing",
    "spliced",
    "traceback_through",
    "without_arunner_frames",
    "without_asyncio_frames",
    "without_plumbing",
]

_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
_ARUNNER_DIR = os.path.dirname(__file__) + os.sep


def in_asyncio(filename: str) -> bool:
    """Whether ``filename`` is one of asyncio's own modules."""
    return filename.startswith(_ASYNCIO_DIR)


def is_plumbing(filename: str) -> bool:
    """Whether ``filename`` belongs to asyncio or arunner, not to the user."""
    return filename.startswith((_ASYNCIO_DIR, _ARUNNER_DIR))


def without_asyncio_frames(tb: TracebackType | None) -> TracebackType | None:
    """The same traceback without asyncio's own frames.

    ``run_until_complete`` re-raises a task's exception from inside asyncio;
    users should see their code.  Only error paths pay for this.
    """
    return _keeping(tb, in_asyncio)


def without_arunner_frames(tb: TracebackType | None) -> TracebackType | None:
    """The same traceback without arunner's own frames (script parity's
    calls and its SIGINT handler): the rest is what a script would show."""
    return _keeping(tb, _in_arunner)


def without_plumbing(tb: TracebackType | None) -> TracebackType | None:
    """The same traceback without asyncio's and arunner's frames."""
    return _keeping(tb, is_plumbing)


def _in_arunner(filename: str) -> bool:
    return filename.startswith(_ARUNNER_DIR)


def _keeping(
    tb: TracebackType | None, dropped: Callable[[str], bool]
) -> TracebackType | None:
    entries = []
    while tb is not None:
        if not dropped(tb.tb_frame.f_code.co_filename):
            entries.append(tb)
        tb = tb.tb_next
    return _relinked(entries)


def _relinked(entries: Sequence[TracebackType]) -> TracebackType | None:
    relinked = None
    for entry in reversed(entries):
        relinked = TracebackType(
            relinked, entry.tb_frame, entry.tb_lasti, entry.tb_lineno
        )
    return relinked


def spliced(
    outer: TracebackType | None, inner: TracebackType | None
) -> TracebackType | None:
    """One traceback: ``outer``'s entries, then ``inner``'s.

    An interrupted ``--sync`` cell stops in two places at once: the cell's
    line that called ``asyncio.run()`` (the worker's exception) and the
    await that loop's task was at (the innermost cancellation, whose own
    traceback starts inside the loop and never reaches the cell).
    """
    entries = []
    for start in (outer, inner):
        tb = start
        while tb is not None:
            entries.append(tb)
            tb = tb.tb_next
    return _relinked(entries)


def interrupted_at(cancelled: BaseException) -> KeyboardInterrupt:
    """The KeyboardInterrupt for an interrupted run, pointing where it stopped.

    A plain Ctrl-C shows the line that was running; the cancellation that
    an interrupt becomes carries the same information in the traceback of
    the CancelledError raised inside the coroutine (the innermost one of
    the chain that asyncio builds when it re-raises it).
    """
    innermost = cancelled
    while isinstance(innermost.__context__, asyncio.CancelledError):
        innermost = innermost.__context__
    interrupt = KeyboardInterrupt()
    # arunner's frames go too: finished coroutine frames lose the
    # __tracebackhide__ that would hide them, and none of them is news.
    return interrupt.with_traceback(without_plumbing(innermost.__traceback__))


def traceback_through(frames: Sequence[FrameType]) -> TracebackType | None:
    """A traceback through ``frames`` (outermost first), at their current lines.

    A second interrupt in the thread engine raises ``KeyboardInterrupt`` in
    the waiting thread, whose own frames say nothing; the user wants to see
    where their code was, in the loop thread.
    """
    tb = None
    for frame in reversed(frames):
        tb = TracebackType(tb, frame, frame.f_lasti, frame.f_lineno or 0)
    return tb

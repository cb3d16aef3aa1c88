"""Tracebacks that show the user's code rather than the loop's plumbing."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Any

__all__ = [
    "at_their_lines",
    "cancelled_at",
    "ended_at",
    "frames_of_threads",
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


def cancelled_at(cancelled: BaseException | None) -> TracebackType | None:
    """Where the user's code was when the cancellation ``cancelled`` stopped it.

    That is the traceback of the CancelledError raised inside the coroutine,
    the innermost one of the chain that asyncio builds when it re-raises
    it, without asyncio's and arunner's frames: finished coroutine frames
    lose the ``__tracebackhide__`` that would hide arunner's, and none of
    them is news.  Each frame is shown at the line it was stopped at, not
    at the cleanup it went on to (:func:`at_their_lines`).  Code that ran
    none of the user's frames (``%arun asyncio.sleep(30)``) is shown at
    asyncio's innermost one, the call the line made: IPython always shows
    the innermost frame of a traceback, which would otherwise be arunner's
    raise.
    """
    innermost = cancelled
    while innermost is not None and isinstance(
        innermost.__context__, asyncio.CancelledError
    ):
        innermost = innermost.__context__
    if innermost is None:
        return None
    users = without_plumbing(innermost.__traceback__)
    if users is None:
        return _last(without_arunner_frames(innermost.__traceback__))
    return at_their_lines(users)


def _last(tb: TracebackType | None) -> TracebackType | None:
    """The innermost entry of ``tb`` alone."""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return (
        None
        if tb is None
        else TracebackType(None, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
    )


def interrupted_at(cancelled: BaseException) -> KeyboardInterrupt:
    """The KeyboardInterrupt for an interrupted run, pointing where it stopped.

    A plain Ctrl-C shows the line that was running; the cancellation that
    an interrupt becomes carries the same information (:func:`cancelled_at`).
    """
    return KeyboardInterrupt().with_traceback(cancelled_at(cancelled))


def ended_at(task: asyncio.Future[Any]) -> TracebackType | None:
    """Where the user's code was when the finished ``task`` ended.

    Where it was cancelled, or where its exception was raised: a second
    interrupt that comes once the task is over (its cleanup was quick, the
    waiting thread had not seen it end) shows what the first would have.
    None if it returned.
    """
    try:
        error = task.exception()
    except asyncio.CancelledError as cancelled:
        return cancelled_at(cancelled)
    return None if error is None else without_plumbing(error.__traceback__)


def traceback_through(frames: Sequence[FrameType]) -> TracebackType | None:
    """A traceback through ``frames`` (outermost first), at their current lines.

    A second interrupt in the thread engine raises ``KeyboardInterrupt`` in
    the waiting thread, whose own frames say nothing; the user wants to see
    where their code was, in the loop thread.  Those frames go on running
    there (to their cleanup, say) while the error is shown, so the
    traceback holds stand-ins for them that stay where they were
    (:func:`at_their_lines`).
    """
    tb = None
    for frame in reversed(frames):
        line = frame.f_lineno or 0
        shown = _stopped_at(frame, line) if line > 0 else frame
        tb = TracebackType(tb, shown, shown.f_lasti, line)
    return tb


def at_their_lines(tb: TracebackType | None) -> TracebackType | None:
    """The same traceback, each frame shown at the traceback's line.

    A traceback entry says which line its frame was at (``tb_lineno``);
    the frame itself goes on to its ``finally:`` and ``except`` blocks, so
    by the time the error is shown it is at their last line.  IPython 9
    shows the frame's line, not the entry's, for code whose file is not on
    disk, such as every cell in a kernel: an interrupted cell pointed at its
    cleanup instead of the await it was stopped at.  So an entry whose frame
    has moved on gets a stand-in frame, with the same file, name and
    namespace, that stopped at the entry's line.  Only error paths pay.
    """
    entries = []
    while tb is not None:
        line = tb.tb_lineno or 0  # None for an instruction without a line
        if line > 0 and tb.tb_frame.f_lineno != line:
            frame = _stopped_at(tb.tb_frame, line)
            tb = TracebackType(tb.tb_next, frame, frame.f_lasti, line)
        entries.append(tb)
        tb = tb.tb_next
    return _relinked(entries)


def _stopped_at(frame: FrameType, line: int) -> FrameType:
    """A finished frame like ``frame`` whose line is ``line``.

    Its code raises at that line, from an expression that reads no name,
    so it runs in the frame's own namespace (which ``%debug`` then shows)
    without touching it.
    """
    real = frame.f_code
    code = compile("\n" * (line - 1) + "0 / 0", real.co_filename, "exec")
    code = code.replace(co_name=real.co_name, co_qualname=real.co_qualname)
    stopped = None
    try:
        exec(code, frame.f_globals, frame.f_locals)  # noqa: S102 - constant code
    except ZeroDivisionError as error:
        stopped = error.__traceback__
    assert stopped is not None
    assert stopped.tb_next is not None
    return stopped.tb_next.tb_frame


def frames_of_threads() -> dict[int, FrameType]:
    """``sys._current_frames()``, without the hang it can end in on 3.11.

    CPython 3.11 holds the runtime's lock while that call makes frame
    objects; a garbage collection that one of those allocations starts can
    free an object whose finalizer takes the same lock, and the process
    hangs for good (gh-106883; 3.12 turns the collector off for the call,
    3.11 was never fixed).  A stop under ``--sync`` asks for the threads'
    frames every few milliseconds while a loop elsewhere cleans up, and a
    test run hung there.  So on 3.11 the collector is off for the call,
    unless the caller had turned it off already.
    """
    if sys.version_info >= (3, 12) or not gc.isenabled():
        return sys._current_frames()
    gc.disable()
    try:
        return sys._current_frames()
    finally:
        gc.enable()

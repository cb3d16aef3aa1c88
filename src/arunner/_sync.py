"""The ``--sync`` worker: synchronous code in a thread where no loop is running.

Libraries with a synchronous API often call ``asyncio.run()`` or
``loop.run_until_complete()`` inside; in a kernel, whose main thread always
runs a loop, that fails with "cannot be called from a running event loop".
``run_sync`` runs such code in a fresh worker thread, where no loop runs,
without patching asyncio.  It is awaited by a main task on the runner, so
the runner's contract carries over:

* the code runs in a copy of the main task's context (the persistent one,
  with the cell's output routing), and the ContextVar changes it makes flow
  back into that context when it ends, however it ends;
* cancelling the main task (the first interrupt, a timeout) is passed on to
  the worker as asyncio.Runner's own SIGINT handler would pass it on: if
  the code is inside an event loop it started, that loop's main task is
  cancelled, so its cleanup runs; otherwise ``KeyboardInterrupt`` is raised
  in the worker's Python code.  The main task waits for the worker to end,
  then ends cancelled (which the runner turns into ``KeyboardInterrupt``);
* a second interrupt leaves at once, as for any run.  A worker stuck in C
  carries on alone, and the next ``run_sync`` says that it is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import os
import sys
import sysconfig
import threading
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from arunner._interrupt import raise_in_thread
from arunner._traceback import is_plumbing, spliced

__all__ = ["run_sync"]

T = TypeVar("T")

_worker_numbers = itertools.count(1)

#: Workers that were interrupted and had not ended when their run stopped
#: waiting for them (a second interrupt): reported by the next run_sync.
_stragglers: set[_Worker] = set()

#: Where the standard library lives (its site-packages aside).
_STDLIB = os.path.join(sysconfig.get_paths()["stdlib"], "")


async def run_sync(function: Callable[[], T]) -> T:
    """Call ``function`` in a new worker thread and await its outcome."""
    __tracebackhide__ = True
    _report_stragglers()
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    before = context.copy()
    worker = _Worker(function, context, loop)
    worker.start()
    try:
        try:
            return await asyncio.shield(worker.outcome)
        except asyncio.CancelledError:
            if worker.outcome.done():
                raise
            worker.interrupt()
            _stragglers.add(worker)
            # Its cleanup runs; then the interruption wins over its outcome.
            with contextlib.suppress(BaseException):
                await asyncio.shield(worker.outcome)
            _stragglers.discard(worker)
    finally:
        _carry_back(context, before)
    # Raised here, outside the handler, so that it is the innermost
    # cancellation: the interrupt's traceback then shows the worker's code.
    raise _interruption(worker.outcome)


def _interruption(outcome: asyncio.Future[Any]) -> asyncio.CancelledError:
    """The cancellation to end with, carrying where the worker's code stopped:
    the cell's line, then the await the library's loop was at."""
    cancelled = asyncio.CancelledError()
    if outcome.done() and not outcome.cancelled():
        raised = stopped = outcome.exception()
        while isinstance(stopped, BaseException) and isinstance(
            stopped.__context__, asyncio.CancelledError | KeyboardInterrupt
        ):
            stopped = stopped.__context__  # the innermost: the library's await
        if raised is not None and stopped is not None:
            inner = None if stopped is raised else stopped.__traceback__
            cancelled = cancelled.with_traceback(spliced(raised.__traceback__, inner))
    return cancelled


def _carry_back(worker: contextvars.Context, before: contextvars.Context) -> None:
    """Set, in the running context, what the worker's code changed in its copy."""
    for variable, value in worker.items():
        if variable not in before or before[variable] is not value:
            variable.set(value)


class _Worker(threading.Thread):
    """One call of synchronous code; its outcome resolves a future on ``loop``."""

    def __init__(
        self,
        function: Callable[[], Any],
        context: contextvars.Context,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(name=f"arunner-sync-{next(_worker_numbers)}", daemon=True)
        self._function = function
        self._context = context
        self._loop = loop
        self.outcome: asyncio.Future[Any] = loop.create_future()

    def run(self) -> None:
        __tracebackhide__ = True
        try:
            result = self._context.run(self._function)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            self._hand_over(_set_exception, exc)
        else:
            self._hand_over(_set_result, result)

    def _hand_over(
        self, setter: Callable[[asyncio.Future[Any], Any], None], value: object
    ) -> None:
        # RuntimeError: the runner was closed meanwhile, and nobody waits.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(setter, self.outcome, value)

    def interrupt(self) -> None:
        """Stop the code as a Ctrl-C would stop it in a thread of its own."""
        inner = _inner_main_task(self.ident)
        if inner is not None:
            loop, task = inner
            try:
                loop.call_soon_threadsafe(task.cancel)
                return
            except RuntimeError:  # that loop has just closed
                pass
        if self.ident is not None:
            raise_in_thread(self.ident, KeyboardInterrupt)

    def where(self) -> FrameType | None:
        """The frame of the user's or library's code the worker is stuck in.

        Below it there may be asyncio's, arunner's and the standard library's
        frames (``threading.Event.wait``, ``time.sleep``'s caller): the line
        worth showing is the one that called into them.
        """
        frame = sys._current_frames().get(self.ident or 0)
        innermost = None
        while frame is not None:
            filename = frame.f_code.co_filename
            if not is_plumbing(filename):
                if not _in_the_standard_library(filename):
                    return frame
                innermost = innermost or frame
            frame = frame.f_back
        return innermost


def _set_result(future: asyncio.Future[Any], value: object) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _inner_main_task(
    thread_id: int | None,
) -> tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]] | None:
    """The event loop the worker's code started, and the future it runs.

    Found from the worker's frames, innermost first: a ``run_until_complete``
    of an asyncio loop (``asyncio.run``, ``Runner.run``, a library's own
    loop), or an ``asyncio.Runner.run`` whose loop has no Python frames
    (uvloop).
    """
    frame: FrameType | None = sys._current_frames().get(thread_id or 0)
    while frame is not None:
        owner = frame.f_locals.get("self")
        name = frame.f_code.co_name
        if name == "run_until_complete" and isinstance(
            owner, asyncio.AbstractEventLoop
        ):
            future = frame.f_locals.get("future")
            if isinstance(future, asyncio.Future):
                return owner, future
        if name == "run" and isinstance(owner, asyncio.Runner):
            task = frame.f_locals.get("task")
            if isinstance(task, asyncio.Future):
                return task.get_loop(), task
        frame = frame.f_back
    return None


def _report_stragglers() -> None:
    for worker in list(_stragglers):
        if not worker.is_alive():
            _stragglers.discard(worker)
            continue
        frame = worker.where()
        where = (
            "in code Python cannot see (C)"
            if frame is None
            else f"at {frame.f_code.co_name} "
            f"({frame.f_code.co_filename}:{frame.f_lineno})"
        )
        # Shown at the stuck line: nothing on this thread's stack is the user's.
        warnings.warn_explicit(
            f"arunner: the worker of an interrupted --sync call, {worker.name!r}, "
            f"is still running {where}: it ignored the interrupt, probably "
            "inside a call Python cannot interrupt. This call runs in a new worker.",
            RuntimeWarning,
            filename=__file__ if frame is None else frame.f_code.co_filename,
            lineno=0 if frame is None else frame.f_lineno,
        )


def _in_the_standard_library(filename: str) -> bool:
    return filename.startswith(_STDLIB) and "-packages" not in filename

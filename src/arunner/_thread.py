"""The thread engine: the loop lives in one dedicated worker thread.

This is the engine for places where a loop is already running in the
caller's thread, as in every Jupyter kernel cell.  ``run`` hands the
coroutine to the worker and blocks the caller until the main task is done.
The loop keeps running between calls, so background tasks keep going.

SIGINT is delivered to the waiting caller's thread, never to the loop
thread, so the waiting side maps interrupts onto the task itself: the first
cancels it, the second leaves at once, and if the loop thread did not even
notice the first one (a tight loop, a blocking call) the second also raises
``CancelledError`` inside that thread to stop whatever hogs it.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import contextvars
import itertools
import threading
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

from arunner._interrupt import InterruptScope, raise_in_thread
from arunner._loop import LoopFactory, finalize_loop, new_loop
from arunner._traceback import interrupted_at

__all__ = ["ThreadEngine"]

T = TypeVar("T")

#: The caller waits in slices of this many seconds.  Where an interrupt only
#: sets a flag (Windows, ``_thread.interrupt_main``) a blocking wait would
#: never see it; a slice bounds how long it goes unnoticed.
WAIT_SLICE = 0.05

#: After a forced stop, the next ``run`` waits this long for the loop thread
#: to recover before it reports the runner as blocked.
_RECOVERY_GRACE = 1.0

#: Extra time close() grants the worker beyond the shutdown timeout, for the
#: steps that are not bounded themselves (stopping the loop, closing it).
_JOIN_MARGIN = 0.5

_thread_numbers = itertools.count(1)


class ThreadEngine:
    """Owns a loop that runs forever in a named daemon thread."""

    name = "thread"
    loop: asyncio.AbstractEventLoop

    def __init__(self, loop_factory: LoopFactory | None, debug: bool | None) -> None:
        self.context = contextvars.copy_context()
        self.blocked_by: str | None = None
        self._responsive = threading.Event()
        self._responsive.set()
        self._closing = False
        self._close_timeout = 0.0
        self._close_problems: list[str] = []
        started = threading.Event()
        startup_errors: list[BaseException] = []
        self.thread = threading.Thread(
            target=self._serve,
            args=(loop_factory, debug, started, startup_errors),
            name=f"arunner-loop-{next(_thread_numbers)}",
            daemon=True,
        )
        self.thread.start()
        started.wait()
        if startup_errors:
            self.thread.join()
            raise startup_errors[0]
        self.thread_id = self.thread.ident

    def _serve(
        self,
        loop_factory: LoopFactory | None,
        debug: bool | None,
        started: threading.Event,
        startup_errors: list[BaseException],
    ) -> None:
        try:
            self.loop, self._executor = new_loop(loop_factory, debug)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            startup_errors.append(exc)
            started.set()
            return
        started.set()
        while not self._closing:
            try:
                self.loop.run_forever()
            except BaseException:  # noqa: BLE001, S112
                # A task let KeyboardInterrupt or SystemExit out (the task
                # holds it and its caller re-raises it), or a forced stop
                # landed between two tasks.  The loop itself is intact: run
                # it again.
                continue
        self._close_problems = finalize_loop(
            self.loop, self._executor, self._close_timeout
        )

    def run(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
        __tracebackhide__ = True
        if _thread.get_ident() == self.thread_id:
            coro.close()
            raise RuntimeError(
                "Runner.run() was called from the runner's own loop thread, "
                "where it would wait for itself forever. Inside a coroutine "
                "running on the runner, write 'await coro' (or "
                "asyncio.create_task(coro)) instead."
            )
        if self.blocked_by is not None and not self._responsive.wait(_RECOVERY_GRACE):
            coro.close()
            raise RuntimeError(
                f"The runner's loop thread is still blocked by {self.blocked_by}, "
                "which ignored two interrupts and could not be stopped; it is "
                "probably stuck in a call Python cannot interrupt (time.sleep, "
                "a socket read, C code). Restart the runner: close() it and "
                "create a new Runner (in IPython: %arun --restart)."
            )
        return _Call(self, coro, context).run()

    def force_stop(self, description: str) -> None:
        """Raise CancelledError inside the loop thread to stop what hogs it.

        Until the loop has processed a callback again, the engine reports
        itself blocked, so that the next ``run`` fails with an explanation
        instead of hanging.
        """
        self.blocked_by = description
        self._responsive.clear()
        if self.thread_id is not None:
            raise_in_thread(self.thread_id, asyncio.CancelledError)
        self.loop.call_soon_threadsafe(self._unblock)

    def _unblock(self) -> None:
        self.blocked_by = None
        self._responsive.set()

    def check_closable(self) -> None:
        if _thread.get_ident() == self.thread_id:
            raise RuntimeError(
                "Runner.close() cannot be called from the runner's own loop "
                "thread; call it from the thread that created the runner"
            )

    def close(self, timeout: float) -> list[str]:
        self._close_timeout = timeout
        self._closing = True
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout + _JOIN_MARGIN)
        if self.thread.is_alive():
            return [
                f"the loop thread {self.thread.name!r} did not stop within "
                f"{timeout} s (blocked by {self.blocked_by or 'a running callback'}); "
                "it was left behind as a daemon thread"
            ]
        return self._close_problems


class _Call(Generic[T]):
    """One ``run``: the hand-off of a coroutine to the loop thread and back.

    The caller waits on a bare lock that the task's done-callback releases:
    the cheapest cross-thread wake-up there is, and one whose wait can be
    sliced.  ``finished`` is set before the release, so a wait broken by an
    interrupt never blocks again on a lock that was already consumed.
    """

    __slots__ = (
        "_context",
        "_coro",
        "_done",
        "_engine",
        "abandoned",
        "cancel_delivered",
        "finished",
        "task",
    )

    def __init__(
        self,
        engine: ThreadEngine,
        coro: Coroutine[Any, Any, T],
        context: contextvars.Context,
    ) -> None:
        self._engine = engine
        self._coro = coro
        self._context = context
        self._done = _thread.allocate_lock()
        self._done.acquire()
        self.task: asyncio.Task[T] | None = None
        self.finished = False
        self.cancel_delivered = False
        self.abandoned = False

    # -- loop thread ---------------------------------------------------------

    def start(self) -> None:
        task = self._engine.loop.create_task(self._coro, context=self._context)
        self.task = task
        task.add_done_callback(self._finish)
        if self.cancel_delivered:  # the interrupt came before the task existed
            task.cancel()

    def _finish(self, task: asyncio.Task[T]) -> None:
        self.finished = True
        if self.abandoned:
            _report_abandoned(task)
        else:
            self._done.release()

    def _deliver_cancel(self) -> None:
        self.cancel_delivered = True
        if self.task is not None:
            self.task.cancel()

    # -- caller thread -------------------------------------------------------

    def _request_cancel(self) -> None:
        self._engine.loop.call_soon_threadsafe(self._deliver_cancel)

    def run(self) -> T:
        """Hand the coroutine to the loop thread and wait for its outcome.

        The SIGINT handler goes in before the hand-off: the coroutine may
        start (and prove it started) before this thread runs another line.
        """
        __tracebackhide__ = True
        scope = InterruptScope(self._request_cancel)
        with scope:
            try:
                self._engine.loop.call_soon_threadsafe(self.start)
            except RuntimeError:
                self._coro.close()
                raise RuntimeError("Runner is closed") from None
            while not self.finished:
                try:
                    if not self._done.acquire(True, WAIT_SLICE):
                        self._check_alive()
                except KeyboardInterrupt:
                    if not scope.absorb():
                        self._abandon()
                        raise
        task = self.task
        assert task is not None
        if scope.count and task.cancelled() and task.uncancel() == 0:
            try:
                task.result()
            except asyncio.CancelledError as exc:
                raise interrupted_at(exc) from None
        return task.result()

    def _check_alive(self) -> None:
        if self._engine.loop.is_closed() and not self.finished:
            raise RuntimeError("Runner was closed while this run was waiting")

    def _abandon(self) -> None:
        """Leave on a second interrupt without losing the task's outcome."""
        self.abandoned = True
        task = self.task
        if self.finished:
            if task is not None:
                _report_abandoned(task)
            return
        engine = self._engine
        if not self.cancel_delivered or (
            task is not None and asyncio.current_task(engine.loop) is task
        ):
            engine.force_stop(_describe(task))


def _describe(task: asyncio.Task[Any] | None) -> str:
    if task is None:
        return "a callback that never returned"
    return f"task {task.get_name()!r} running {task.get_coro()!r}"


def _report_abandoned(task: asyncio.Task[Any]) -> None:
    """Surface a failure of a task whose caller left on a second interrupt."""
    if task.cancelled():
        return
    exc = task.exception()  # also marks it retrieved: no "never retrieved" log
    if exc is not None and not isinstance(exc, KeyboardInterrupt):
        task.get_loop().call_exception_handler(
            {
                "message": "arunner: a task abandoned after a second interrupt "
                "failed while finishing",
                "exception": exc,
                "task": task,
            }
        )

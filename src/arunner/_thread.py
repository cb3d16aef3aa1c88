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

Runs may come from several threads at once.  The first gets the persistent
context; one that starts while it is in progress gets its own copy, so two
callers never see each other's ContextVar changes (or each other's cell
routing) mid-run.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import contextvars
import itertools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from arunner._interrupt import WAIT_SLICE, InterruptScope, raise_in_thread
from arunner._loop import (
    Closing,
    LoopFactory,
    ShouldAbandon,
    finalize_loop,
    join_closing,
    never_abandon,
    new_loop,
)
from arunner._tasks import describe_task, user_frames
from arunner._traceback import ended_at, interrupted_at, traceback_through
from arunner._wakeup import Doorbell, doorbell_of_this_thread

__all__ = ["ThreadEngine"]

T = TypeVar("T")

#: After a forced stop, the next ``run`` waits this long for the loop thread
#: to recover before it reports the runner as blocked.
_RECOVERY_GRACE = 1.0

#: Extra time close() grants the worker beyond the shutdown timeout, for the
#: steps that are not bounded themselves (stopping the loop, closing it).
_JOIN_MARGIN = 0.5

_thread_numbers = itertools.count(1)

#: What a run waiting in one thread raises when another thread closes the
#: runner: its main task was cancelled (its cleanup ran) or never finished.
CLOSED_WHILE_WAITING = "Runner was closed while this run was waiting"


class ThreadEngine:
    """Owns a loop that runs forever in a named daemon thread."""

    name = "thread"
    loop: asyncio.AbstractEventLoop

    def __init__(self, loop_factory: LoopFactory | None, debug: bool | None) -> None:
        self.context = contextvars.copy_context()
        #: whether a run's main task runs in ``context`` now (loop thread only)
        self.context_in_use = False
        #: called in the waiting caller's thread at every wait slice, e.g. to
        #: handle a kernel's widget messages while a cell waits; one with a
        #: ``fileno()`` also ends the slice when that is readable (see Runner)
        self.while_waiting: Callable[[], None] | None = None
        self.blocked_by: str | None = None
        self._responsive = threading.Event()
        self._responsive.set()
        #: whether close() has begun: the loop thread then closes the loop
        self.closing_started = False
        self._close_timeout = 0.0
        #: filled in by the loop thread as it closes the loop
        self.closing = Closing()
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
        while not self.closing_started:
            try:
                self.loop.run_forever()
            except BaseException:  # noqa: BLE001, S112
                # A task let KeyboardInterrupt or SystemExit out (the task
                # holds it and its caller re-raises it), or a forced stop
                # landed between two tasks.  The loop itself is intact: run
                # it again.
                continue
        finalize_loop(
            self.loop, self._executor, self._close_timeout, self.closing, never_abandon
        )

    def in_runner(self) -> bool:
        """Whether the caller is code on the loop thread (a task, a callback)."""
        return _thread.get_ident() == self.thread_id

    def run(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
        __tracebackhide__ = True
        if _thread.get_ident() == self.thread_id:
            coro.close()
            raise RuntimeError(
                "Runner.run() cannot be called from a running event loop: this "
                "is the runner's own loop thread, where it would wait for itself "
                "forever. Inside a coroutine running on the runner, write "
                "'await coro' (or asyncio.create_task(coro)) instead."
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

    def close(self, timeout: float, should_abandon: ShouldAbandon) -> Closing:
        """Stop the loop thread, which then closes the loop, and wait for it.

        May be called again after it returned with the thread still closing
        (the exit hook does): it then waits once more.
        """
        if not self.closing_started:
            self._close_timeout = timeout
            self.closing_started = True
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self.loop.call_soon_threadsafe(self.loop.stop)
        waiting = Closing()
        if join_closing(self.thread, timeout + _JOIN_MARGIN, waiting, should_abandon):
            return self.closing
        # The loop thread is still at it: report what is known so far, from
        # copies, since that thread goes on writing to its own record.
        pending = list(self.closing.pending)
        waiting.cancelled = list(self.closing.cancelled)
        waiting.pending = pending
        waiting.left_running = True
        if waiting.abandoned:
            left = ", ".join(map(repr, pending)) or "none yet"
            waiting.problems.append(
                "closing was abandoned after a second interrupt; tasks whose "
                f"cleanup had not finished: {left}. The loop thread "
                f"{self.thread.name!r} finishes closing in the background."
            )
        else:
            waiting.problems.append(
                f"the loop thread {self.thread.name!r} did not stop within "
                f"{timeout} s (blocked by {self.blocked_by or 'a running callback'}); "
                "it was left behind as a daemon thread, and closing is retried "
                "at interpreter exit"
            )
        return waiting


class _Call(Generic[T]):
    """One ``run``: the hand-off of a coroutine to the loop thread and back.

    The caller waits on a bare lock that the task's done-callback releases:
    the cheapest cross-thread wake-up there is, and one whose wait can be
    sliced.  ``finished`` is set before the release, so a wait broken by an
    interrupt never blocks again on a lock that was already consumed.  A
    wait hook with a file descriptor to watch makes the caller wait on a
    :class:`Doorbell` instead, which the done-callback rings.
    """

    __slots__ = (
        "_context",
        "_coro",
        "_done",
        "_engine",
        "_owns_context",
        "abandoned",
        "bell",
        "cancel_delivered",
        "cancel_took",
        "finished",
        "hook_due",
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
        self._owns_context = False
        self.task: asyncio.Task[T] | None = None
        self.finished = False
        self.cancel_delivered = False
        #: whether the interrupt's cancel() reached a task that was not done
        self.cancel_took = False
        self.abandoned = False
        #: rung when the run ends, if the caller waits on one (caller's thread)
        self.bell: Doorbell | None = None
        #: whether the wait hook has work: at first, and once its file
        #: descriptor was readable (caller's thread)
        self.hook_due = False

    # -- loop thread ---------------------------------------------------------

    def start(self) -> None:
        engine = self._engine
        context = self._context
        shared = context is engine.context and engine.context_in_use
        if shared:  # another run is in progress in it: this one gets a copy
            context = context.copy()
        task = engine.loop.create_task(self._coro, context=context)
        if context is engine.context:
            engine.context_in_use = self._owns_context = True
        self.task = task
        task.add_done_callback(self._finish)
        if self.cancel_delivered:  # the interrupt came before the task existed
            self.cancel_took = task.cancel()

    def _finish(self, task: asyncio.Task[T]) -> None:
        if self._owns_context:
            self._engine.context_in_use = False
        self.finished = True
        if self.abandoned:
            _report_abandoned(task)
        else:
            self._done.release()
            if (bell := self.bell) is not None:
                bell.ring()

    def _leave_context(self) -> None:
        """Free the flag of the persistent context an abandoned run held."""
        if self._owns_context and not self.finished:
            self._engine.context_in_use = self._owns_context = False

    def _deliver_cancel(self) -> None:
        self.cancel_delivered = True
        if self.task is not None:
            self.cancel_took = self.task.cancel()

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
                    self._wait_a_slice()
                except KeyboardInterrupt:
                    if not scope.absorb():
                        raise self._abandon() from None
        task = self.task
        assert task is not None
        if task.cancelled():
            try:
                task.result()
            except asyncio.CancelledError as exc:
                instead = self._instead_of(task, exc)
                if instead is not None:
                    raise instead from None
        return task.result()

    def _instead_of(
        self, task: asyncio.Task[T], cancelled: asyncio.CancelledError
    ) -> BaseException | None:
        """What a cancelled run raises instead of ``cancelled``, if anything,
        pointing where its code stopped.

        As asyncio.Runner: KeyboardInterrupt if the interrupt's cancellation
        is the only one (user code may cancel it too; a task factory's
        tasks may lack uncancel()).  A close() from another thread cancels
        the run too: it says so, rather than a bare CancelledError.
        """
        uncancel = getattr(task, "uncancel", None)
        if self.cancel_took and uncancel is not None and uncancel() == 0:
            return interrupted_at(cancelled)
        if self._engine.closing_started:
            closed = RuntimeError(CLOSED_WHILE_WAITING)
            return closed.with_traceback(interrupted_at(cancelled).__traceback__)
        return None

    def _wait_a_slice(self) -> None:
        """Wait up to a slice for the run to end, doing the hook's work."""
        hook = self._engine.while_waiting
        watch: Callable[[], int | None] | None = getattr(hook, "fileno", None)
        if hook is None or watch is None:
            if not self._done.acquire(True, WAIT_SLICE):
                self._check_alive()
                if hook is not None:
                    hook()
            return
        if self.bell is None:
            self.bell = doorbell_of_this_thread()  # the run's end rings it now
            self.hook_due = True  # for what has arrived before the wait
            if self.finished:
                return
        if self.hook_due:
            hook()
            self.hook_due = False  # not if it raised: it may have left work
        if not self.finished:
            watched = watch()
            readable = self.bell.wait(watched, WAIT_SLICE)
            self.hook_due = watched is None or readable
        self._check_alive()

    def _check_alive(self) -> None:
        if self._engine.loop.is_closed() and not self.finished:
            raise RuntimeError(CLOSED_WHILE_WAITING)

    def _abandon(self) -> KeyboardInterrupt:
        """Leave on a second interrupt without losing the task's outcome.

        Returns the KeyboardInterrupt to raise: its traceback shows where
        the user's code was in the loop thread, not this thread's wait.
        """
        self.abandoned = True
        task = self.task
        interrupt = KeyboardInterrupt()
        if task is not None:
            interrupt = interrupt.with_traceback(
                ended_at(task)
                if task.done()
                else traceback_through(user_frames(task, self._engine.thread_id))
            )
        if self.finished:
            if task is not None:
                _report_abandoned(task)
            return interrupt
        engine = self._engine
        if task is not None and self._owns_context:
            # It keeps the persistent context it holds; the runner goes on
            # in a copy, so that later runs share one context again instead
            # of each getting a copy of its own.  Swapped here, before this
            # thread's next run reads it; the flag is the loop thread's.
            engine.context = engine.context.copy()
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                engine.loop.call_soon_threadsafe(self._leave_context)
        if not self.cancel_delivered or (
            task is not None and asyncio.current_task(engine.loop) is task
        ):
            engine.force_stop(
                "a callback that never returned"
                if task is None
                else describe_task(task, engine.thread_id)
            )
        return interrupt


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

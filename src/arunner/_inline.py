"""The inline engine: the loop runs in the calling thread, as in asyncio.Runner.

Each ``run`` drives the loop with ``run_until_complete`` until the main task
is done; between runs the loop is idle, so background tasks progress only
while some ``run`` is in progress.  This is the engine for scripts and
terminal IPython, where no loop is already running in the caller's thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from arunner._interrupt import InterruptScope
from arunner._loop import (
    Closing,
    LoopFactory,
    ShouldAbandon,
    finalize_loop,
    join_closing,
    never_abandon,
    new_loop,
)
from arunner._sigwake import stop_watching
from arunner._traceback import interrupted_at, without_asyncio_frames

__all__ = ["BUSY_ERROR", "RUNNING_LOOP_ERROR", "InlineEngine"]

T = TypeVar("T")

RUNNING_LOOP_ERROR = (
    "Runner.run() cannot be called from a running event loop. "
    "Use Runner(mode='thread') (or the default mode='auto' on first use) to "
    "run coroutines on a dedicated loop thread instead."
)

BUSY_ERROR = (
    "This event loop is already running: another thread is inside a run of "
    "this inline runner, and a loop can be driven by one thread at a time. "
    "From code that the runner itself runs (a thread started by asyncio."
    "to_thread, say), hand work back with asyncio.run_coroutine_threadsafe("
    "coro, runner.get_loop()); or use Runner(mode='thread'), whose loop "
    "accepts runs from every thread."
)


class InlineEngine:
    """Owns a loop that is driven by whichever thread calls ``run``."""

    name = "inline"

    def __init__(self, loop_factory: LoopFactory | None, debug: bool | None) -> None:
        loop, self._executor = new_loop(loop_factory, debug)
        self._adopt(loop)

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.context = contextvars.copy_context()
        # One thread drives the loop at a time.  A run from another thread
        # while it does fails at once rather than waiting, because the run in
        # progress may itself be waiting for that thread (asyncio.to_thread).
        # Re-entrant for the nest engine, whose runs nest in one thread.
        self._turn = threading.RLock()
        #: the thread inside a run, None between runs
        self._driver: int | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """No dedicated thread: the loop runs in the caller's thread."""
        return None

    def in_runner(self) -> bool:
        """Whether the caller is code that a run of this engine is running."""
        return self._driver == threading.get_ident()

    def run(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
        __tracebackhide__ = True
        if asyncio._get_running_loop() is not None:
            coro.close()
            raise RuntimeError(RUNNING_LOOP_ERROR)
        return self._drive(coro, context)

    def _drive(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
        """Run ``coro`` as the main task from this thread, as asyncio.Runner does.

        The first SIGINT cancels the main task and, once it has finished, its
        ``run_until_complete`` ends and ``KeyboardInterrupt`` is raised; the
        second raises ``KeyboardInterrupt`` wherever the thread is.  The
        handler goes in before the turn is taken, so that no interrupt can
        land between taking the turn and the ``try`` that gives it back.
        """
        __tracebackhide__ = True
        loop = self.loop
        created: list[asyncio.Task[T]] = []

        def cancel_main_task() -> None:
            if not created:
                return  # not created yet: it is cancelled as soon as it is
            if created[0].done():
                raise KeyboardInterrupt
            created[0].cancel()
            # Wake the loop if it sleeps in select() with a long timeout.
            loop.call_soon_threadsafe(_wake)

        scope = InterruptScope(cancel_main_task, wakes_main_thread=True)
        with scope:
            if not self._turn.acquire(blocking=False):
                coro.close()
                raise RuntimeError(BUSY_ERROR)
            outer_driver, self._driver = self._driver, threading.get_ident()
            try:
                task = loop.create_task(coro, context=context)
                created.append(task)
                if scope.count:
                    task.cancel()
                return loop.run_until_complete(task)
            except asyncio.CancelledError as exc:
                # asyncio's own test: a task factory's tasks may lack uncancel()
                uncancel = getattr(created[0], "uncancel", None) if created else None
                if scope.count and uncancel is not None and uncancel() == 0:
                    raise interrupted_at(exc) from None
                raise
            except BaseException as exc:  # noqa: BLE001 - re-raised as it is
                tb = without_asyncio_frames(exc.__traceback__)
                raise exc.with_traceback(tb)  # noqa: B904 - the same exception
            finally:
                self._driver = outer_driver
                self._turn.release()

    def check_closable(self) -> None:
        if self.loop.is_running():
            raise RuntimeError(
                "Runner.close() cannot be called while the runner's loop is "
                "running; leave the coroutine first"
            )

    def close(self, timeout: float, should_abandon: ShouldAbandon) -> Closing:
        try:
            return self._finalize(timeout, should_abandon)
        finally:
            stop_watching()  # the thread that runs started: a closed runner leaves none

    def _finalize(self, timeout: float, should_abandon: ShouldAbandon) -> Closing:
        closing = Closing()
        with self._turn:
            if asyncio._get_running_loop() is None:
                finalize_loop(
                    self.loop, self._executor, timeout, closing, should_abandon
                )
                return closing
            # Another loop runs in this thread (an inline runner that a kernel
            # refused): ours is idle, so a helper thread can finalise it.
            helper = threading.Thread(
                target=finalize_loop,
                args=(self.loop, self._executor, timeout, closing, never_abandon),
                name="arunner-close",
            )
            helper.start()
            if not join_closing(helper, timeout, closing, should_abandon):
                closing.left_running = True
            return closing


def _wake() -> None:
    """Does nothing: scheduling it wakes the loop from select()."""

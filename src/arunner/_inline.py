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
from arunner._loop import LoopFactory, finalize_loop, new_loop
from arunner._traceback import interrupted_at, without_asyncio_frames

__all__ = ["RUNNING_LOOP_ERROR", "InlineEngine", "drive"]

T = TypeVar("T")

RUNNING_LOOP_ERROR = (
    "Runner.run() cannot be called from a running event loop. "
    "Use Runner(mode='thread') (or the default mode='auto' on first use) to "
    "run coroutines on a dedicated loop thread instead."
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
        # Runs from several threads take turns: a loop can be driven by only
        # one thread at a time.  Re-entrant so that a coroutine may start
        # background work on its own loop through the Runner.
        self._turn = threading.RLock()

    @property
    def thread(self) -> threading.Thread | None:
        """No dedicated thread: the loop runs in the caller's thread."""
        return None

    def run(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
        __tracebackhide__ = True
        if asyncio._get_running_loop() is not None:
            coro.close()
            raise RuntimeError(RUNNING_LOOP_ERROR)
        with self._turn:
            return drive(self.loop, coro, context)

    def check_closable(self) -> None:
        if self.loop.is_running():
            raise RuntimeError(
                "Runner.close() cannot be called while the runner's loop is "
                "running; leave the coroutine first"
            )

    def close(self, timeout: float) -> list[str]:
        with self._turn:
            if asyncio._get_running_loop() is None:
                return finalize_loop(self.loop, self._executor, timeout)
            # Another loop runs in this thread (an inline runner that a kernel
            # refused): ours is idle, so a helper thread can finalise it.
            problems: list[str] = []
            helper = threading.Thread(
                target=lambda: problems.extend(
                    finalize_loop(self.loop, self._executor, timeout)
                ),
                name="arunner-close",
            )
            helper.start()
            helper.join()
            return problems


def drive(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, T],
    context: contextvars.Context,
) -> T:
    """Run ``coro`` as the main task on ``loop`` from this thread, as asyncio.Runner.

    The first SIGINT cancels the main task and, once it has finished, its
    ``run_until_complete`` ends and ``KeyboardInterrupt`` is raised; the
    second raises ``KeyboardInterrupt`` wherever the thread is.
    """
    __tracebackhide__ = True
    created: list[asyncio.Task[T]] = []

    def cancel_main_task() -> None:
        if not created:
            return  # not created yet: it is cancelled as soon as it is
        if created[0].done():
            raise KeyboardInterrupt
        created[0].cancel()
        # Wake the loop if it sleeps in select() with a long timeout.
        loop.call_soon_threadsafe(_wake)

    scope = InterruptScope(cancel_main_task)
    with scope:  # before the task exists, so no interrupt can slip between
        task = loop.create_task(coro, context=context)
        created.append(task)
        if scope.count:
            task.cancel()
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError as exc:
            if scope.count and task.uncancel() == 0:
                raise interrupted_at(exc) from None
            raise
        except BaseException as exc:  # noqa: BLE001 - re-raised as it is
            tb = without_asyncio_frames(exc.__traceback__)
            raise exc.with_traceback(tb)  # noqa: B904 - the same exception


def _wake() -> None:
    """Does nothing: scheduling it wakes the loop from select()."""

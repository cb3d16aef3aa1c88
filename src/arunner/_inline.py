"""The inline engine: the loop runs in the calling thread, as in asyncio.Runner.

Each ``run`` drives the loop with ``run_until_complete`` until the main task
is done; between runs the loop is idle, so background tasks progress only
while some ``run`` is in progress.  This is the engine for scripts and
terminal IPython, where no loop is already running in the caller's thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from arunner._interrupt import InterruptScope
from arunner._loop import LoopFactory, finalize_loop, new_loop

__all__ = ["RUNNING_LOOP_ERROR", "InlineEngine"]

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
        self.loop, self._executor = new_loop(loop_factory, debug)
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
        loop = self.loop
        with self._turn:
            task = loop.create_task(coro, context=context)

            def cancel_main_task() -> None:
                if task.done():
                    raise KeyboardInterrupt
                task.cancel()
                # Wake the loop if it sleeps in select() with a long timeout.
                loop.call_soon_threadsafe(_wake)

            scope = InterruptScope(cancel_main_task)
            with scope:
                try:
                    return loop.run_until_complete(task)
                except asyncio.CancelledError:
                    if scope.count and task.uncancel() == 0:
                        raise KeyboardInterrupt from None
                    raise
                except BaseException as exc:  # noqa: BLE001 - re-raised as it is
                    tb = _without_asyncio(exc.__traceback__)
                    raise exc.with_traceback(tb)  # noqa: B904 - the same exception

    def close(self, timeout: float) -> list[str]:
        if self.loop.is_running():
            raise RuntimeError(
                "Runner.close() cannot be called while the runner's loop is "
                "running; leave the coroutine first"
            )
        with self._turn:
            return finalize_loop(self.loop, self._executor, timeout)


_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)


def _without_asyncio(tb: TracebackType | None) -> TracebackType | None:
    """The same traceback without asyncio's own frames.

    ``run_until_complete`` re-raises the task's exception from inside
    asyncio; users should see their code, not the loop's plumbing.  Only
    the error path pays for this.
    """
    entries = []
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_ASYNCIO_DIR):
            entries.append(tb)
        tb = tb.tb_next
    relinked = None
    for entry in reversed(entries):
        relinked = TracebackType(
            relinked, entry.tb_frame, entry.tb_lasti, entry.tb_lineno
        )
    return relinked


def _wake() -> None:
    """Does nothing: scheduling it wakes the loop from select()."""

"""The nest engine: the caller's own running loop, made re-entrant by nest-asyncio2.

For code whose objects are bound to the kernel's loop (a client created
in a plain cell, say), ``mode="nest"`` runs coroutines on that very loop
through `nest-asyncio2 <https://pypi.org/project/nest-asyncio2/>`_, the
maintained fork of nest_asyncio that ipykernel moved to.  It is an optional
extra because of what it costs, all documented in the troubleshooting and
nest pages: nest-asyncio2 patches asyncio globally (pure-Python Task and
Future, a re-entrant ``run_until_complete``), cannot patch uvloop, and the
runner neither owns nor closes the loop, so ``close()`` cannot cancel tasks
that belong to the kernel's loop.  Interrupts and the persistent context
follow the Runner contract: the main task is driven exactly as in the
inline engine.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from arunner._inline import InlineEngine
from arunner._loop import Closing, LoopFactory, ShouldAbandon
from arunner._sigwake import stop_watching

__all__ = ["NestEngine"]

T = TypeVar("T")

INSTALL_HINT = "pip install 'ipython-arunner[nest]'"


class NestEngine(InlineEngine):
    """Runs each main task on the loop already running in the caller's thread.

    It drives the main task exactly as the inline engine does; only where
    the loop comes from, and that it is never closed, differ.
    """

    name = "nest"

    def __init__(self, loop_factory: LoopFactory | None, debug: bool | None) -> None:
        if loop_factory is not None:
            raise ValueError(
                "mode='nest' runs on the event loop that is already running, so "
                "loop_factory cannot apply (and nest-asyncio2 cannot patch uvloop); "
                "use mode='auto' or 'thread' for a loop of your own"
            )
        loop = asyncio._get_running_loop()
        if loop is None:
            raise RuntimeError(
                "mode='nest' runs coroutines on the event loop already running in "
                "this thread, and none is running here; use mode='auto'"
            )
        try:
            nest_asyncio2 = importlib.import_module("nest_asyncio2")
        except ImportError:
            raise RuntimeError(
                f"mode='nest' needs the optional nest-asyncio2 package: {INSTALL_HINT}"
            ) from None
        nest_asyncio2.apply(loop)
        if debug is not None:
            loop.set_debug(debug)
        self._adopt(loop)

    def run(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
        __tracebackhide__ = True
        running = asyncio._get_running_loop()
        if running is not None and running is not self.loop:
            coro.close()
            raise RuntimeError(
                "this nest-mode runner belongs to another thread's event loop; "
                "use it from the thread that first used it"
            )
        return self._drive(coro, context)

    def check_closable(self) -> None:
        """Always closable: closing leaves the borrowed loop alone."""

    def close(self, timeout: float, should_abandon: ShouldAbandon) -> Closing:
        """Forget the loop: it belongs to its owner, who closes it.  The
        signal watcher that runs started stops (see :class:`InlineEngine`)."""
        stop_watching()
        return Closing()

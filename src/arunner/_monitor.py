"""The live monitor: a task table in a cell's output that keeps itself current.

``%arun --monitor`` shows the table once, under a display id, and starts a
task on the runner that takes a snapshot about once a second and replaces
the display (``publish``, the display handle's ``update`` in a kernel)
while there are live tasks, so that their ages and the "updated" time
advance, and once more when the last one is gone.  So a kernel without
tasks sends nothing, and the user sees their tasks come, age, move on and
go while working in other cells.  The task is started
through ``in_cell`` with the monitor cell's route, so in ipykernel 7 the
updates are addressed to that cell; frontends update a display id
wherever it is shown.

The monitor's task is arunner's own: it is never listed, and ``--cancel
all`` spares it.  Closing the runner cancels it like any task, which stops
the monitor; so does ``stop()``, any number of times.  Nothing here knows
about IPython: the magic passes the display's update function in.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

from arunner._cell import in_cell
from arunner._origins import cell_label
from arunner._tasks import CellOf, TaskInfo, TaskTable, mark_own, snapshot
from arunner.runner import BackgroundTask, Runner

__all__ = ["Monitor"]

#: Seconds between two looks at the tasks.
INTERVAL = 1.0

#: Rows the live view shows; the rest are counted.  A live view is sent to
#: the frontend whole at every refresh, so it stays short.
ROWS = 100

#: Seconds ``stop()`` waits for the monitor's last update.
_STOP_WAIT = 2.0

Publish = Callable[[TaskTable], None]


class Monitor:
    """The live task table of one cell, on one runner."""

    def __init__(self, runner: Runner, cell: int, cell_of: CellOf | None) -> None:
        self._runner = runner
        self._where = cell_label(cell)
        self._cell_of = cell_of
        self._tasks: list[TaskInfo] = []
        self._publish: Publish | None = None
        self._handle: BackgroundTask[object] | None = None

    @property
    def running(self) -> bool:
        return self._handle is not None and not self._handle.done()

    def view(self) -> TaskTable:
        """The table as it is now, to show before the monitor starts."""
        self._tasks = self._runner.call(self._look)
        return self._table(live=True)

    def start(self, publish: Publish, route: Callable[[], None] | None) -> None:
        """Keep the view current through ``publish``, from a task on the runner.

        ``route`` routes the task's output to the monitor's cell.
        """
        self._publish = publish
        watch = in_cell(self._watch(), route, None)
        try:
            task = self._runner.call(functools.partial(_start_own, watch))
        except BaseException:
            watch.close()  # never started: no "never awaited" warning later
            raise
        self._handle = BackgroundTask(self._runner, task)

    def refresh(self) -> bool:
        """Look at the tasks once; publish the table if it has live tasks,
        whose ages have changed, or had some at the last look.

        Returns whether it published.  Call it on the loop's own thread.
        """
        had_tasks = bool(self._tasks)
        self._tasks = self._look()
        if not (had_tasks or self._tasks) or self._publish is None:
            return False
        self._publish(self._table(live=True))
        return True

    def stop(self) -> bool:
        """Stop the live view; False if it was not running.  Idempotent.

        Waits (briefly) for the last update, which says it stopped, unless
        called from code on the runner, which cannot wait for the loop.
        """
        handle, self._handle = self._handle, None
        if handle is None or handle.done():
            return False
        handle.cancel()
        if not self._runner.in_runner():
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                handle.result(_STOP_WAIT)
        return True

    # -- internals ------------------------------------------------------------

    def _look(self) -> list[TaskInfo]:
        """The tasks now, located as far as the table shows them (loop thread)."""
        return snapshot(self._cell_of, located=ROWS)

    def _table(self, *, live: bool) -> TaskTable:
        moment = time.strftime("%H:%M:%S")
        caption = (
            f"live task monitor of {self._where}, updated {moment}; "
            "%arun --monitor off stops it"
            if live
            else f"task monitor of {self._where} stopped at {moment}; "
            "the table shows the tasks then"
        )
        return TaskTable(self._tasks, caption=caption, limit=ROWS)

    async def _watch(self) -> None:
        try:
            while True:
                await asyncio.sleep(INTERVAL)
                self.refresh()
        finally:
            # The last look, so that the table left behind is not up to a
            # second old.  At kernel shutdown the frontend may be gone
            # already; the cleanup of the other tasks must not suffer.
            with contextlib.suppress(Exception):
                self._tasks = self._look()
                if self._publish is not None:
                    self._publish(self._table(live=False))


def _start_own(coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]:
    """Start the monitor's task, marked as arunner's own before it can be seen."""
    mark_own(coro)
    return asyncio.get_running_loop().create_task(coro, name="arunner-monitor")

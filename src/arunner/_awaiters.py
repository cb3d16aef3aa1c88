"""Who awaits whom: for each task, the task that is waiting for it.

The task table nests a task under the one that waits for it: a task
awaited directly, the children of ``asyncio.gather`` (nested gathers too),
the members of a ``TaskGroup``.  Python 3.14 records these links itself
and ``asyncio.capture_call_graph`` reads them.  Before 3.14 the link is
where asyncio leaves it: a task waiting for a future is one of that
future's done callbacks (``task_wakeup``, bound to the waiting task); a
TaskGroup member has its group's ``_on_task_done``; and ``gather``,
``wait`` and ``shield`` put a callback on each child that completes an
outer future, which the waiting task awaits, so that outer future's own
callbacks lead on to it.

Call it on the loop's own thread, like the rest of the snapshot.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["awaiter"]

#: How many futures between a task and the task awaiting it are followed
#: (a gather in a gather in a shield is three).
_MAX_HOPS = 8

_capture_call_graph: Callable[..., Any] | None = getattr(
    asyncio, "capture_call_graph", None
)


def awaiter(task: asyncio.Task[Any]) -> asyncio.Task[Any] | None:
    """The task that waits for ``task`` to finish, if one does."""
    if _capture_call_graph is not None:
        return _first_task(_capture_call_graph(task, limit=0).awaited_by)
    return _from_callbacks(task, _MAX_HOPS)


def _first_task(graphs: tuple[Any, ...]) -> asyncio.Task[Any] | None:
    """The nearest task among the awaiters that 3.14's call graph lists."""
    pending = list(graphs)
    while pending:
        graph = pending.pop(0)
        if isinstance(graph.future, asyncio.Task):
            return graph.future
        pending.extend(graph.awaited_by)
    return None


def _from_callbacks(future: asyncio.Future[Any], hops: int) -> asyncio.Task[Any] | None:
    for callback, _context in getattr(future, "_callbacks", None) or ():
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, asyncio.Task):  # it awaits this future itself
            return owner
        if isinstance(owner, asyncio.TaskGroup):
            parent: asyncio.Task[Any] | None = getattr(owner, "_parent_task", None)
            return parent
        if hops:
            for outer in _futures_in(callback):
                if outer is not future:
                    found = _from_callbacks(outer, hops - 1)
                    if found is not None:
                        return found
    return None


def _futures_in(callback: Any) -> Iterator[asyncio.Future[Any]]:
    """The futures a done callback completes: those its closure or partial holds."""
    if isinstance(callback, functools.partial):
        values: list[object] = [*callback.args, *callback.keywords.values()]
        callback = callback.func
    else:
        values = []
    for cell in getattr(callback, "__closure__", None) or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # a cell not filled in yet
            continue
    yield from (value for value in values if isinstance(value, asyncio.Future))

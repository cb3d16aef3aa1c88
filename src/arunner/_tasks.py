"""What the runner's tasks are doing: a snapshot with ages and suspension points.

asyncio does not record when a task was created, so the runner's loop gets a
small task factory that notes it (unless the loop already has a factory of
its own, which we leave alone).  The snapshot must be taken on the loop's
own thread; rendering it is plain text for terminals and an HTML table for
notebooks, both without importing IPython.
"""

from __future__ import annotations

import asyncio
import html
import sys
import time
import weakref
from collections.abc import Coroutine, Generator, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from arunner._traceback import is_plumbing

__all__ = [
    "TaskInfo",
    "TaskTable",
    "cancel_tasks",
    "describe_task",
    "install_task_clock",
    "snapshot",
    "user_frames",
]

_born: weakref.WeakKeyDictionary[asyncio.Task[Any], float] = weakref.WeakKeyDictionary()


def install_task_clock(loop: asyncio.AbstractEventLoop) -> None:
    """Record each new task's creation time, for the ages in the task table."""
    if loop.get_task_factory() is not None:
        return

    def timed_task_factory(
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        **kwargs: Any,
    ) -> asyncio.Task[Any]:
        task = _Task(coro, loop=loop, **kwargs)
        _born[task] = time.monotonic()
        return task

    loop.set_task_factory(timed_task_factory)


class _Task(asyncio.Task):  # type: ignore[type-arg]
    """asyncio's Task, keeping its default name when given none.

    With a task factory set, CPython 3.13.0's ``loop.create_task`` calls
    ``task.set_name(None)`` and every unnamed task would be called "None".
    """

    __slots__ = ()

    def set_name(self, value: object) -> None:
        if value is not None:
            super().set_name(value)


@dataclass(frozen=True)
class TaskInfo:
    """One live task: its name, state, age in seconds and where it waits."""

    name: str
    state: str
    age: float | None
    where: str


def snapshot() -> list[TaskInfo]:
    """List the running loop's other tasks, oldest first.

    Call it on the loop's own thread (``Runner.call_soon`` does that).
    """
    me = asyncio.current_task()
    now = time.monotonic()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    infos = [
        TaskInfo(
            name=task.get_name(),
            state=_state(task),
            age=None if task not in _born else now - _born[task],
            where=_suspended_at(task),
        )
        for task in tasks
    ]
    return sorted(infos, key=lambda i: -1.0 if i.age is None else -i.age)


def cancel_tasks(name: str) -> list[str]:
    """Cancel the loop's tasks called ``name`` (or "all"); return their names.

    Call it on the loop's own thread.  The caller's own task is spared.
    """
    me = asyncio.current_task()
    chosen = [
        t
        for t in asyncio.all_tasks()
        if t is not me and (name == "all" or t.get_name() == name)
    ]
    for task in chosen:
        task.cancel()
    return sorted(t.get_name() for t in chosen)


def describe_task(task: asyncio.Task[Any], thread_id: int | None = None) -> str:
    """Name a task by the user's code it runs: "task 'poll' at poll (f.py:3)".

    ``thread_id`` is the loop's thread, to look into when the task is the
    one running there (a coroutine that runs has no await chain to follow).
    """
    frames = user_frames(task, thread_id)
    if not frames:
        return f"task {task.get_name()!r}"
    code = frames[-1].f_code
    where = f"{code.co_name} ({code.co_filename}:{frames[-1].f_lineno})"
    return f"task {task.get_name()!r} at {where}"


def user_frames(
    task: asyncio.Task[Any], thread_id: int | None = None
) -> list[FrameType]:
    """The frames of the user's code that the task is in, outermost first.

    A suspended task's frames are its await chain.  A task that is running
    right now in the loop thread ``thread_id`` (a tight loop, a blocking
    call) is where that thread's stack is.
    """
    frames = _await_chain(task.get_coro())
    stack = (
        sys._current_frames().get(thread_id)
        if thread_id is not None and asyncio.current_task(task.get_loop()) is task
        else None
    )
    if stack is not None:
        # From the task's own coroutine inwards: the loop and the thread's
        # bootstrap below it are not the task's.
        top = getattr(task.get_coro(), "cr_frame", None)
        frames = []
        while stack is not None:
            frames.append(stack)
            if stack is top:
                break
            stack = stack.f_back
        frames.reverse()
    return [frame for frame in frames if not is_plumbing(frame.f_code.co_filename)]


def _state(task: asyncio.Task[Any]) -> str:
    if task.done():
        return "done"
    return "cancelling" if task.cancelling() else "pending"


def _suspended_at(task: asyncio.Task[Any]) -> str:
    """Where the task waits: the innermost frame of its ``await`` chain that
    is the user's (``sleep`` in asyncio's tasks.py says nothing useful)."""
    frames = _await_chain(task.get_coro())
    if not frames:
        return "-"
    frame = next(
        (f for f in reversed(frames) if not is_plumbing(f.f_code.co_filename)),
        frames[-1],
    )
    code = frame.f_code
    return f"{code.co_name} ({code.co_filename}:{frame.f_lineno})"


def _await_chain(awaitable: object) -> list[FrameType]:
    """The frames of a coroutine and of what it awaits, outermost first."""
    frames: list[FrameType] = []
    while awaitable is not None and len(frames) < 100:
        frame = getattr(awaitable, "cr_frame", None) or getattr(
            awaitable, "gi_frame", None
        )
        if frame is None:
            break
        frames.append(frame)
        awaitable = getattr(awaitable, "cr_await", None) or getattr(
            awaitable, "gi_yieldfrom", None
        )
    return frames


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


class TaskTable:
    """The task listing shown by ``%arun --tasks``: text or an HTML table."""

    _columns = ("name", "state", "age", "suspended at")

    def __init__(self, tasks: Iterable[TaskInfo]) -> None:
        self.tasks = list(tasks)

    def _rows(self) -> list[tuple[str, str, str, str]]:
        return [(t.name, t.state, _age(t.age), t.where) for t in self.tasks]

    def __len__(self) -> int:
        return len(self.tasks)

    def __str__(self) -> str:
        if not self.tasks:
            return "no live tasks"
        rows = [self._columns, *self._rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=False)
            )
            + "  "
            + row[3]
            for row in rows
        ]
        return "\n".join(line.rstrip() for line in lines)

    __repr__ = __str__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        if not self.tasks:
            return "<p>no live tasks</p>"
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self._columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in self._rows()
        )
        return (
            '<table class="arunner-tasks">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

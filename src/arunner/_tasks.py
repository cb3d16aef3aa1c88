"""What the runner's tasks are doing: a snapshot of the user's tasks, as a table.

asyncio does not record when a task was created, nor keep a C task's
context where Python can read it before 3.12, so the runner's loop gets a
small task factory that notes both (unless the loop already has a factory
of its own, which we leave alone).  The context tells which cell started
the task (``_origins``); ``_awaiters`` tells which task waits for it, and
the table nests it there.  The main task of every ``Runner.run`` is
arunner's own wrapper around the user's code: the runner marks its
coroutine, and the table and ``cancel_tasks`` leave it out.

The snapshot must be taken on the loop's own thread; rendering it is plain
text for terminals and an HTML table for notebooks, both without
importing IPython.  Where a task waits is named by its cell (``In[4], line
3``) through a function the magic passes in, since only the shell knows
which cache file holds which cell.
"""

from __future__ import annotations

import asyncio
import contextvars
import html
import sys
import time
import weakref
from collections.abc import Callable, Coroutine, Generator, Iterable
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

from arunner._awaiters import awaiter
from arunner._origins import cell_label, origin, parse_cell_label
from arunner._traceback import frames_of_threads, in_asyncio, is_plumbing

__all__ = [
    "CellOf",
    "TaskInfo",
    "TaskTable",
    "cancel_tasks",
    "describe_task",
    "install_task_records",
    "is_own",
    "mark_own",
    "named",
    "replace_tasks",
    "snapshot",
    "user_frames",
]

#: Maps a code object's file name to the number of the cell it holds, or
#: None for a real file.
CellOf = Callable[[str], int | None]


#: The coroutines of the runs' main tasks: arunner's wrappers, never listed.
_own: weakref.WeakSet[Coroutine[Any, Any, Any]] = weakref.WeakSet()


def install_task_records(loop: asyncio.AbstractEventLoop) -> None:
    """Record each new task's creation time and context, for the task table."""
    if loop.get_task_factory() is not None:
        return

    def recording_task_factory(
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        *,
        context: contextvars.Context | None = None,
        **kwargs: Any,
    ) -> asyncio.Task[Any]:
        if context is None:
            context = contextvars.copy_context()
        task = _Task(coro, loop=loop, context=context, **kwargs)
        task.arunner_born = time.monotonic()
        task.arunner_context = context
        return task

    loop.set_task_factory(recording_task_factory)


class _Task(asyncio.Task):  # type: ignore[type-arg]
    """asyncio's Task, with its creation time and context kept for the table.

    It also keeps its default name when given none: with a task factory
    set, CPython 3.13.0's ``loop.create_task`` calls ``task.set_name(None)``
    and every unnamed task would be called "None".
    """

    __slots__ = ("arunner_born", "arunner_context")

    arunner_born: float
    arunner_context: contextvars.Context

    def set_name(self, value: object) -> None:
        if value is not None:
            super().set_name(value)


def _born(task: asyncio.Task[Any]) -> float:
    """When the task was created; -1 for a task of another factory (oldest)."""
    born: float = getattr(task, "arunner_born", -1.0)
    return born


def _origin_of(task: asyncio.Task[Any]) -> int | None:
    context: contextvars.Context | None = getattr(task, "arunner_context", None)
    return None if context is None else context.get(origin)


def mark_own(coro: Coroutine[Any, Any, Any]) -> None:
    """Mark ``coro`` as arunner's own: the task that runs it is never listed."""
    _own.add(coro)


def is_own(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` is the main task of a run, which no listing names."""
    return task.get_coro() in _own


@dataclass(frozen=True)
class TaskInfo:
    """One live task: its name, state, age in seconds and where it waits.

    ``origin`` is the number of the cell that started it.  ``depth`` is 0
    for a task that no listed task awaits, 1 for a task that such a task
    awaits, and so on; a snapshot lists each task right after its awaiter.
    """

    name: str
    state: str
    age: float | None
    where: str
    origin: int | None = None
    depth: int = 0


def _user_tasks() -> list[asyncio.Task[Any]]:
    """The running loop's tasks that the user's code started."""
    return [t for t in asyncio.all_tasks() if not is_own(t)]


def snapshot(
    cell_of: CellOf | None = None, *, located: int | None = None
) -> list[TaskInfo]:
    """List the running loop's user tasks, oldest first, each awaited task
    right under the task that awaits it.

    Call it on the loop's own thread (``Runner.call`` does that).
    ``cell_of`` names the cells that code comes from.  Where a task waits,
    the costliest part, is found for the first ``located`` rows only (all
    by default; a live view shows only so many), the rest say "...".
    """
    now = time.monotonic()
    tasks = sorted(_user_tasks(), key=_born)
    listed = set(tasks)
    tops: list[asyncio.Task[Any]] = []
    children: dict[asyncio.Task[Any], list[asyncio.Task[Any]]] = {}
    for task in tasks:  # oldest first, so every list of children is too
        parent = awaiter(task)
        if parent in listed:
            children.setdefault(parent, []).append(task)
        else:
            tops.append(task)
    infos: list[TaskInfo] = []
    placed: set[asyncio.Task[Any]] = set()
    places: dict[tuple[CodeType, int | None], str] = {}  # many tasks wait alike
    # Tasks waiting for each other in a cycle have no top: they come last.
    for top in [*tops, *tasks]:
        stack = [(top, 0)]
        while stack:
            task, depth = stack.pop()
            if task in placed:
                continue
            placed.add(task)
            born = _born(task)
            infos.append(
                TaskInfo(
                    name=task.get_name(),
                    state=_state(task),
                    age=None if born < 0 else now - born,
                    where=(
                        _suspended_at(task, cell_of, places)
                        if located is None or len(infos) < located
                        else "..."
                    ),
                    origin=_origin_of(task),
                    depth=depth,
                )
            )
            stack += [(child, depth + 1) for child in reversed(children.get(task, ()))]
    return infos


def _chosen(target: str) -> Callable[[asyncio.Task[Any]], bool]:
    """Which tasks ``target`` names: "all", a cell ("In[4]") or a task name."""
    if target == "all":
        return lambda task: True
    number = parse_cell_label(target)
    if number is not None:
        return lambda task: _origin_of(task) == number
    return lambda task: task.get_name() == target


def cancel_tasks(target: str) -> list[str]:
    """Cancel the user's tasks that ``target`` names (see ``_chosen``).

    Returns their names.  Call it on the loop's own thread.  The caller's
    own task is spared.
    """
    me = asyncio.current_task()
    chosen = _chosen(target)
    cancelled = [t for t in _user_tasks() if t is not me and chosen(t)]
    for task in cancelled:
        task.cancel()
    return sorted(t.get_name() for t in cancelled)


def named(name: str) -> list[int | None]:
    """The cells that started the live user tasks called ``name``.

    Call it on the loop's own thread.
    """
    return [_origin_of(t) for t in _user_tasks() if t.get_name() == name]


async def replace_tasks(name: str, timeout: float) -> list[str]:
    """Cancel the user's tasks called ``name`` and wait for their cleanup.

    Waits at most ``timeout`` seconds; returns the names of the tasks
    still running then.
    """
    tasks = [t for t in _user_tasks() if t.get_name() == name]
    for task in tasks:
        task.cancel()
    if not tasks:
        return []
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    return sorted(t.get_name() for t in pending)


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
        frames_of_threads().get(thread_id)
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


def _suspended_at(
    task: asyncio.Task[Any],
    cell_of: CellOf | None,
    places: dict[tuple[CodeType, int | None], str],
) -> str:
    """Where the task waits: the innermost frame of its ``await`` chain that
    is the user's (``sleep`` in asyncio's tasks.py says nothing useful), by
    its cell and line where ``cell_of`` knows the file.  A task that runs
    no code of the user's (``%arun -b asyncio.sleep(60)``) is named by the
    function it runs, as the user wrote it: ``asyncio.sleep``.

    ``places`` keeps what each code and line was called, for the tasks of
    one snapshot: a thousand pollers wait at the same line.
    """
    frames = _await_chain(task.get_coro())
    if not frames:
        return "-"
    frame = next(
        (f for f in reversed(frames) if not is_plumbing(f.f_code.co_filename)),
        None,
    )
    if frame is None:  # arunner's wrapper, if any, awaits what the user wrote
        return _public_name(
            next((f for f in frames if in_asyncio(f.f_code.co_filename)), frames[0])
        )
    key = (frame.f_code, frame.f_lineno)
    if key not in places:
        places[key] = _place(*key, cell_of)
    return places[key]


def _public_name(frame: FrameType) -> str:
    """The name the user calls a plumbing function by: ``asyncio.sleep``
    rather than ``asyncio.tasks.sleep`` when the package exports it."""
    code = frame.f_code
    module = str(frame.f_globals.get("__name__", "?"))
    package = module.partition(".")[0]
    exported = getattr(sys.modules.get(package), code.co_qualname, None)
    if getattr(exported, "__code__", None) is code:
        module = package
    return f"{module}.{code.co_qualname}"


def _place(code: CodeType, line: int | None, cell_of: CellOf | None) -> str:
    """How a task table names a line of code: by its cell, where it has one."""
    cell = None if cell_of is None else cell_of(code.co_filename)
    if cell is None:
        return f"{code.co_name} ({code.co_filename}:{line})"
    place = f"{cell_label(cell)}, line {line}"
    return place if code.co_name == "<module>" else f"{code.co_name} ({place})"


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


#: How the HTML table aligns each column: text left, the ages right.
_ALIGN = {
    "name": "left",
    "state": "left",
    "age": "right",
    "started in": "left",
    "suspended at": "left",
}


class TaskTable:
    """The task listing of ``%arun --tasks`` and the monitor: text or HTML.

    A task awaited by another is indented under it.  ``caption`` says what
    the table is (the monitor says whether it is live); ``limit`` caps the
    rows shown, the rest counted in a last line, so that a live view of a
    thousand tasks stays cheap to send and to read.
    """

    _columns = ("name", "state", "age", "started in", "suspended at")

    def __init__(
        self,
        tasks: Iterable[TaskInfo],
        *,
        caption: str = "",
        limit: int | None = None,
    ) -> None:
        self.tasks = list(tasks)
        self.caption = caption
        self.limit = limit

    def _rows(self, indent: str) -> list[tuple[str, ...]]:
        return [
            (
                f"{indent * (t.depth - 1)}\u2514 {t.name}" if t.depth else t.name,
                t.state,
                _age(t.age),
                "-" if t.origin is None else cell_label(t.origin),
                t.where,
            )
            for t in self.tasks[: self.limit]
        ]

    def _more(self) -> str:
        hidden = len(self.tasks) - len(self.tasks[: self.limit])
        return (
            f"... and {hidden} more (%arun --tasks lists every one)" if hidden else ""
        )

    def __len__(self) -> int:
        return len(self.tasks)

    def __str__(self) -> str:
        lines = [self.caption] if self.caption else []
        if not self.tasks:
            return "\n".join([*lines, "no live tasks"])
        rows = [self._columns, *self._rows("  ")]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:  # the last column, the longest, is not padded
            padded = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
            lines.append("  ".join([*padded, row[-1]]).rstrip())
        return "\n".join([*lines, self._more()]).rstrip()

    __repr__ = __str__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        caption = (
            f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        )
        if not self.tasks:
            lines = (
                [self.caption, "no live tasks"] if self.caption else ["no live tasks"]
            )
            return "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        # Aligned explicitly: JupyterLab's stylesheet right-aligns table cells.
        head = "".join(
            f'<th style="text-align:{_ALIGN[c]}">{html.escape(c)}</th>'
            for c in self._columns
        )
        body = "".join(
            "<tr>"
            + "".join(
                f'<td style="text-align:{_ALIGN[c]}">{html.escape(cell)}</td>'
                for c, cell in zip(self._columns, row, strict=True)
            )
            + "</tr>"
            for row in self._rows("\u00a0\u00a0")
        )
        more = self._more()
        foot = f"<p>{html.escape(more)}</p>" if more else ""
        return (
            f'<table class="arunner-tasks">{caption}'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{foot}"
        )

"""What ``%arun``'s actions do: --tasks, --status, --cancel, --restart, --monitor,
and making room for a named background task (``-b -n NAME [--replace]``).

The magic parses the line and dispatches here; these functions work on the
runner and hand back what to show, as text or as objects with
``_repr_html_`` and ``__str__``.  Nothing here imports IPython: a request
that cannot be done as asked raises :class:`ActionError`, which the magic
shows as IPython's ``UsageError``, and whatever needs the shell (its cell
numbers, its displays, its output route) comes in as plain values and
functions.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

from arunner._monitor import Monitor, Publish
from arunner._origins import cell_label, parse_cell_label
from arunner._tasks import CellOf, TaskTable, cancel_tasks, named, replace_tasks
from arunner.runner import Runner

__all__ = [
    "ActionError",
    "cancel",
    "left_in",
    "make_room",
    "monitor_off",
    "monitor_on",
    "restart",
    "status",
    "task_table",
]


class ActionError(Exception):
    """An action refused as asked; the message says what to write instead."""


def _started(runner: Runner | None) -> Runner | None:
    """The runner if its loop exists: actions never start one just to look."""
    return runner if runner is not None and runner.engine is not None else None


def task_table(runner: Runner | None, cell_of: CellOf | None) -> TaskTable:
    """``--tasks``: the user's live tasks, nested by who awaits whom."""
    runner = _started(runner)
    return TaskTable([] if runner is None else runner.tasks(cell_of))


def status(runner: Runner | None, mode: str, shutdown_timeout: float) -> str:
    """``--status``: the engine, loop, thread, debug mode and task count."""
    lines = [f"mode:             {mode}"]
    runner = _started(runner)
    if runner is None:
        lines.append("engine:           not started (starts on first use)")
    else:
        loop = runner.get_loop()
        thread = runner.thread
        lines += [
            f"engine:           {runner.engine}",
            f"loop:             {type(loop).__module__}.{type(loop).__qualname__}",
            f"thread:           {thread.name if thread else 'the calling thread'}",
            f"debug:            {loop.get_debug()}",
            f"tasks:            {len(runner.tasks())}",
        ]
    lines.append(f"shutdown timeout: {shutdown_timeout:g} s")
    return "\n".join(lines)


def cancel(runner: Runner | None, target: str) -> str:
    """``--cancel NAME|In[N]|all``: cancel the tasks so named, or that cell's."""
    runner = _started(runner)
    cancelled = (
        [] if runner is None else runner.call(functools.partial(cancel_tasks, target))
    )
    if not cancelled:
        live = [] if runner is None else runner.tasks()
        names = ", ".join(t.name for t in live) or "none"
        if parse_cell_label(target) is not None:
            which = f"no live task was started by {target}"
        elif target.startswith("In["):  # meant as a cell, looked up as a name
            which = (
                f"no live task is called {target!r}, and {target} names no "
                "cell: write a cell as In[N] with its number, e.g. --cancel In[3]"
            )
        else:
            which = f"no live task is called {target!r}"
        raise ActionError(
            f"{which} (live tasks: {names}); see %arun --tasks, or use --cancel all"
        )
    return f"cancelled {len(cancelled)} task(s): {', '.join(cancelled)}"


def _started_by(origins: list[int | None]) -> str:
    cells = sorted({cell_label(n) for n in origins if n is not None})
    return f"started by {', '.join(cells)}" if cells else "not started from a cell"


def make_room(runner: Runner | None, name: str, *, replace: bool) -> None:
    """Before ``-b -n NAME``: refuse a second live task called NAME, or with
    ``replace`` cancel it and wait for its cleanup.

    Re-running a cell that starts a poller would otherwise leave two.  The
    wait is bounded by the runner's ``shutdown_timeout``; a task whose
    cleanup takes longer is left to finish, with a warning.
    """
    runner = _started(runner)
    if runner is None or runner.in_runner():
        return  # nothing runs yet; or %arun is refused there anyway
    origins = runner.call(functools.partial(named, name))
    if not origins:
        return
    if not replace:
        raise ActionError(
            f"a task called {name!r} is still running ({_started_by(origins)}); "
            f"add --replace to cancel it and start this one: %arun -b -n {name} "
            "--replace ..., or pick another name"
        )
    timeout = runner.shutdown_timeout
    left = runner.run(replace_tasks(name, timeout))
    if left:
        warnings.warn(
            f"arunner: the old task {name!r} did not finish its cleanup within "
            f"{timeout:g} s (ARunMagics.shutdown_timeout) and keeps running; "
            "the new one starts beside it",
            RuntimeWarning,
            stacklevel=2,
        )


def left_in(
    runner: Runner | None,
    error: BaseException,
    doing: str,
    *,
    untouched: str = "",
    closed: str = "a fresh runner starts at the next call",
) -> str:
    """Which state a close that ``error`` cut short (in ``doing``) left the runner in.

    The close is all or nothing: either it had not begun, and the runner
    is untouched (still running its tasks), or it finished, the tasks'
    cleanup included.  ``untouched`` and ``closed`` add what else holds.
    """
    how = (
        "interrupted"
        if isinstance(error, KeyboardInterrupt)
        else f"failed ({type(error).__name__}: {error})"
    )
    if runner is not None and runner.closed:
        return (
            f"{how} during {doing}: the old runner is closed (its tasks' cleanup "
            f"had its turn; a warning names any that did not finish); {closed}"
        )
    return f"{how} before {doing} began: the runner is untouched{untouched}"


def restart(runner: Runner | None, close: Callable[[], list[str]]) -> None:
    """``--restart``: ``close()`` the runner (a fresh one starts on next use).

    Prints what happened: that it restarted, or, if the close is interrupted
    or fails, which state the runner was left in (then re-raises).  The
    outcome is printed inside the ``try``, so an interrupt that Python
    delivers just after the close returned is told as well.
    """
    try:
        cancelled = close()
        if cancelled:
            print(
                f"restarted the runner; cancelled {len(cancelled)} pending "
                f"task(s): {', '.join(cancelled)}"
            )
        else:
            print("restarted the runner; no tasks were pending")
    except BaseException as error:
        print(left_in(runner, error, "the restart"))
        raise


#: What ``--monitor`` says where no display can be updated in place.
NO_LIVE_VIEW = (
    "the live monitor needs a notebook (a Jupyter kernel), where it updates "
    "this table in place; here it is shown once: run %arun --tasks again to "
    "look again"
)


def monitor_on(
    previous: Monitor | None,
    runner: Runner,
    *,
    cell: int,
    cell_of: CellOf | None,
    show: Callable[[TaskTable], Publish] | None,
    route: Callable[[], None] | None,
) -> Monitor | None:
    """``--monitor``: show the task table and keep it current.

    ``show`` displays the first table and returns the function that
    replaces it; None where nothing can be replaced (a terminal), and the
    table is printed once.  A monitor already running elsewhere stops: one
    live view at a time.  Returns the new monitor, if one runs.
    """
    if previous is not None:
        previous.stop()
    monitor = Monitor(runner, cell, cell_of)
    view = monitor.view()
    if show is None:
        print(view)
        print(NO_LIVE_VIEW)
        return None
    monitor.start(show(view), route)
    return monitor


def monitor_off(monitor: Monitor | None) -> str:
    """``--monitor off``: stop the live view, if one is running."""
    if monitor is None or not monitor.stop():
        return "no task monitor is running"
    return "task monitor stopped"

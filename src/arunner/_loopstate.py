"""The one module that touches asyncio's private per-thread loop state.

Script parity (:mod:`arunner._script`) runs synchronous code in the
kernel's own thread as if no loop ran there.  asyncio decides that from
two things it keeps per thread, neither of them public:

* the running loop: ``asyncio.events._get_running_loop`` and
  ``_set_running_loop`` (what ``asyncio.run()`` checks for, and what
  ``get_running_loop()`` returns);
* from CPython 3.14, the current task, which it tracks per thread rather
  than per loop: ``asyncio.tasks._swap_current_task``.  Without swapping it
  too, a script's first task fails with "Cannot enter into task ... while
  another task ... is being executed".  Before 3.14 the current task is
  kept per loop, so hiding the loop hides it;
* the event loop policy's current loop for the thread (what
  ``asyncio.get_event_loop()`` returns when no loop runs, and what
  ``set_event_loop`` sets): the per-thread attributes of the policy's
  ``_local``.  The kernel's loop is the current one there too, and gql, or
  ``get_event_loop().run_until_complete()`` in older code, would find it
  running.  A fresh script's main thread has none set, and so does the
  script side at first.

:func:`exchange` puts one such state in place and returns the one it
replaced.  Which names this Python offers is checked once, at import;
:func:`check_supported` says clearly what is missing if a future Python
removes them, instead of failing half-way through a call.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LoopState", "check_supported", "exchange", "running_loop"]

_get_running_loop: Callable[[], asyncio.AbstractEventLoop | None] | None = getattr(
    asyncio.events, "_get_running_loop", None
)
_set_running_loop: Callable[[asyncio.AbstractEventLoop | None], None] | None = getattr(
    asyncio.events, "_set_running_loop", None
)
#: Only needed where the current task is kept per thread.
_TASK_PER_THREAD = sys.version_info >= (3, 14)
_swap_current_task: Callable[[Any, Any], Any] | None = getattr(
    asyncio.tasks, "_swap_current_task", None
)

_MISSING = [
    name
    for name, found, needed in [
        ("asyncio.events._get_running_loop", _get_running_loop, True),
        ("asyncio.events._set_running_loop", _set_running_loop, True),
        ("asyncio.tasks._swap_current_task", _swap_current_task, _TASK_PER_THREAD),
    ]
    if needed and found is None
]


@dataclass(frozen=True)
class LoopState:
    """A thread's running loop, where it is kept per thread its current task,
    and the policy's current loop for it (its thread-local attributes)."""

    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task[Any] | None = None
    policy_local: tuple[tuple[str, Any], ...] = ()

    @property
    def current_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop ``set_event_loop`` left current (or the policy made)."""
        loop = dict(self.policy_local).get("_loop")
        return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


def _policy_local() -> Any:
    """The policy's thread-local state, if this Python's policy keeps one.

    ``_get_event_loop_policy`` first: from 3.14 the public getter warns.
    """
    getter = getattr(asyncio.events, "_get_event_loop_policy", None) or getattr(
        asyncio.events, "get_event_loop_policy", None
    )
    local = None if getter is None else getattr(getter(), "_local", None)
    return local if hasattr(local, "__dict__") else None


def check_supported() -> None:
    """Raise RuntimeError naming what this Python lacks for script parity."""
    if _MISSING:
        version = ".".join(map(str, sys.version_info[:3]))
        raise RuntimeError(
            f"arunner's --sync needs {', '.join(_MISSING)}, which Python {version} "
            "does not have. Run the code in a %%arun cell instead (await the "
            "library's async API), and please report this Python version to "
            "arunner."
        )


def exchange(new: LoopState) -> LoopState:
    """Make ``new`` this thread's loop state; return the state it replaces."""
    assert _get_running_loop is not None, "check_supported() first"
    assert _set_running_loop is not None, "check_supported() first"
    loop = _get_running_loop()
    task = None
    swap = _swap_current_task if _TASK_PER_THREAD else None
    if swap is not None and loop is not None:
        task = swap(loop, None)  # while ``loop`` is still this thread's
    _set_running_loop(new.loop)
    if swap is not None and new.loop is not None and new.task is not None:
        swap(new.loop, new.task)
    local = _policy_local()
    if local is None:
        return LoopState(loop, task)
    attributes = local.__dict__  # this thread's own
    policy_local = tuple(attributes.items())
    attributes.clear()
    attributes.update(new.policy_local)
    return LoopState(loop, task, policy_local)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """This thread's running loop, or None (``asyncio._get_running_loop``)."""
    return None if _get_running_loop is None else _get_running_loop()

"""Creating and finalising the runner's event loop, shared by both engines.

Both engines own one loop for the runner's life.  They differ only in which
thread drives it; creating it (``loop_factory``, ``debug``, our own default
executor) and tearing it down (cancel, async generators, executor, close)
is the same sequence, run by whichever thread owns the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from arunner._tasks import install_task_clock

__all__ = ["LoopFactory", "finalize_loop", "new_loop"]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

#: Every step after the deadline still gets this long, so that a step with
#: nothing to do (no async generators left, say) is not reported as late.
_STEP_GRACE = 0.1

#: How many rounds of "cancel what is left" close() makes: a task's cleanup
#: may start new tasks, which must be cancelled and awaited in turn.
_CANCEL_ROUNDS = 3


def new_loop(
    loop_factory: LoopFactory | None, debug: bool | None
) -> tuple[asyncio.AbstractEventLoop, concurrent.futures.ThreadPoolExecutor]:
    """Build the loop the way asyncio.Runner does, minus the policy calls.

    Unlike asyncio.Runner we never call ``set_event_loop``: the policy API
    is deprecated from Python 3.14 and code inside the runner finds its loop
    with ``get_running_loop``.  The loop gets a default executor of ours so
    that close() can bound its shutdown on every Python version.
    """
    loop = asyncio.new_event_loop() if loop_factory is None else loop_factory()
    if not isinstance(loop, asyncio.AbstractEventLoop):
        raise TypeError(f"loop_factory must return an asyncio event loop, got {loop!r}")
    if debug is not None:
        loop.set_debug(debug)
    install_task_clock(loop)
    executor = concurrent.futures.ThreadPoolExecutor(
        thread_name_prefix="arunner-executor"
    )
    loop.set_default_executor(executor)
    return loop, executor


def finalize_loop(
    loop: asyncio.AbstractEventLoop,
    executor: concurrent.futures.ThreadPoolExecutor,
    timeout: float,
) -> list[str]:
    """Cancel every task, finish async generators, stop the executor, close.

    Runs in the thread that owns ``loop``, with the loop not running.  The
    whole sequence is bounded by ``timeout`` seconds, so a kernel never hangs
    at exit.  Problems are returned as sentences rather than raised or
    warned here, so that the caller of ``close()`` can report them as
    warnings in its own thread.
    """
    deadline = time.monotonic() + timeout
    problems: list[str] = []
    try:
        problems += _cancel_all_tasks(loop, deadline)
        problems += _bounded(
            loop, loop.shutdown_asyncgens(), deadline, "finalising async generators"
        )
        problems += _shutdown_executor(executor, deadline)
    except BaseException as exc:  # noqa: BLE001 - close must always finish
        problems.append(f"closing the loop failed: {exc!r}")
    finally:
        loop.close()
    return problems


def _remaining(deadline: float) -> float:
    return max(_STEP_GRACE, deadline - time.monotonic())


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop, deadline: float) -> list[str]:
    problems: list[str] = []
    pending: set[asyncio.Task[object]] = set()
    for _ in range(_CANCEL_ROUNDS):
        pending = asyncio.all_tasks(loop)
        if not pending:
            break
        for task in pending:
            task.cancel()
        waiter = asyncio.wait(pending, timeout=_remaining(deadline))
        done, pending = loop.run_until_complete(waiter)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                problems.append(
                    f"task {task.get_name()!r} failed while being cancelled: "
                    f"{task.exception()!r}"
                )
        if pending:
            break
    for task in pending:
        # We warn about it ourselves; asyncio's "Task was destroyed but it
        # is pending" at garbage collection would only add noise.
        task._log_destroy_pending = False  # type: ignore[attr-defined]
        problems.append(
            f"task {task.get_name()!r} did not finish its cleanup before the "
            "shutdown timeout and was abandoned"
        )
    return problems


def _bounded(
    loop: asyncio.AbstractEventLoop,
    step: Coroutine[Any, Any, None],
    deadline: float,
    what: str,
) -> list[str]:
    async def bounded_step() -> None:
        await asyncio.wait_for(step, _remaining(deadline))

    try:
        loop.run_until_complete(bounded_step())
    except TimeoutError:
        return [f"{what} did not finish before the shutdown timeout"]
    except Exception as exc:  # noqa: BLE001 - reported to the caller as a warning
        return [f"{what} failed: {exc!r}"]
    return []


def _shutdown_executor(
    executor: concurrent.futures.ThreadPoolExecutor, deadline: float
) -> list[str]:
    """Shut down our default executor, waiting at most until ``deadline``.

    ``loop.shutdown_default_executor`` takes a timeout only from 3.12 and
    warns from inside the loop thread, and at interpreter exit no helper
    thread may be started to wait for it.  So: ask the workers to stop once
    the queued jobs are done, and join them ourselves, within the deadline.
    """
    executor.shutdown(wait=False)
    workers: set[threading.Thread] = getattr(executor, "_threads", set())
    for worker in list(workers):
        worker.join(max(0.0, deadline - time.monotonic()))
    if any(worker.is_alive() for worker in workers):
        executor.shutdown(wait=False, cancel_futures=True)
        return [
            "executor jobs were still running at the shutdown timeout; "
            "the executor was shut down without waiting for them"
        ]
    return []

"""Creating and finalising the runner's event loop, shared by both engines.

Both engines own one loop for the runner's life.  They differ only in which
thread drives it; creating it (``loop_factory``, ``debug``, our own default
executor) and tearing it down (cancel, async generators, executor, close)
is the same sequence, run by whichever thread owns the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from arunner._interrupt import WAIT_SLICE
from arunner._tasks import install_task_records, is_own

__all__ = [
    "Closing",
    "ContextExecutor",
    "LoopFactory",
    "ShouldAbandon",
    "finalize_loop",
    "join_closing",
    "never_abandon",
    "new_loop",
]

T = TypeVar("T")

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
    _check_fresh(loop)
    if debug is not None:
        loop.set_debug(debug)
    install_task_records(loop)
    executor = ContextExecutor(thread_name_prefix="arunner-executor")
    loop.set_default_executor(executor)
    return loop, executor


def _check_fresh(loop: asyncio.AbstractEventLoop) -> None:
    """Refuse a loop that the runner cannot own: closed, or run by another.

    Neither fails by itself: the thread engine's ``run_forever`` would raise
    at once, again and again, spinning a core, and each ``run`` would say
    "Runner is closed" of a runner that is not.
    """
    if loop.is_closed():
        raise ValueError(
            f"loop_factory returned a closed event loop ({loop!r}); it must "
            "return a new loop each time it is called, such as "
            "asyncio.new_event_loop (a factory that hands out one loop object "
            "again hands out a loop that an earlier runner closed)"
        )
    if loop.is_running():
        raise ValueError(
            f"loop_factory returned an event loop that is already running "
            f"({loop!r}); it must return a new loop, such as "
            "asyncio.new_event_loop. To run on the loop already running in "
            "this thread, use mode='nest'."
        )


@dataclass
class Closing:
    """What closing a loop did, for the caller of ``close()`` to report.

    The loop's owner fills it in while it closes; ``pending`` is kept
    current, so that a caller who gives up waiting (a second interrupt)
    can name the tasks whose cleanup had not finished.
    """

    #: the names of the tasks that were still pending and were cancelled
    cancelled: list[str] = field(default_factory=list)
    #: tasks cancelled but not finished yet (current while closing)
    pending: list[str] = field(default_factory=list)
    #: sentences for the caller to warn about
    problems: list[str] = field(default_factory=list)
    #: the first SystemExit or KeyboardInterrupt that a task's cleanup
    #: raised; the other cleanups still ran, and the caller re-raises it
    escaped: BaseException | None = None
    #: whether closing was given up before the cleanup was done
    abandoned: bool = False
    #: whether the thread that closes the loop was still at it when the
    #: caller stopped waiting (the timeout, or a second interrupt)
    left_running: bool = False


#: Decides, for a SystemExit or KeyboardInterrupt that came out of the loop
#: while it ran the cleanup, whether to give up (True: a second interrupt)
#: or to keep running the other tasks' cleanup (False).
ShouldAbandon = Callable[[BaseException], bool]


def never_abandon(exc: BaseException) -> bool:
    """For a thread no interrupt reaches (the loop thread): never give up."""
    return False


def join_closing(
    thread: threading.Thread,
    timeout: float,
    closing: Closing,
    should_abandon: ShouldAbandon,
) -> bool:
    """Wait up to ``timeout`` s for ``thread`` to finish closing a loop.

    Waits in slices, so that an interrupt is seen where it only sets a
    flag.  Returns False when the caller stops waiting: at the timeout, or
    when ``should_abandon`` says a KeyboardInterrupt was the second one.
    """
    deadline = time.monotonic() + timeout
    while thread.is_alive():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            thread.join(min(WAIT_SLICE, remaining))
        except KeyboardInterrupt as exc:
            if should_abandon(exc):
                closing.abandoned = True
                return False
    return True


def finalize_loop(
    loop: asyncio.AbstractEventLoop,
    executor: concurrent.futures.ThreadPoolExecutor,
    timeout: float,
    closing: Closing,
    should_abandon: ShouldAbandon,
) -> None:
    """Cancel every task, finish async generators, stop the executor, close.

    Runs in the thread that owns ``loop``, with the loop not running.  The
    whole sequence is bounded by ``timeout`` seconds, so a kernel never hangs
    at exit.  Problems go into ``closing`` rather than being raised or
    warned here, so that the caller of ``close()`` can report them in its
    own thread; a SystemExit or KeyboardInterrupt from a task's cleanup is
    kept there too, after the other tasks' cleanup has had its turn.
    """
    finalizer = _Finalizer(loop, time.monotonic() + timeout, closing, should_abandon)
    try:
        if finalizer.cancel_all_tasks():
            finalizer.bounded(loop.shutdown_asyncgens(), "finalising async generators")
        closing.problems += _shutdown_executor(
            executor, finalizer.deadline, wait=not closing.abandoned
        )
    except Exception as exc:  # noqa: BLE001 - close must always finish
        closing.problems.append(f"closing the loop failed: {exc!r}")
    finally:
        loop.close()


def _names(tasks: Iterable[asyncio.Task[Any]]) -> list[str]:
    """The names of the user's tasks among ``tasks``, sorted, to report.

    A run's main task is arunner's wrapper around the user's code: no task
    table lists it, and the waiting run reports its own end.
    """
    return sorted(task.get_name() for task in tasks if not is_own(task))


def _remaining(deadline: float) -> float:
    return max(_STEP_GRACE, deadline - time.monotonic())


class _Finalizer:
    """The steps of closing one loop, sharing its deadline and its record."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deadline: float,
        closing: Closing,
        should_abandon: ShouldAbandon,
    ) -> None:
        self.loop = loop
        self.deadline = deadline
        self.closing = closing
        self.should_abandon = should_abandon

    def drive(self, waiter: asyncio.Future[Any]) -> bool:
        """Run the loop until ``waiter`` is done; False if closing was abandoned.

        A task whose cleanup raises SystemExit or KeyboardInterrupt lets it
        out of the loop (asyncio re-raises both); so does our SIGINT handler
        on a second interrupt.  The first kind is kept and the loop is run
        again, so that the other tasks' cleanup still runs.
        """
        while True:
            try:
                self.loop.run_until_complete(waiter)
            except (KeyboardInterrupt, SystemExit) as exc:
                if self.should_abandon(exc):
                    self.closing.abandoned = True
                    return False
                if self.closing.escaped is None:
                    self.closing.escaped = exc
                continue
            return True

    def cancel_all_tasks(self) -> bool:
        """Cancel the loop's tasks and run their cleanup; False if abandoned.

        Several rounds, because a task's cleanup may start new tasks.  A
        task that fails while being cancelled goes to the loop's exception
        handler, as in asyncio.Runner, so that a handler of the user's sees
        it.
        """
        loop, closing = self.loop, self.closing
        pending: set[asyncio.Task[Any]] = set()
        for _ in range(_CANCEL_ROUNDS):
            pending = asyncio.all_tasks(loop)
            if not pending:
                break
            for task in pending:
                task.cancel()
            closing.cancelled += _names(pending)
            closing.pending = _names(pending)
            waiter = loop.create_task(
                asyncio.wait(pending, timeout=_remaining(self.deadline))
            )
            if not self.drive(waiter):
                self.abandon("when a second interrupt stopped closing", waiter)
                return False
            done, pending = waiter.result()
            closing.pending = _names(pending)
            for task in done:
                self.report_failure(task)
            if pending:
                break
        if pending:
            self.abandon("before the shutdown timeout")
        return True

    def report_failure(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None or isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return  # the escaped one is raised again by close() itself
        self.loop.call_exception_handler(
            {
                # asyncio.Runner's own words, so that handlers matching them work
                "message": "unhandled exception during asyncio.run() shutdown",
                "exception": exc,
                "task": task,
            }
        )

    def abandon(self, when: str, waiter: asyncio.Future[Any] | None = None) -> None:
        """Give up on the tasks still running, and name them in a warning.

        ``when`` ends the sentence "task X did not finish its cleanup ...".
        """
        left = [
            task
            for task in asyncio.all_tasks(self.loop)
            if not task.done() and task is not waiter
        ]
        for task in [*left, *([waiter] if waiter is not None else [])]:
            # We warn about it ourselves; asyncio's "Task was destroyed but
            # it is pending" at garbage collection would only add noise.
            task._log_destroy_pending = False  # type: ignore[attr-defined]
        names = _names(left)
        self.closing.pending = names
        what = [f"task {name!r}" for name in names]
        what += ["the code of a waiting run"] * sum(map(is_own, left))
        if len(what) == 1:
            self.closing.problems.append(
                f"{what[0]} did not finish its cleanup {when} and was abandoned"
            )
        elif what:
            self.closing.problems.append(
                f"{', '.join(what)} did not finish their cleanup {when} "
                "and were abandoned"
            )

    def bounded(self, step: Coroutine[Any, Any, None], what: str) -> None:
        """Run one more closing step within the deadline, noting how it went."""

        async def bounded_step() -> None:
            await asyncio.wait_for(step, _remaining(self.deadline))

        task = self.loop.create_task(bounded_step())
        if not self.drive(task):
            task._log_destroy_pending = False  # type: ignore[attr-defined]
            self.closing.problems.append(
                f"{what} was abandoned after a second interrupt"
            )
            return
        try:
            task.result()
        except TimeoutError:
            self.closing.problems.append(
                f"{what} did not finish before the shutdown timeout"
            )
        except Exception as exc:  # noqa: BLE001 - reported to the caller as a warning
            self.closing.problems.append(f"{what} failed: {exc!r}")


def _shutdown_executor(
    executor: concurrent.futures.ThreadPoolExecutor, deadline: float, *, wait: bool
) -> list[str]:
    """Shut down our default executor, waiting at most until ``deadline``.

    ``loop.shutdown_default_executor`` takes a timeout only from 3.12 and
    warns from inside the loop thread, and at interpreter exit no helper
    thread may be started to wait for it.  So: ask the workers to stop once
    the queued jobs are done, and join them ourselves, within the deadline.
    Idle workers take a moment to see the stop request, so they get the
    same grace as every other step even when a slow task used up the time.
    """
    executor.shutdown(wait=False, cancel_futures=not wait)
    workers: set[threading.Thread] = getattr(executor, "_threads", set())
    if wait:
        for worker in list(workers):
            worker.join(_remaining(deadline))
    if any(worker.is_alive() for worker in workers):
        executor.shutdown(wait=False, cancel_futures=True)
        return [
            "executor jobs were still running at the shutdown timeout; "
            "the executor was shut down without waiting for them"
            if wait
            else "executor jobs were left running when closing was abandoned"
        ]
    return []


class ContextExecutor(concurrent.futures.ThreadPoolExecutor):
    """A thread pool that runs each job in a copy of its submitter's context.

    ``loop.run_in_executor`` copies no context (``asyncio.to_thread`` does),
    so a job would print into whichever cell happens to be running, and a
    ``call_soon_threadsafe`` from the job would run its callback there too.
    The runner owns its default executor, so it can make every job keep
    the cell routing, and every other ContextVar, of the task that
    submitted it.
    """

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)

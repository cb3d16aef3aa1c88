"""``arunner.Runner``: asyncio.Runner's contract, also inside a running loop.

The facade owns what both engines share: argument checking, lazy
initialisation, the choice of engine, turning any awaitable into a
coroutine, closing (once, with warnings instead of lost errors, and
interrupts that wait for the cleanup) and closing forgotten runners at
interpreter exit.  The engines own the loop.
"""

from __future__ import annotations

import _thread
import asyncio
import atexit
import contextvars
import functools
import inspect
import os
import threading
import time
import types
import warnings
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Literal, Protocol, TypeVar, cast

from arunner._inline import InlineEngine
from arunner._interrupt import WAIT_SLICE, InterruptScope
from arunner._loop import Closing, LoopFactory, ShouldAbandon
from arunner._tasks import CellOf, TaskInfo, mark_own, snapshot
from arunner._thread import ThreadEngine

__all__ = [
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "MODES",
    "BackgroundTask",
    "Runner",
    "check_same_loop",
]

T = TypeVar("T")

Mode = Literal["auto", "inline", "thread", "nest"]
MODES: tuple[Mode, ...] = ("auto", "inline", "thread", "nest")

#: Seconds close() may take in all: cancelling tasks and running their
#: cleanup, async generators, the executor.  asyncio waits for the executor
#: alone without a limit on 3.11 and up to 300 s from 3.12; jupyter_client
#: sends a kernel SIGTERM 2.5 s after asking it to shut down (half its
#: default shutdown_wait_time), and that ends the process at once, so the
#: cleanup must be done before then.
DEFAULT_SHUTDOWN_TIMEOUT = 2.0


class _Engine(Protocol):
    name: str
    loop: asyncio.AbstractEventLoop
    context: contextvars.Context

    @property
    def thread(self) -> threading.Thread | None: ...

    def in_runner(self) -> bool: ...

    def run(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T: ...

    def check_closable(self) -> None: ...

    def close(self, timeout: float, should_abandon: ShouldAbandon) -> Closing: ...


class Runner:
    """A persistent asyncio runner: one loop and one context for many calls.

    It follows the contract of :class:`asyncio.Runner` (lazy
    initialisation, ``run``/``close``/``get_loop``, use as a context
    manager, SIGINT cancels the main task) and adds a thread engine for
    callers whose thread already runs a loop, as every Jupyter cell does.

    ``mode`` picks the engine at first use:

    * ``"inline"`` runs the loop in the calling thread, exactly like
      asyncio.Runner, and refuses to run inside a running loop;
    * ``"thread"`` runs the loop in one dedicated worker thread for the
      runner's whole life; ``run`` blocks the caller until the coroutine is
      done, and background tasks keep running between calls;
    * ``"auto"`` (the default) is inline when no loop is running in the
      calling thread at first use, thread otherwise;
    * ``"nest"`` runs on the loop already running in the calling thread,
      made re-entrant by the optional nest-asyncio2 package, for code whose
      objects are bound to that loop (it patches asyncio globally).

    The persistent :class:`contextvars.Context` starts as a copy of the
    context of the thread that first uses the runner (as in asyncio.Runner),
    and every ``run`` executes its main task *in* it, so a ContextVar set in
    one run, before or after an ``await``, is seen by the next.
    """

    def __init__(
        self,
        *,
        debug: bool | None = None,
        loop_factory: LoopFactory | None = None,
        mode: Mode = "auto",
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        if mode not in MODES:
            raise ValueError(
                f"mode must be one of {', '.join(map(repr, MODES))}; got {mode!r}"
            )
        if loop_factory is not None and not callable(loop_factory):
            raise TypeError(
                "loop_factory must be a callable that returns a new event loop, "
                f"such as uvloop.new_event_loop; got {loop_factory!r}"
            )
        self.mode = mode
        self._engine: _Engine | None = None
        self.shutdown_timeout = shutdown_timeout
        self._debug = debug
        self._loop_factory = loop_factory
        self._closed = False
        #: the process that owns the engine, when this one is a fork of it
        self._forked_from: int | None = None
        self._init_lock = threading.Lock()
        self._while_waiting: Callable[[], None] | None = None

    # -- state ----------------------------------------------------------------

    @property
    def engine(self) -> str | None:
        """``"inline"``, ``"thread"`` or ``"nest"`` once initialised, None before."""
        return None if self._engine is None else self._engine.name

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def shutdown_timeout(self) -> float:
        """Seconds close() may take, also when it runs at interpreter exit."""
        return self._shutdown_timeout

    @shutdown_timeout.setter
    def shutdown_timeout(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(
                f"shutdown_timeout must be a positive number of seconds; "
                f"got {seconds!r}"
            )
        self._shutdown_timeout = seconds
        if self._engine in _open_engines:
            _open_engines[self._engine] = seconds

    @property
    def while_waiting(self) -> Callable[[], None] | None:
        """Called in the waiting thread at each wait slice (about 50 ms) of a run.

        For work that must go on in the caller's thread while it waits for
        the loop thread, such as a kernel's widget messages.  Only the thread
        engine waits this way; it must return quickly and handle its own
        errors (KeyboardInterrupt aside, which counts as an interrupt).

        A hook that also has a ``fileno()`` method, as ``select()`` expects,
        is called at the start of the wait and then as soon as that file
        descriptor is readable, instead of at every slice; while
        ``fileno()`` returns None (nothing to watch) it is called at every
        slice again.
        """
        return self._while_waiting

    @while_waiting.setter
    def while_waiting(self, hook: Callable[[], None] | None) -> None:
        self._while_waiting = hook
        if isinstance(self._engine, ThreadEngine):
            self._engine.while_waiting = hook

    @property
    def context(self) -> contextvars.Context | None:
        """The persistent context every run executes in (None before first use).

        After a run abandoned by a second stop (thread engine), it is a copy
        of the one that run still holds, which later runs share.  Read it
        (``context[var]``, ``context.items()``); run nothing in it yourself,
        since the runner's tasks enter it.
        """
        return None if self._engine is None else self._engine.context

    def in_runner(self) -> bool:
        """Whether the caller is code that this runner is running.

        True inside a coroutine, task or callback on the runner's loop:
        there, a blocking ``run`` would wait for itself, and closing would
        pull the loop from under the caller.
        """
        engine = self._engine
        return engine is not None and engine.in_runner()

    @property
    def thread(self) -> threading.Thread | None:
        """The loop thread of the thread engine (None for inline)."""
        return None if self._engine is None else self._engine.thread

    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        elif self._engine is None:
            state = "not started"
        else:
            state = f"engine={self._engine.name!r} loop={self._engine.loop!r}"
        return f"<arunner.Runner mode={self.mode!r} {state}>"

    def __enter__(self) -> Runner:
        self._lazy_init()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the asyncio.Runner API -------------------------------------------------

    def run(
        self, coro: Awaitable[T], *, context: contextvars.Context | None = None
    ) -> T:
        """Run ``coro`` on the runner's loop and return its result.

        Accepts a coroutine, a future or task of this runner's loop, or any
        object with ``__await__``.  ``context`` defaults to the runner's
        persistent context.  The first SIGINT cancels the main task and,
        once its cleanup has run, raises ``KeyboardInterrupt``; a second
        SIGINT raises ``KeyboardInterrupt`` at once.
        """
        __tracebackhide__ = True
        engine = self._engine or self._lazy_init(coro)
        if type(coro) is types.CoroutineType and coro.cr_frame is not None:
            main = cast("Coroutine[Any, Any, T]", coro)  # the fast path
        else:
            main = _as_coroutine(coro, engine.loop)
        mark_own(main)  # the run's main task wraps the caller's code: not listed
        return engine.run(main, engine.context if context is None else context)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """Return the runner's loop (in thread mode it runs in another thread).

        In thread mode, hand work to it with ``asyncio.run_coroutine_threadsafe``
        or ``loop.call_soon_threadsafe``, never by calling it directly.
        """
        return (self._engine or self._lazy_init()).loop

    def close(self) -> None:
        """Cancel every task (its cleanup runs), finish async generators,
        shut the executor down, stop the thread and close the loop.

        Bounded by ``shutdown_timeout`` (plus about 0.1 s for each step still
        at work at the deadline).  Idempotent.  Problems are reported
        as :class:`RuntimeWarning`, never lost.  An interrupt while closing
        lets the cleanup finish and then raises ``KeyboardInterrupt``; a
        second one gives up on what is left, with a warning naming it.  A
        ``SystemExit`` or ``KeyboardInterrupt`` raised by a task's cleanup
        is raised again once every other task's cleanup has run.
        """
        self._shut_down(stacklevel=4)

    def shut_down(self) -> list[str]:
        """:meth:`close`, returning the names of the tasks it cancelled."""
        return self._shut_down(stacklevel=4)

    def _shut_down(self, stacklevel: int) -> list[str]:
        # The handler goes in first: from here on an interrupt is counted,
        # never raised half-way, so the runner ends up either untouched
        # (an interrupt before this line) or closed with its cleanup run.
        scope = InterruptScope(_wait_for_cleanup)
        with scope:
            with self._init_lock:
                if self._closed:
                    return []
                engine = self._engine
                if engine is not None:
                    engine.check_closable()
                self._closed = True
                self._engine = None
            timeout = None if engine is None else _open_engines.get(engine)
            if engine is None or timeout is None:  # never started, or closed at exit
                return []
            closing = _close_engine(engine, timeout, scope)
        _report(closing, stacklevel)
        if closing.escaped is not None:
            raise closing.escaped
        if scope.count:
            raise KeyboardInterrupt
        return closing.cancelled

    # -- beyond asyncio.Runner --------------------------------------------------

    def start(
        self, coro: Awaitable[T], *, name: str | None = None
    ) -> BackgroundTask[T]:
        """Start ``coro`` as a background task and return a handle at once.

        The task runs in a copy of the persistent context, like any task
        created inside a ``run``.  The handle may be used from any thread.
        """
        engine = self._engine or self._lazy_init(coro)
        main = _as_coroutine(coro, engine.loop)
        try:
            task = self.run(_create_task(main, name))
        except BaseException:
            main.close()  # never started: no "never awaited" warning later
            raise
        return BackgroundTask(self, task)

    def tasks(self, cell_of: CellOf | None = None) -> list[TaskInfo]:
        """The tasks the runner's code started, oldest first, each awaited
        task right after the task awaiting it: name, state, age, where it
        waits, the cell that started it.

        The main tasks of ``run`` calls are the runner's own and not listed.
        ``cell_of`` maps a code file name to the cell it holds, if any.
        Taken on the loop's own thread, so it waits for the loop like a run.
        """
        return self.call(functools.partial(snapshot, cell_of))

    def call(self, function: Callable[[], T]) -> T:
        """Call ``function`` on the runner's loop thread and return its result.

        For quick, synchronous work that must touch the loop's tasks.  From
        code the runner is running it is a plain call, so it works there
        too (a ``run`` would wait for itself).
        """
        engine = self._engine or self._lazy_init()
        if engine.in_runner():
            return function()
        return self.run(_call(function))

    def settle(self, timeout: float) -> bool:
        """Wait until the loop has finished the steps it is running or has
        ready now; False if it did not within ``timeout`` seconds.

        For an event that a step may be about to wait for: a widget click
        that answers a ``display()`` must not be handled between the step's
        ``display()`` and its ``await next_click(...)``.  Trivially true on
        the loop's own thread, for the inline engine and before first use.
        """
        engine = self._engine
        if not isinstance(engine, ThreadEngine) or engine.in_runner():
            return True
        done = _thread.allocate_lock()
        done.acquire()
        try:
            engine.loop.call_soon_threadsafe(done.release)
        except RuntimeError:  # closed: nothing runs any more
            return True
        return done.acquire(True, timeout)

    # -- internals --------------------------------------------------------------

    def _lazy_init(self, pending: object = None) -> _Engine:
        """Create the engine on first use; ``pending`` is closed if that fails.

        Closing a coroutine we will never run spares the user a second,
        misleading "coroutine ... was never awaited" warning.
        """
        with self._init_lock:
            if self._closed:
                if inspect.iscoroutine(pending):
                    pending.close()
                raise RuntimeError(self._closed_message())
            if self._engine is None:
                try:
                    self._engine = self._make_engine()
                except BaseException:
                    if inspect.iscoroutine(pending):
                        pending.close()
                    raise
                _started.add(self)
                if isinstance(self._engine, ThreadEngine):
                    self._engine.while_waiting = self._while_waiting
                _open_engines[self._engine] = self._shutdown_timeout
                _ensure_exit_hook()
            return self._engine

    def _closed_message(self) -> str:
        if self._forked_from is None:
            return "Runner is closed"
        return (
            f"Runner is closed in this process: it belongs to process "
            f"{self._forked_from}, which forked this one, and its loop, its "
            "tasks and their cleanup stay there. Create a new Runner here."
        )

    def _disown(self, parent: int) -> None:
        """In a forked child: let go of the parent's engine, without closing it."""
        self._init_lock = threading.Lock()  # a parent's thread may have held it
        if self._engine is not None:
            self._engine = None
            self._closed = True
            self._forked_from = parent

    def _make_engine(self) -> _Engine:
        mode = self.mode
        if mode == "auto":
            mode = "inline" if asyncio._get_running_loop() is None else "thread"
        if mode == "inline":
            return InlineEngine(self._loop_factory, self._debug)
        if mode == "nest":
            from arunner._nest import NestEngine  # imports nest-asyncio2 lazily

            return NestEngine(self._loop_factory, self._debug)
        return ThreadEngine(self._loop_factory, self._debug)


def _as_coroutine(
    awaitable: Awaitable[T], loop: asyncio.AbstractEventLoop
) -> Coroutine[Any, Any, T]:
    """Check what run() was given and make a coroutine of it, or explain."""
    if inspect.iscoroutine(awaitable):
        if inspect.getcoroutinestate(awaitable) == inspect.CORO_CLOSED:
            raise RuntimeError(
                f"coroutine {awaitable.__qualname__}() has already been "
                "awaited or closed; call the coroutine function again to "
                "get a fresh one"
            )
        return awaitable
    if isinstance(awaitable, asyncio.Future):
        check_same_loop(awaitable, loop)
        return _await(awaitable)
    if inspect.isawaitable(awaitable):
        return _await(awaitable)
    raise TypeError(_not_awaitable_message(awaitable))


def check_same_loop(
    future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop
) -> None:
    """Refuse a Future or Task of another loop with a message that says why.

    Awaiting it would fail inside the task with asyncio's "attached to a
    different loop", which names none of the user's code.
    """
    if future.get_loop() is not loop:
        raise ValueError(
            f"{future!r} belongs to a different event loop than the runner's; "
            "create it inside a coroutine run by the runner (for example with "
            "asyncio.create_task there), or use mode='nest' for objects bound "
            "to the kernel's own loop"
        )


def _not_awaitable_message(obj: object) -> str:
    if inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj):
        name = getattr(obj, "__qualname__", repr(obj))
        kind = (
            "async generator function"
            if inspect.isasyncgenfunction(obj)
            else "coroutine function"
        )
        hint = (
            f"call it: run({name}(...))"
            if kind == "coroutine function"
            else "iterate it inside a coroutine with 'async for'"
        )
        return f"expected an awaitable but got the {kind} {name!r}; {hint}"
    return (
        f"expected an awaitable (a coroutine, Task, Future or object with "
        f"__await__) but got {type(obj).__name__} {obj!r:.80}"
    )


async def _await(awaitable: Awaitable[T]) -> T:
    __tracebackhide__ = True
    return await awaitable


async def _call(function: Callable[[], T]) -> T:
    return function()


async def _create_task(
    coro: Coroutine[Any, Any, T], name: str | None
) -> asyncio.Task[T]:
    return asyncio.get_running_loop().create_task(coro, name=name)


class BackgroundTask(Awaitable[T]):
    """A thread-safe handle on a task started with :meth:`Runner.start`.

    ``done()``, ``cancel()`` and ``result(timeout)`` work from any thread;
    ``await handle`` works in coroutines that run on the same runner.
    """

    def __init__(self, runner: Runner, task: asyncio.Task[T]) -> None:
        self._runner = runner
        self._task = task

    @property
    def name(self) -> str:
        return self._task.get_name()

    @property
    def task(self) -> asyncio.Task[T]:
        """The underlying asyncio task; touch it only on the runner's loop."""
        return self._task

    def done(self) -> bool:
        return self._task.done()

    def cancelled(self) -> bool:
        return self._task.cancelled()

    def cancel(self) -> bool:
        """Request cancellation; returns False if the task had already ended."""
        if self._task.done():
            return False
        loop = self._task.get_loop()
        if asyncio._get_running_loop() is loop:
            self._task.cancel()
        else:
            loop.call_soon_threadsafe(self._task.cancel)
        return True

    def result(self, timeout: float | None = None) -> T:
        """Wait up to ``timeout`` seconds for the task and return its result.

        Raises :class:`TimeoutError` when the time runs out (the task keeps
        running) and the task's exception if it failed.  An interrupt while
        waiting stops the wait, not the task.  The timeout is the caller's
        own time: from another thread than the loop's it holds even while
        the loop is busy.
        """
        __tracebackhide__ = True
        if self._task.done():
            return self._task.result()
        runner = self._runner
        if runner.thread is None or runner.in_runner():
            # The caller drives the loop itself (inline, nest): wait on it.
            return runner.run(_wait_for(self._task, timeout))
        return _wait_from_outside(self._task, timeout)

    def __await__(self) -> Generator[Any, None, T]:
        return self._task.__await__()

    def __repr__(self) -> str:
        if not self._task.done():
            state = "pending"
        elif self._task.cancelled():
            state = "cancelled"
        elif self._task.exception() is not None:
            state = f"failed: {self._task.exception()!r}"
        else:
            state = "done"
        return f"<BackgroundTask {self.name!r} {state}>"


async def _wait_for(task: asyncio.Task[T], timeout: float | None) -> T:
    __tracebackhide__ = True
    return await asyncio.wait_for(asyncio.shield(task), timeout)


def _wait_from_outside(task: asyncio.Task[T], timeout: float | None) -> T:
    """Wait for a task of a loop running in another thread, timed here.

    A done-callback, added on the loop's thread, releases a bare lock; the
    wait is sliced so that an interrupt that only sets a flag is seen.
    """
    __tracebackhide__ = True
    done = _thread.allocate_lock()
    done.acquire()

    def release(_: object) -> None:
        done.release()

    try:
        task.get_loop().call_soon_threadsafe(task.add_done_callback, release)
    except RuntimeError:  # the loop is closed
        if not task.done():
            raise RuntimeError("Runner is closed") from None
    deadline = None if timeout is None else time.monotonic() + timeout
    while not task.done():
        left = WAIT_SLICE if deadline is None else deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"{task.get_name()!r} did not finish within {timeout:g} s; "
                "it keeps running"
            )
        done.acquire(True, min(WAIT_SLICE, left))
    return task.result()


# -- closing, and closing forgotten runners at interpreter exit -----------------------

#: Every engine not closed yet, with the shutdown timeout to close it with.
#: Strong references: a runner that nobody references any more may still
#: have tasks running on its loop, whose cleanup must run at exit.
_open_engines: dict[_Engine, float] = {}

#: The runners that have started an engine, to disown in a forked child.
_started: weakref.WeakSet[Runner] = weakref.WeakSet()


def _disown_after_fork() -> None:
    """In a forked child, the parent's runners stay the parent's.

    The child holds copies of their loops and tasks (and none of their
    threads); closing them there, by close() or at the child's exit, would
    run the parent's cleanup a second time, and the parent runs it again.
    So the child lets go of them: each runner counts as closed there, with
    no cleanup, and says why when it is used.  Letting go must not free the
    copies either: freeing a suspended coroutine runs its ``finally``
    blocks, which are that cleanup.  So the child keeps them for good, as
    it keeps the frames of the parent's other threads (which fork leaves
    behind, unfreed).
    """
    import ctypes  # only a forked child needs it

    for engine in _open_engines:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(engine))
    _open_engines.clear()
    for runner in list(_started):
        runner._disown(os.getppid())


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_disown_after_fork)


def _wait_for_cleanup() -> None:
    """The first interrupt while closing: keep going, the cleanup is running."""


def _close_engine(engine: _Engine, timeout: float, scope: InterruptScope) -> Closing:
    """Close ``engine`` with ``scope`` counting interrupts; forget it once closed.

    A KeyboardInterrupt that reaches the closing code is the second
    interrupt (or the first, where our handler is not installed): the
    scope says which, and only the second gives up.
    """

    def should_abandon(exc: BaseException) -> bool:
        return isinstance(exc, KeyboardInterrupt) and not scope.absorb()

    closing = engine.close(timeout, should_abandon)
    if closing.abandoned or not closing.left_running:
        # Closed, or given up on by the user; a loop thread that was merely
        # blocked past the timeout stays listed, to be waited for at exit.
        _open_engines.pop(engine, None)
    return closing


def _report(closing: Closing, stacklevel: int) -> None:
    for problem in closing.problems:
        warnings.warn(f"arunner: {problem}", RuntimeWarning, stacklevel=stacklevel)


@functools.cache
def _ensure_exit_hook() -> None:
    """Close open engines at exit, before executors and threads are joined.

    ``threading._register_atexit`` callbacks run at the start of interpreter
    shutdown, while the executor still accepts work and daemon threads are
    alive, so the cleanup of pending tasks can still run (a kernel's
    shutdown is an interpreter exit).  ``atexit`` is the fallback.  Cached:
    it registers once per process.
    """
    register = getattr(threading, "_register_atexit", atexit.register)
    try:
        register(_close_open_engines)
    except RuntimeError:  # already shutting down
        atexit.register(_close_open_engines)


def _close_open_engines() -> None:
    scope = InterruptScope(_wait_for_cleanup)
    with scope:
        for engine, timeout in list(_open_engines.items()):
            _report(_close_engine(engine, timeout, scope), stacklevel=2)

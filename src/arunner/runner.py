"""``arunner.Runner``: asyncio.Runner's contract, also inside a running loop.

The facade owns what both engines share: argument checking, lazy
initialisation, the choice of engine, turning any awaitable into a
coroutine, closing (once, with warnings instead of lost errors) and closing
forgotten runners at interpreter exit.  The engines own the loop.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import functools
import inspect
import threading
import types
import warnings
import weakref
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, Literal, Protocol, TypeVar, cast

from arunner._inline import InlineEngine
from arunner._loop import LoopFactory
from arunner._tasks import TaskInfo, snapshot
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
#: cleanup, async generators, the executor.  asyncio waits 300 s for the
#: executor alone; jupyter_client sends a kernel SIGTERM 2.5 s after asking
#: it to shut down (half its default shutdown_wait_time), and that ends the
#: process at once, so the cleanup must be done before then.
DEFAULT_SHUTDOWN_TIMEOUT = 2.0


class _Engine(Protocol):
    name: str
    loop: asyncio.AbstractEventLoop
    context: contextvars.Context

    @property
    def thread(self) -> threading.Thread | None: ...

    def run(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T: ...

    def check_closable(self) -> None: ...

    def close(self, timeout: float) -> list[str]: ...


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
        if not shutdown_timeout > 0:
            raise ValueError(
                f"shutdown_timeout must be a positive number of seconds; "
                f"got {shutdown_timeout!r}"
            )
        self.mode = mode
        self.shutdown_timeout = shutdown_timeout
        self._debug = debug
        self._loop_factory = loop_factory
        self._engine: _Engine | None = None
        self._closed = False
        self._init_lock = threading.Lock()

    # -- state ----------------------------------------------------------------

    @property
    def engine(self) -> str | None:
        """``"inline"``, ``"thread"`` or ``"nest"`` once initialised, None before."""
        return None if self._engine is None else self._engine.name

    @property
    def closed(self) -> bool:
        return self._closed

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

        Bounded by ``shutdown_timeout``.  Idempotent.  Problems are reported
        as :class:`RuntimeWarning`, never lost and never raised.
        """
        with self._init_lock:
            if self._closed:
                return
            engine = self._engine
            if engine is not None:
                engine.check_closable()
            self._closed = True
            self._engine = None
        if engine is None:
            return
        _live_runners.discard(self)
        for problem in engine.close(self.shutdown_timeout):
            warnings.warn(f"arunner: {problem}", RuntimeWarning, stacklevel=2)

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

    def tasks(self) -> list[TaskInfo]:
        """The runner's live tasks, oldest first: name, state, age, where.

        Taken on the loop's own thread, so it waits for the loop like a run.
        """
        return self.run(snapshot())

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
                raise RuntimeError("Runner is closed")
            if self._engine is None:
                try:
                    self._engine = self._make_engine()
                except BaseException:
                    if inspect.iscoroutine(pending):
                        pending.close()
                    raise
                _live_runners.add(self)
                _ensure_exit_hook()
            return self._engine

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
        waiting stops the wait, not the task.
        """
        __tracebackhide__ = True
        if self._task.done():
            return self._task.result()
        return self._runner.run(_wait_for(self._task, timeout))

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


# -- closing forgotten runners at interpreter exit ---------------------------------

_live_runners: weakref.WeakSet[Runner] = weakref.WeakSet()


@functools.cache
def _ensure_exit_hook() -> None:
    """Close live runners at exit, before executors and threads are joined.

    ``threading._register_atexit`` callbacks run at the start of interpreter
    shutdown, while the executor still accepts work and daemon threads are
    alive, so the cleanup of pending tasks can still run (a kernel's
    shutdown is an interpreter exit).  ``atexit`` is the fallback.  Cached:
    it registers once per process.
    """
    register = getattr(threading, "_register_atexit", atexit.register)
    try:
        register(_close_live_runners)
    except RuntimeError:  # already shutting down
        atexit.register(_close_live_runners)


def _close_live_runners() -> None:
    for runner in list(_live_runners):
        runner.close()

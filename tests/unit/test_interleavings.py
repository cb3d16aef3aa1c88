"""Nothing lost when interrupts, threads and closes collide.

Each test drives one interleaving that once lost cleanup, hung, or reported
the wrong thing: interrupts and SystemExit during close(), a dropped runner,
a run from a second thread, concurrent runs, executor jobs, and the second
interrupt's traceback.  Interrupts come from ``_thread.interrupt_main``,
which is how a SIGINT reaches Python's handler, once the code has shown that
it started.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import contextvars
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import arunner

MODES = ("inline", "thread")


def sigint_main_thread() -> None:
    """A real SIGINT for the main thread: it also wakes a loop sleeping in select().

    (``_thread.interrupt_main`` only sets Python's flag, which a thread
    blocked in select() sees when the select times out.)
    """
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def interrupt_soon(after: float = 0.05) -> None:
    """Interrupt the main thread ``after`` seconds from now, from a helper thread."""
    threading.Timer(after, sigint_main_thread).start()


async def cleanup_that_awaits(
    name: str, events: list[str], *, on_cleanup: Callable[[], None] | None = None
) -> None:
    try:
        await asyncio.sleep(60)
    finally:
        if on_cleanup is not None:
            on_cleanup()
        await asyncio.sleep(0.2)  # the cleanup really waits
        events.append(f"cleanup {name}")


async def spawn(*coros: Any) -> list[asyncio.Task[Any]]:
    tasks = [asyncio.create_task(coro, name=f"t{i}") for i, coro in enumerate(coros)]
    await asyncio.sleep(0)
    return tasks


# -- interrupts and SystemExit during close() ---------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_interrupt_during_close_waits_for_every_cleanup_then_raises(
    mode: str,
) -> None:
    events: list[str] = []
    runner = arunner.Runner(mode=mode)  # type: ignore[arg-type]
    runner.run(
        spawn(
            cleanup_that_awaits("a", events, on_cleanup=sigint_main_thread),
            cleanup_that_awaits("b", events),
        )
    )
    loop = runner.get_loop()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "closing the loop failed"
        with pytest.raises(KeyboardInterrupt):
            runner.close()
    assert sorted(events) == ["cleanup a", "cleanup b"]
    assert runner.closed
    assert loop.is_closed()


@pytest.mark.parametrize("mode", MODES)
def test_a_first_interrupt_during_close_still_gives_up_at_the_shutdown_timeout(
    mode: str,
) -> None:
    """The first interrupt waits for the cleanup, but no longer than the timeout."""
    events: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            sigint_main_thread()  # the first interrupt, once its cleanup began
            await asyncio.sleep(30)  # outlives the timeout
            events.append("stubborn resumed")

    runner = arunner.Runner(mode=mode, shutdown_timeout=0.5)  # type: ignore[arg-type]
    runner.run(spawn(stubborn(), cleanup_that_awaits("polite", events)))
    thread = runner.thread
    begin = time.monotonic()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            runner.close()
    took = time.monotonic() - begin
    assert took < 20, took  # a generous bound: the 0.5 s timeout, not the 30 s sleep
    assert events == ["cleanup polite"]  # the first interrupt cut nothing short
    named = [str(w.message) for w in said if "'t0'" in str(w.message)]
    assert named, [str(w.message) for w in said]
    assert not [str(w.message) for w in said if "'t1'" in str(w.message)]
    assert runner.closed
    if thread is not None:  # it finishes closing in the background
        thread.join(10)


@pytest.mark.parametrize("mode", MODES)
def test_a_second_interrupt_during_close_abandons_and_names_what_is_left(
    mode: str,
) -> None:
    events: list[str] = []

    def twice() -> None:
        _thread.interrupt_main()
        interrupt_soon(0.1)

    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            twice()
            await asyncio.sleep(30)
            events.append("stubborn resumed")

    runner = arunner.Runner(mode=mode, shutdown_timeout=4)  # type: ignore[arg-type]
    runner.run(spawn(stubborn()))
    thread = runner.thread
    begin = time.monotonic()
    with (
        pytest.warns(RuntimeWarning, match="'t0'"),
        pytest.raises(KeyboardInterrupt),
    ):
        runner.close()
    assert time.monotonic() - begin < 2  # not the 4 s timeout, nor the 30 s sleep
    assert events == []
    assert runner.closed
    if thread is not None:  # it finishes closing in the background
        thread.join(10)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("exit_type", [SystemExit, KeyboardInterrupt])
def test_a_cleanup_raising_systemexit_does_not_stop_the_others(
    mode: str, exit_type: type[BaseException]
) -> None:
    events: list[str] = []

    async def exits() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            events.append("exits")
            raise exit_type(7)

    runner = arunner.Runner(mode=mode)  # type: ignore[arg-type]
    runner.run(
        spawn(
            cleanup_that_awaits("a", events),
            exits(),
            cleanup_that_awaits("b", events),
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(exit_type):
            runner.close()
    assert sorted(events) == ["cleanup a", "cleanup b", "exits"]
    assert runner.closed


def test_a_dropped_runner_is_closed_at_exit_and_its_cleanup_runs(
    tmp_path: Any,
) -> None:
    """One dropped runner of each engine; each task's cleanup leaves its own mark."""
    script = textwrap.dedent(
        f"""
        import asyncio, gc, pathlib
        import arunner

        async def bg(mode):
            try:
                await asyncio.sleep(60)
            finally:
                await asyncio.sleep(0.1)
                pathlib.Path({str(tmp_path)!r}, mode).write_text("cleaned up")

        for mode in {MODES!r}:
            r = arunner.Runner(mode=mode)
            r.start(bg(mode))
            del r
        gc.collect()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    marks = {mode: tmp_path / mode for mode in MODES}
    assert {m: p.exists() and p.read_text() for m, p in marks.items()} == dict.fromkeys(
        MODES, "cleaned up"
    ), done.stderr
    assert "destroyed but it is pending" not in done.stderr


# -- a run from a second thread --------------------------------------------------


def test_an_inline_run_from_another_thread_while_busy_fails_at_once() -> None:
    """asyncio.Runner says "already running"; waiting would deadlock here."""
    with arunner.Runner(mode="inline") as runner:

        async def other() -> str:
            return "never"

        async def main() -> str:
            def from_a_thread() -> str:
                return runner.run(other())

            try:
                await asyncio.to_thread(from_a_thread)
            except RuntimeError as exc:
                return str(exc)
            return "no error"

        begin = time.monotonic()
        said = runner.run(main())
        assert said.startswith("This event loop is already running")
        assert "run_coroutine_threadsafe" in said
        assert time.monotonic() - begin < 2

        async def forever() -> None:
            await asyncio.sleep(60)

        handle = runner.start(forever())

        async def result_from_a_thread() -> str:
            try:
                await asyncio.to_thread(handle.result, 1)
            except RuntimeError as exc:
                return str(exc)
            return "no error"

        assert runner.run(result_from_a_thread()).startswith("This event loop")
        handle.cancel()
        assert runner.run(other()) == "never"  # the runner is fine


def test_result_timeout_is_measured_on_the_callers_side() -> None:
    blocking = threading.Event()
    with arunner.Runner(mode="thread") as runner:

        async def blocks() -> str:
            await asyncio.sleep(0)
            blocking.set()
            time.sleep(2)  # holds the loop thread
            return "late"

        handle = runner.start(blocks())
        assert blocking.wait(10)  # blocks() is inside time.sleep now
        begin = time.monotonic()
        with pytest.raises(TimeoutError, match=r"did not finish within 0\.3 s"):
            handle.result(timeout=0.3)
        assert time.monotonic() - begin < 1.0
        assert handle.result(timeout=5) == "late"


# -- concurrent runs and executor jobs ---------------------------------------------


def test_concurrent_runs_each_see_their_own_context() -> None:
    who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="-")
    results: dict[str, str] = {}
    first_set = threading.Event()
    second_set = threading.Event()

    async def job(name: str, mine: threading.Event, other: threading.Event) -> str:
        who.set(name)
        mine.set()
        await asyncio.to_thread(other.wait, 10)  # both have set theirs now
        return who.get()

    def call(name: str, mine: threading.Event, other: threading.Event) -> None:
        results[name] = runner.run(job(name, mine, other))

    with arunner.Runner(mode="thread") as runner:
        first = threading.Thread(target=call, args=("first", first_set, second_set))
        second = threading.Thread(target=call, args=("second", second_set, first_set))
        first.start()
        assert first_set.wait(10)  # the first run owns the persistent context
        second.start()
        for t in (first, second):
            t.join(10)
        assert results == {"first": "first", "second": "second"}

        # The first run had the persistent context; the one that overlapped
        # it had a copy, and changed nothing for later runs.
        async def read() -> str:
            return who.get()

        assert runner.run(read()) == "first"


@pytest.mark.parametrize("mode", MODES)
def test_executor_jobs_run_in_the_context_of_the_task_that_submitted_them(
    mode: str,
) -> None:
    cell: contextvars.ContextVar[str] = contextvars.ContextVar("cell", default="-")
    seen: list[str] = []

    async def background() -> None:
        cell.set("background")
        loop = asyncio.get_running_loop()

        def job() -> None:
            seen.append(cell.get())
            loop.call_soon_threadsafe(lambda: seen.append(cell.get()))

        await loop.run_in_executor(None, job)
        await asyncio.sleep(0.05)

    async def main() -> None:
        cell.set("main")
        await asyncio.create_task(background())

    with arunner.Runner(mode=mode) as runner:  # type: ignore[arg-type]
        runner.run(main())
    assert seen == ["background", "background"]


# -- asyncio.Runner's own corner cases ----------------------------------------------


class _TaskWithoutUncancel(asyncio.Future):  # type: ignore[type-arg]
    """A task factory's task that, as asyncio allows, has no uncancel()."""

    def __init__(self, coro: Any, *, loop: Any, **kwargs: Any) -> None:
        super().__init__(loop=loop)
        self._task = asyncio.Task(coro, loop=loop, **kwargs)
        self._task.add_done_callback(self._copy)

    def _copy(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            super().cancel()
        elif task.exception() is not None:
            self.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            self.set_result(task.result())

    def cancel(self, msg: Any = None) -> bool:
        return self._task.cancel(msg)

    def get_name(self) -> str:
        return self._task.get_name()

    def set_name(self, value: object) -> None:  # CPython 3.13.0 calls it
        if value is not None:
            self._task.set_name(value)

    def get_coro(self) -> Any:
        return self._task.get_coro()


@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_with_tasks_that_have_no_uncancel(mode: str) -> None:
    def factory() -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        loop.set_task_factory(
            lambda loop, coro, **kw: _TaskWithoutUncancel(coro, loop=loop, **kw)
        )
        return loop

    events: list[str] = []

    async def main() -> None:
        try:
            interrupt_soon()
            await asyncio.sleep(30)
            events.append("resumed")
        finally:
            events.append("cleanup")

    # asyncio.Runner: without uncancel() it cannot tell, so CancelledError
    with (
        arunner.Runner(mode=mode, loop_factory=factory) as runner,  # type: ignore[arg-type]
        pytest.raises(asyncio.CancelledError),
    ):
        runner.run(main())
    assert events == ["cleanup"]


@pytest.mark.parametrize("mode", MODES)
def test_interrupting_a_main_task_that_user_code_cancelled_gives_cancelled_error(
    mode: str,
) -> None:
    """CPython's test_interrupt_cancelled_task, in both engines."""

    async def subtask(task: asyncio.Task[Any]) -> None:
        await asyncio.sleep(0)
        task.cancel()
        _thread.interrupt_main()

    keep: list[asyncio.Task[Any]] = []

    async def main_keeping() -> None:
        keep.append(asyncio.create_task(subtask(asyncio.current_task())))  # type: ignore[arg-type]
        await asyncio.sleep(10)

    with arunner.Runner(mode=mode) as runner:  # type: ignore[arg-type]
        with pytest.raises(asyncio.CancelledError):
            runner.run(main_keeping())
        assert runner.run(asyncio.sleep(0, "usable")) == "usable"


# -- what the messages say -----------------------------------------------------------


def test_a_second_interrupt_shows_where_the_users_code_was() -> None:
    spinning = threading.Event()

    def tight_loop() -> None:
        spinning.set()
        while True:  # ignores the first interrupt: never awaits
            pass

    async def main() -> None:
        tight_loop()

    def interrupt_twice() -> None:
        spinning.wait(10)
        _thread.interrupt_main()
        time.sleep(0.2)
        _thread.interrupt_main()

    with arunner.Runner(mode="thread") as runner:
        threading.Thread(target=interrupt_twice).start()
        with pytest.raises(KeyboardInterrupt) as caught:
            runner.run(main())
    names = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert "tight_loop" in names
    assert "main" in names
    files = {
        frame.filename for frame in traceback.extract_tb(caught.value.__traceback__)
    }
    assert not any(name.endswith("_interrupt.py") for name in files)


def test_an_idle_executor_is_not_reported_after_a_stubborn_task() -> None:
    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(60)

    async def use_the_executor() -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, time.sleep, 0)  # a worker, now idle
        keep.append(asyncio.create_task(stubborn()))
        await asyncio.sleep(0)

    keep: list[asyncio.Task[None]] = []

    for mode in MODES:
        runner = arunner.Runner(mode=mode, shutdown_timeout=0.3)  # type: ignore[arg-type]
        runner.run(use_the_executor())
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            runner.close()
        messages = [str(w.message) for w in said]
        assert any("did not finish its cleanup" in m for m in messages), messages
        assert not any("executor" in m for m in messages), messages


def test_while_waiting_is_called_in_the_waiting_thread_during_a_thread_run() -> None:
    """The seam a kernel's widget messages are handled through while a cell waits."""
    seen: list[int] = []
    with arunner.Runner(mode="thread") as runner:
        runner.while_waiting = lambda: seen.append(threading.get_ident())
        runner.run(asyncio.sleep(0.3))
        during = len(seen)
        runner.while_waiting = None
        runner.run(asyncio.sleep(0.2))
    assert during >= 3  # slices of 50 ms during a 0.3 s wait
    assert set(seen) == {threading.get_ident()}
    assert len(seen) == during  # unset: no more calls


class _WatchedHook:
    """A wait hook with a file descriptor to watch, as the comm pump has."""

    def __init__(self) -> None:
        self.inbox, self.outside = socket.socketpair()
        self.inbox.setblocking(False)
        self.received = threading.Event()
        self.threads: set[int] = set()

    def __call__(self) -> None:
        self.threads.add(threading.get_ident())
        with contextlib.suppress(BlockingIOError):
            if self.inbox.recv(16):
                self.received.set()

    def fileno(self) -> int:
        return self.inbox.fileno()

    def close(self) -> None:
        self.inbox.close()
        self.outside.close()


def test_the_doorbells_of_watching_waits_are_closed_with_their_threads() -> None:
    """A thread's doorbell is closed when the thread ends, the main thread's
    at exit: Python's development mode reports an unclosed socket."""
    script = textwrap.dedent(
        """
        import asyncio, gc, threading, arunner

        class Watching:
            def __call__(self): pass
            def fileno(self): return None

        def wait_once():
            with arunner.Runner(mode="thread") as runner:
                runner.while_waiting = Watching()
                runner.run(asyncio.sleep(0))

        worker = threading.Thread(target=wait_once)
        worker.start()
        worker.join()
        gc.collect()
        print("the worker's doorbell is gone", flush=True)
        wait_once()
        """
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "the worker's doorbell is gone\n"
    assert "ResourceWarning" not in done.stderr, done.stderr


@pytest.mark.timeout(15)  # a wait that missed its wake-up would last an hour
def test_a_watching_hook_is_called_when_its_descriptor_is_readable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not at the end of a slice: with hour-long slices the run would hang."""
    monkeypatch.setattr("arunner._thread.WAIT_SLICE", 3600.0)
    hook = _WatchedHook()

    async def until_the_hook_has_received() -> str:
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, hook.outside.send, b"x")
        await loop.run_in_executor(None, hook.received.wait)
        return "received"

    try:
        with arunner.Runner(mode="thread") as runner:
            runner.while_waiting = hook
            assert runner.run(until_the_hook_has_received()) == "received"
    finally:
        hook.close()
    assert hook.threads == {threading.get_ident()}


@pytest.mark.timeout(15)  # a wait that missed its wake-up would last an hour
def test_the_end_of_a_run_wakes_a_watching_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run's end rings the waiting thread: no slice, nothing to read."""
    monkeypatch.setattr("arunner._thread.WAIT_SLICE", 3600.0)
    hook = _WatchedHook()
    try:
        with arunner.Runner(mode="thread") as runner:
            runner.while_waiting = hook
            for _ in range(20):  # ending before and after the wait started
                assert runner.run(asyncio.sleep(0.01, "done")) == "done"
                assert runner.run(asyncio.sleep(0, "done")) == "done"
    finally:
        hook.close()
    assert not hook.received.is_set()


def test_a_watching_hook_is_left_alone_while_its_descriptor_is_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Called when the wait starts, then only when there is something to read;
    a hook with nothing to watch (fileno() None) is called at every slice."""
    monkeypatch.setattr("arunner._thread.WAIT_SLICE", 0.01)
    hook = _WatchedHook()
    try:
        with arunner.Runner(mode="thread") as runner:
            runner.while_waiting = hook
            calls: list[int] = []
            monkeypatch.setattr(_WatchedHook, "__call__", lambda self: calls.append(1))
            runner.run(asyncio.sleep(0.3))
            assert len(calls) == 1
            monkeypatch.setattr(_WatchedHook, "fileno", lambda self: None)
            runner.run(asyncio.sleep(0.3))
            assert len(calls) > 10  # 30 slices of 10 ms
    finally:
        hook.close()


@pytest.mark.timeout(15)  # a wait that missed its wake-up would last an hour
def test_an_interrupt_during_a_watching_wait_cancels_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGINT in the select(): cleanup runs, KeyboardInterrupt, no resuming."""
    monkeypatch.setattr("arunner._thread.WAIT_SLICE", 3600.0)
    hook = _WatchedHook()
    started = threading.Event()
    story: list[str] = []

    async def sleeper() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
            story.append("resumed")
        finally:
            story.append("cleanup")

    def interrupt_once_started() -> None:
        started.wait(10)
        os.kill(os.getpid(), signal.SIGINT)

    try:
        with arunner.Runner(mode="thread") as runner:
            runner.while_waiting = hook
            threading.Thread(target=interrupt_once_started).start()
            with pytest.raises(KeyboardInterrupt):
                runner.run(sleeper())
            assert story == ["cleanup"]
            assert runner.run(asyncio.sleep(0, "usable")) == "usable"
    finally:
        hook.close()


def test_settle_waits_for_the_step_the_loop_is_running() -> None:
    """The comm pump's wait: True once the step is over, False while it blocks."""
    with arunner.Runner(mode="thread") as runner:
        assert runner.settle(0.1)  # not started: nothing to wait for
        started = threading.Event()

        async def block() -> None:
            await asyncio.sleep(0.05)  # start() has returned by then
            started.set()
            time.sleep(0.5)

        task = runner.start(block())
        started.wait()
        assert not runner.settle(0.1)  # the step is still blocking the loop
        assert runner.settle(5)  # returns once the step is over...
        assert task.done()  # ...which was the whole task

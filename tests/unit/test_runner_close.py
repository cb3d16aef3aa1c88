"""close(): nothing pending is lost, nothing hangs, problems become warnings."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

import arunner


async def noop() -> None:
    await asyncio.sleep(0)


def test_close_is_idempotent_and_later_calls_raise(runner: arunner.Runner) -> None:
    runner.run(noop())
    runner.close()
    runner.close()
    assert runner.closed
    assert "closed" in repr(runner)
    with pytest.raises(RuntimeError, match="Runner is closed"):
        runner.run(noop())
    with pytest.raises(RuntimeError, match="Runner is closed"):
        runner.get_loop()


def test_close_before_first_use_creates_nothing() -> None:
    runner = arunner.Runner(mode="thread")
    runner.close()
    assert runner.engine is None
    with pytest.raises(RuntimeError, match="Runner is closed"):
        runner.run(noop())


def test_context_manager_closes(runner: arunner.Runner) -> None:
    with runner as entered:
        assert entered is runner
        loop = runner.get_loop()
    assert loop.is_closed()
    assert runner.closed


def test_close_cancels_pending_tasks_and_their_cleanup_runs(
    runner: arunner.Runner,
) -> None:
    events: list[str] = []

    async def pending(i: int) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # a cleanup that really waits, twice
            await asyncio.sleep(0.05)
            events.append(f"cleanup {i}")

    keep: list[asyncio.Task[None]] = []

    async def spawn() -> None:
        keep.extend(asyncio.create_task(pending(i)) for i in range(3))
        await asyncio.sleep(0)

    runner.run(spawn())
    runner.close()
    assert sorted(events) == ["cleanup 0", "cleanup 1", "cleanup 2"]


def test_tasks_started_by_cleanup_are_cancelled_and_cleaned_up_too(
    runner: arunner.Runner,
) -> None:
    """close() cancels in rounds: a task that a cleanup started is cancelled
    in the next one, and its own cleanup runs too."""
    events: list[str] = []

    async def pending(name: str, then: Callable[[], object] = lambda: None) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            then()
            await asyncio.sleep(0.05)  # the task started here is waiting by now
            events.append(f"cleanup {name}")

    keep: list[asyncio.Task[None]] = []

    def start_another() -> None:
        keep.append(asyncio.create_task(pending("child"), name="child"))

    async def spawn() -> None:
        keep.append(
            asyncio.create_task(pending("parent", start_another), name="parent")
        )
        await asyncio.sleep(0)

    runner.run(spawn())
    assert runner.shut_down() == ["parent", "child"]
    assert events == ["cleanup parent", "cleanup child"]


def test_close_finalises_async_generators(runner: arunner.Runner) -> None:
    events: list[str] = []

    async def numbers() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            events.append("agen finalised")

    async def take_one() -> int:
        agen = numbers()
        first = await agen.__anext__()
        runner_keep.append(agen)  # keep it alive and unfinished
        return first

    runner_keep: list[object] = []
    assert runner.run(take_one()) == 1
    runner.close()
    assert events == ["agen finalised"]


def test_close_shuts_down_the_executor_within_the_timeout() -> None:
    release = threading.Event()
    for mode in ("inline", "thread"):
        runner = arunner.Runner(mode=mode, shutdown_timeout=0.3)  # type: ignore[arg-type]

        async def start_blocking_job() -> None:
            loop = asyncio.get_running_loop()
            loop.run_in_executor(None, release.wait, 30)

        runner.run(start_blocking_job())
        begin = time.monotonic()
        with pytest.warns(RuntimeWarning, match="executor jobs were still running"):
            runner.close()
        assert time.monotonic() - begin < 5
    release.set()


def test_close_waits_for_quick_executor_jobs(runner: arunner.Runner) -> None:
    done: list[str] = []

    async def start_job() -> None:
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, lambda: (time.sleep(0.1), done.append("job")))

    runner.run(start_job())
    runner.close()
    assert done == ["job"]


def test_a_cleanup_that_fails_goes_to_the_loops_exception_handler(
    runner: arunner.Runner,
) -> None:
    """As in asyncio.Runner: a handler of the user's sees it, with its task."""
    seen: list[dict[str, Any]] = []

    async def bad_cleanup() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            raise OSError("cleanup broke")

    keep: list[asyncio.Task[None]] = []

    async def spawn() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: seen.append(context))
        keep.append(asyncio.create_task(bad_cleanup(), name="bad-cleanup"))
        await asyncio.sleep(0)

    runner.run(spawn())
    runner.close()
    assert len(seen) == 1
    assert seen[0]["message"] == "unhandled exception during asyncio.run() shutdown"
    assert seen[0]["task"] is keep[0]
    assert isinstance(seen[0]["exception"], OSError)


def test_cleanup_that_never_ends_is_abandoned_at_the_timeout_with_a_warning() -> None:
    """A shutdown_timeout other than the default bounds close() too: it takes
    a little more (each step after the deadline gets 0.1 s), never a multiple."""
    timeout = 0.5
    for mode in ("inline", "thread"):
        runner = arunner.Runner(mode=mode, shutdown_timeout=timeout)  # type: ignore[arg-type]

        async def endless_cleanup() -> None:
            try:
                await asyncio.sleep(60)
            finally:
                await asyncio.sleep(60)

        async def spawn(keep: list[asyncio.Task[None]]) -> None:
            keep.append(asyncio.create_task(endless_cleanup(), name="endless"))
            await asyncio.sleep(0)

        runner.run(spawn([]))
        begin = time.monotonic()
        with pytest.warns(RuntimeWarning, match="'endless' did not finish its cleanup"):
            runner.close()
        assert time.monotonic() - begin < timeout + 1.0  # not the 60 s it wanted


def test_close_stops_and_joins_the_worker_thread() -> None:
    runner = arunner.Runner(mode="thread")
    runner.run(noop())
    thread = runner.thread
    assert thread is not None
    assert thread.is_alive()
    runner.close()
    assert not thread.is_alive()


def test_close_from_the_loop_thread_is_refused() -> None:
    with arunner.Runner(mode="thread") as runner:

        async def close_from_inside() -> None:
            runner.close()

        with pytest.raises(RuntimeError, match="own loop thread"):
            runner.run(close_from_inside())
        assert not runner.closed
        assert runner.run(noop()) is None


def wait_in_thread(
    runner: arunner.Runner, coro: Coroutine[Any, Any, None]
) -> tuple[threading.Thread, list[BaseException]]:
    """Run ``coro`` on ``runner`` from a thread of its own; what it raised."""
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            runner.run(coro)
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    return waiter, outcome


def test_close_from_another_thread_ends_a_waiting_run_saying_so_after_its_cleanup() -> (
    None
):
    """Not asyncio.Runner's: its close() cannot run while its loop does.  The
    run used to end in a bare CancelledError, and the report named its main
    task (Task-1), which no task table lists."""
    runner = arunner.Runner(mode="thread")
    started = threading.Event()
    events: list[str] = []

    async def long() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
            events.append("resumed")
        finally:
            await asyncio.sleep(0)  # a cleanup that waits
            events.append("cleanup")

    runner.start(asyncio.sleep(60), name="background")
    waiter, outcome = wait_in_thread(runner, long())
    assert started.wait(10)
    assert runner.shut_down() == ["background"]
    waiter.join(10)
    assert events == ["cleanup"]
    (raised,) = outcome
    assert type(raised) is RuntimeError
    assert str(raised) == "Runner was closed while this run was waiting"
    names = [entry.name for entry in traceback.extract_tb(raised.__traceback__)]
    assert "long" in names  # where the run's code was when it was closed


def test_a_waiting_runs_endless_cleanup_is_named_by_its_run_when_abandoned() -> None:
    runner = arunner.Runner(mode="thread", shutdown_timeout=0.2)
    started = threading.Event()

    async def endless_cleanup() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(60)

    waiter, outcome = wait_in_thread(runner, endless_cleanup())
    assert started.wait(10)
    with pytest.warns(RuntimeWarning) as warned:
        runner.close()
    assert [str(w.message) for w in warned] == [
        "arunner: the code of a waiting run did not finish its cleanup before "
        "the shutdown timeout and was abandoned"
    ]
    waiter.join(10)
    (raised,) = outcome
    assert str(raised) == "Runner was closed while this run was waiting"


# -- background tasks ----------------------------------------------------------------


def test_background_task_handle(runner: arunner.Runner) -> None:
    async def work(x: int) -> int:
        await asyncio.sleep(0.05)
        return x * 2

    handle = runner.start(work(21), name="doubler")
    assert handle.name == "doubler"
    assert "doubler" in repr(handle)
    assert handle.result(timeout=10) == 42
    assert handle.done()

    later = runner.start(work(5))

    async def await_handle() -> int:
        return await later

    assert runner.run(await_handle()) == 10


def test_unnamed_tasks_keep_asyncios_default_names(runner: arunner.Runner) -> None:
    """CPython 3.13.0 renames them "None" when a loop has a task factory."""
    handle = runner.start(asyncio.sleep(0.01))
    assert handle.name.startswith("Task-")
    assert [t.name for t in runner.tasks()] == [handle.name]
    handle.result(timeout=10)


def test_background_task_result_timeout_and_cancel(runner: arunner.Runner) -> None:
    handle = runner.start(asyncio.sleep(60))
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.05)
    assert not handle.done()
    assert handle.cancel()
    with pytest.raises(asyncio.CancelledError):
        handle.result(timeout=10)
    assert handle.cancelled()
    assert not handle.cancel()


# -- forgotten runners -------------------------------------------------------------


def test_a_forgotten_runner_is_closed_at_interpreter_exit(tmp_path: Path) -> None:
    marker = tmp_path / "cleanup.txt"
    script = textwrap.dedent(
        f"""
        import asyncio, pathlib, arunner
        runner = arunner.Runner(mode="thread")
        async def pending():
            try:
                await asyncio.sleep(60)
            finally:
                await asyncio.sleep(0.05)  # a cleanup that really waits, twice
                await asyncio.sleep(0.05)
                pathlib.Path({str(marker)!r}).write_text("cleanup ran")
        runner.start(pending())
        print("started", flush=True)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "started\n"
    assert marker.read_text() == "cleanup ran"
    assert "destroyed but it is pending" not in proc.stderr
    assert proc.stderr == ""


#: A program with an open runner and a pending task forks; the child exits
#: normally, after closing the runner or not.  The task's cleanup writes
#: which process ran it.
FORKS = """
import asyncio, os, pathlib, sys, warnings, arunner
warnings.filterwarnings("ignore", "This process .* is multi-threaded")
log = pathlib.Path(sys.argv[1])
parent = os.getpid()
runner = arunner.Runner(mode=sys.argv[2])

def note(step):
    with log.open("a") as file:
        print("parent" if os.getpid() == parent else "child", step, file=file)

async def pending():
    try:
        await asyncio.sleep(60)
    finally:
        note("began cleanup")
        await asyncio.sleep(0)  # a cleanup that waits
        note("ended cleanup")

runner.start(pending(), name="pending")
runner.run(asyncio.sleep(0))  # the inline engine's task starts waiting here
if os.fork() == 0:
    try:
        runner.run(asyncio.sleep(0))
    except RuntimeError as exc:
        print(f"child: {exc}", flush=True)
    if sys.argv[3] == "close":
        runner.close()
    sys.exit(0)  # a normal exit: interpreter shutdown, exit hooks and all
os.wait()
"""


@pytest.mark.parametrize("child", ["close", "exit"])
@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_a_forked_child_leaves_the_parents_runner_and_cleanup_alone(
    tmp_path: Path, mode: str, child: str
) -> None:
    """Cleanup runs once, in the process that owns the runner.  The child's
    exit closed the inherited runner and ran the parent's cleanup there too."""
    if not hasattr(os, "fork"):
        pytest.skip("no os.fork() on this platform")
    log = tmp_path / "cleanup.log"
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", FORKS, str(log), mode, child],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert log.read_text() == "parent began cleanup\nparent ended cleanup\n"
    assert proc.stdout.startswith(
        "child: Runner is closed in this process: it belongs to process "
    )
    assert "which forked this one" in proc.stdout
    assert proc.stderr == ""


def test_close_of_an_inline_runner_from_inside_another_running_loop() -> None:
    """A kernel refuses inline mode; closing that runner must still be clean."""
    events: list[str] = []
    runner = arunner.Runner(mode="inline")

    async def pending() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            events.append("cleanup")

    keep = runner.start(pending())  # drives the loop once, from no running loop

    async def refused_then_closed() -> None:
        with pytest.raises(RuntimeError, match="cannot be called from a running"):
            runner.run(noop())
        runner.close()

    outer = asyncio.new_event_loop()
    try:
        outer.run_until_complete(refused_then_closed())
    finally:
        outer.close()
    assert keep.cancelled()
    assert events == ["cleanup"]


def test_a_refused_start_closes_the_coroutine() -> None:
    """start() from the loop thread is refused; the coroutine it was given
    must not linger to warn "never awaited" later (warnings are errors here)."""
    with arunner.Runner(mode="thread") as runner:
        given: list[Coroutine[Any, Any, None]] = []

        async def start_from_inside() -> None:
            given.append(asyncio.sleep(0))
            runner.start(given[0])

        with pytest.raises(RuntimeError, match="own loop thread"):
            runner.run(start_from_inside())
        assert inspect.getcoroutinestate(given[0]) == inspect.CORO_CLOSED


#: A script that was single-threaded until it ran an inline runner, which
#: started the thread that wakes its main thread for a stop (arunner._sigwake);
#: it forks with the runner open, runs again, and closes the runner.
FORKS_AFTER_A_RUN = """
import asyncio, os, threading, arunner
names = lambda: sorted(t.name for t in threading.enumerate())
os.register_at_fork(after_in_parent=lambda: print("at the fork:", names()))
runner = arunner.Runner(mode="inline")
runner.run(asyncio.sleep(0))
print("during:", names())
if os.fork() == 0:
    os._exit(0)
os.wait()
runner.run(asyncio.sleep(0))
print("after the fork:", names())
runner.close()
print("after close:", names())
"""


def test_a_script_that_ran_an_inline_runner_forks_without_the_threads_warning() -> None:
    """Python 3.12+ warns of a fork in a multi-threaded process; the watcher
    stops before a fork, and a closed runner leaves no thread of arunner's."""
    if not hasattr(os, "fork"):
        pytest.skip("no os.fork() on this platform")
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", FORKS_AFTER_A_RUN],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        "during: ['MainThread', 'arunner-sigwake']",
        "at the fork: ['MainThread']",  # on 3.15 also -W error's pass
        "after the fork: ['MainThread', 'arunner-sigwake']",
        "after close: ['MainThread']",
    ]

"""SIGINT handling, as asyncio's "Handling Keyboard Interruption" describes.

Every test waits for proof that the coroutine started, delivers a real
SIGINT with ``signal.pthread_kill`` (or the flag-only Windows path), then
checks the error, that the cleanup ran and that the code did not resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest

import arunner
from tests.conftest import Interrupter

#: How long a slow cleanup awaits before it records itself: far longer than
#: an engine takes to notice an interrupt, so that a run that left before its
#: cleanup had finished finds nothing recorded.
SLOW_CLEANUP = 0.3


class Probe:
    """Records what a coroutine under test got to do."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.events: list[str] = []

    async def slow_cleanup(self) -> None:
        try:
            self.started.set()
            await asyncio.sleep(30)
            self.events.append("resumed")
        finally:
            await asyncio.sleep(SLOW_CLEANUP)
            self.events.append("cleanup finished")

    async def sleeper(self, seconds: float = 30) -> None:
        try:
            self.started.set()
            await asyncio.sleep(seconds)
            self.events.append("resumed")
        except asyncio.CancelledError:
            self.events.append("except CancelledError")
            raise
        finally:
            self.events.append("finally")


def test_first_interrupt_cancels_the_main_task_then_raises_keyboard_interrupt(
    runner: arunner.Runner, interrupter: Interrupter
) -> None:
    probe = Probe()
    interrupter.after(probe.started)
    with pytest.raises(KeyboardInterrupt):
        runner.run(probe.sleeper())
    assert probe.events == ["except CancelledError", "finally"]
    assert runner.run(asyncio.sleep(0, "still usable")) == "still usable"


def test_cleanup_that_awaits_runs_to_the_end_before_keyboard_interrupt(
    runner: arunner.Runner, interrupter: Interrupter
) -> None:
    probe = Probe()
    interrupter.after(probe.started)
    with pytest.raises(KeyboardInterrupt):
        runner.run(probe.slow_cleanup())
    assert probe.events == ["cleanup finished"]


def test_second_interrupt_raises_at_once_during_a_long_cleanup(
    runner: arunner.Runner, interrupter: Interrupter
) -> None:
    started = threading.Event()
    events: list[str] = []

    async def stubborn_cleanup() -> None:
        try:
            started.set()
            await asyncio.sleep(30)
        finally:
            events.append("cleanup started")
            await asyncio.sleep(30)
            events.append("cleanup finished")

    interrupter.after(started, count=2)
    begin = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        runner.run(stubborn_cleanup())
    assert time.monotonic() - begin < 10  # not the 30 s the cleanup wanted
    assert events == ["cleanup started"]
    assert runner.run(asyncio.sleep(0, "usable")) == "usable"


def test_an_interrupt_that_another_thread_takes_still_cancels_a_waiting_run(
    runner: arunner.Runner, interrupter: Interrupter
) -> None:
    """Seen in terminal IPython (its history thread took the Ctrl-C): the
    inline engine's main thread slept on in select() for the whole wait."""
    probe = Probe()
    interrupter.after_taken_elsewhere(probe.started)
    begin = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        runner.run(probe.sleeper())
    assert time.monotonic() - begin < 10  # not the 30 s of the sleep
    assert probe.events == ["except CancelledError", "finally"]
    assert runner.run(asyncio.sleep(0, "usable")) == "usable"


def test_a_second_interrupt_that_another_thread_takes_stops_a_blocking_cleanup(
    interrupter: Interrupter,
) -> None:
    """Inline only: the thread engine's cleanup runs in its loop thread, which
    no signal reaches (see the tight-loop and blocked-in-C tests)."""
    started = threading.Event()
    events: list[str] = []

    async def blocking_cleanup() -> None:
        try:
            started.set()
            await asyncio.sleep(30)
        finally:
            events.append("cleanup started")
            time.sleep(30)  # in C: only a signal to this thread ends it early
            events.append("cleanup finished")

    interrupter.after_taken_elsewhere(started, count=2)
    begin = time.monotonic()
    with arunner.Runner(mode="inline") as runner, pytest.raises(KeyboardInterrupt):
        runner.run(blocking_cleanup())
    assert time.monotonic() - begin < 10  # not the 30 s the cleanup wanted
    assert events == ["cleanup started"]


def test_a_coroutine_that_swallows_the_cancellation_returns_normally(
    runner: arunner.Runner, interrupter: Interrupter
) -> None:
    started = threading.Event()

    async def swallow() -> str:
        try:
            started.set()
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            return "handled"
        return "slept"

    interrupter.after(started)
    assert runner.run(swallow()) == "handled"


def test_flag_only_interrupt_is_noticed_while_waiting() -> None:
    """Windows delivers Ctrl-C by setting a flag; a blocking wait never wakes."""
    probe = Probe()
    sender = Interrupter()
    with arunner.Runner(mode="thread") as runner:
        sender.after_flag_only(probe.started)
        with pytest.raises(KeyboardInterrupt):
            runner.run(probe.sleeper())
        sender.join()
    assert probe.events == ["except CancelledError", "finally"]


def test_tight_loop_is_stopped_by_the_second_interrupt_and_its_cleanup_runs(
    runner: arunner.Runner, interrupter: Interrupter
) -> None:
    """Inline: the second SIGINT lands in the loop itself.  Thread: the loop
    thread never saw the first one, so CancelledError is raised inside it."""
    started = threading.Event()
    events: list[str] = []

    async def spin() -> None:
        try:
            started.set()
            while True:
                pass
        finally:
            events.append("cleanup")

    interrupter.after(started, count=2)
    with pytest.raises(KeyboardInterrupt):
        runner.run(spin())
    assert runner.run(asyncio.sleep(0, "recovered")) == "recovered"
    assert events == ["cleanup"]


def test_thread_blocked_in_c_tells_the_next_caller_where_and_how_to_restart(
    interrupter: Interrupter,
) -> None:
    """The refusal names the user's function and line, not a coroutine repr."""
    started = threading.Event()
    release = threading.Lock()
    release.acquire()
    events: list[str] = []
    blocked_at: list[int] = []

    async def blocked() -> None:
        try:
            blocked_at.append(sys._getframe().f_lineno + 2)
            started.set()
            release.acquire(timeout=30)  # blocked in C: the forced stop cannot reach it
        finally:
            events.append("cleanup")

    runner = arunner.Runner(mode="thread", shutdown_timeout=0.5)
    interrupter.after(started, count=2)
    with pytest.raises(KeyboardInterrupt):
        runner.run(blocked())
    try:
        with pytest.raises(
            RuntimeError, match=r"still blocked by .*--restart"
        ) as refused:
            runner.run(asyncio.sleep(0))
    finally:
        release.release()
    message = str(refused.value)
    assert f"' at blocked ({__file__}:{blocked_at[0]})" in message
    assert "<coroutine object" not in message
    deadline = time.monotonic() + 10
    while not events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert events == ["cleanup"]
    assert runner.run(asyncio.sleep(0, "recovered")) == "recovered"
    runner.close()


def test_close_of_a_blocked_runner_returns_and_warns(
    interrupter: Interrupter,
) -> None:
    started = threading.Event()
    release = threading.Event()

    async def blocked() -> None:
        started.set()
        release.wait(30)

    runner = arunner.Runner(mode="thread", shutdown_timeout=0.3)
    interrupter.after(started, count=2)
    with pytest.raises(KeyboardInterrupt):
        runner.run(blocked())
    begin = time.monotonic()
    with pytest.warns(RuntimeWarning, match="did not stop within 0.3 s"):
        runner.close()
    assert time.monotonic() - begin < 5
    release.set()
    with pytest.raises(RuntimeError, match="Runner is closed"):
        runner.run(asyncio.sleep(0))


def test_interrupt_while_waiting_on_a_background_result_leaves_the_task_running(
    runner: arunner.Runner, interrupter: Interrupter
) -> None:
    started = threading.Event()
    release = asyncio.Event()

    async def work() -> str:
        started.set()
        await release.wait()  # until the test lets it finish, however slow
        return "finished"

    handle = runner.start(work(), name="work")
    interrupter.after(started)
    with pytest.raises(KeyboardInterrupt):
        handle.result()
    assert not handle.done()
    runner.get_loop().call_soon_threadsafe(release.set)
    assert handle.result(timeout=10) == "finished"


def test_no_sigint_handler_is_left_behind(runner: arunner.Runner) -> None:
    before = signal.getsignal(signal.SIGINT)
    runner.run(asyncio.sleep(0))
    assert signal.getsignal(signal.SIGINT) is before


@contextlib.contextmanager
def sigint_handler(handler: Callable[[int, FrameType | None], Any]) -> Iterator[None]:
    """An application's own SIGINT handler, in place for the block."""
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_foreign_sigint_handler_is_left_in_place(
    runner: arunner.Runner, interrupter: Interrupter
) -> None:
    """As asyncio.Runner: arunner's handler goes in only over Python's default
    one, so an application's handler gets the interrupt, and nothing is
    cancelled."""
    started = threading.Event()
    handled = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        handled.set()

    async def until_handled() -> str:
        started.set()
        while not handled.is_set():
            await asyncio.sleep(0.01)
        return "not cancelled"

    with sigint_handler(handler):
        interrupter.after(started)
        try:
            said = runner.run(until_handled())
        except KeyboardInterrupt:
            pytest.fail("the run was interrupted: arunner replaced the handler")
        assert said == "not cancelled"
        assert signal.getsignal(signal.SIGINT) is handler


def test_a_keyboard_interrupt_from_a_foreign_handler_still_waits_for_cleanup(
    interrupter: Interrupter,
) -> None:
    """The thread engine: the KeyboardInterrupt that an application's handler
    raises while a run waits counts as the first interrupt all the same."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    probe = Probe()
    with sigint_handler(handler), arunner.Runner(mode="thread") as runner:
        interrupter.after(probe.started)
        with pytest.raises(KeyboardInterrupt):
            runner.run(probe.slow_cleanup())
        assert probe.events == ["cleanup finished"]


def test_a_task_left_by_a_second_interrupt_that_fails_is_reported(
    interrupter: Interrupter,
) -> None:
    """Its caller is gone, so its failure goes to the loop's exception handler
    instead of being lost."""
    started = threading.Event()
    cleanup_started = threading.Event()
    release = asyncio.Event()
    left: list[asyncio.Task[Any]] = []
    reported: list[dict[str, Any]] = []

    async def fails_in_cleanup() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: reported.append(context))
        left.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            started.set()
            await asyncio.sleep(30)
        finally:
            cleanup_started.set()
            await release.wait()
            raise OSError("cleanup broke")

    with arunner.Runner(mode="thread") as runner:
        interrupter.after(started)
        interrupter.after(cleanup_started)  # the second: while the cleanup waits
        with pytest.raises(KeyboardInterrupt):
            runner.run(fails_in_cleanup())
        assert reported == []
        runner.get_loop().call_soon_threadsafe(release.set)
        runner.run(asyncio.wait(left))  # its done-callbacks have run after this
    assert [context["message"] for context in reported] == [
        "arunner: a task abandoned after a second interrupt failed while finishing"
    ]
    assert reported[0]["task"] is left[0]
    assert isinstance(reported[0]["exception"], OSError)


def test_an_interrupt_the_moment_the_coroutine_starts_still_cancels_it(
    runner: arunner.Runner,
) -> None:
    """The coroutine may run (and say so) before the caller is back from the
    hand-off; the SIGINT handler must already be in place by then."""
    main = threading.main_thread().ident
    assert main is not None
    for _ in range(30):
        events: list[str] = []

        async def interrupt_myself_first(events: list[str] = events) -> None:
            try:
                signal.pthread_kill(main, signal.SIGINT)
                await asyncio.sleep(30)
                events.append("resumed")
            finally:
                events.append("cleanup")

        with pytest.raises(KeyboardInterrupt):
            runner.run(interrupt_myself_first())
        assert events == ["cleanup"]

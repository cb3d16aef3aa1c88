"""SIGINT handling, as asyncio's "Handling Keyboard Interruption" describes.

Every test waits for proof that the coroutine started, delivers a real
SIGINT with ``signal.pthread_kill`` (or the flag-only Windows path), then
checks the error, that the cleanup ran and that the code did not resume.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import pytest

import arunner
from tests.conftest import Interrupter


class Probe:
    """Records what a coroutine under test got to do."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.events: list[str] = []

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
    started = threading.Event()
    events: list[str] = []

    async def slow_cleanup() -> None:
        try:
            started.set()
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0.05)
            events.append("cleanup finished")

    interrupter.after(started)
    with pytest.raises(KeyboardInterrupt):
        runner.run(slow_cleanup())
    assert events == ["cleanup finished"]


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


def test_thread_blocked_in_c_tells_the_next_caller_how_to_restart(
    interrupter: Interrupter,
) -> None:
    started = threading.Event()
    release = threading.Event()
    events: list[str] = []

    async def blocked() -> None:
        try:
            started.set()
            release.wait(30)  # a blocking call that the forced stop cannot reach
        finally:
            events.append("cleanup")

    runner = arunner.Runner(mode="thread", shutdown_timeout=0.5)
    interrupter.after(started, count=2)
    with pytest.raises(KeyboardInterrupt):
        runner.run(blocked())
    with pytest.raises(RuntimeError, match=r"still blocked by task .*%arun --restart"):
        runner.run(asyncio.sleep(0))
    release.set()
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

    async def work() -> str:
        started.set()
        await asyncio.sleep(0.3)
        return "finished"

    handle = runner.start(work(), name="work")
    interrupter.after(started)
    with pytest.raises(KeyboardInterrupt):
        handle.result()
    assert not handle.cancelled()
    assert handle.result(timeout=10) == "finished"


def test_no_sigint_handler_is_left_behind(runner: arunner.Runner) -> None:
    before = signal.getsignal(signal.SIGINT)
    runner.run(asyncio.sleep(0))
    assert signal.getsignal(signal.SIGINT) is before


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

"""Shared fixtures: runners for both engines and a real SIGINT sender."""

from __future__ import annotations

import _thread
import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import arunner
from arunner._sigwake import stop_watching


@pytest.fixture(params=["inline", "thread"])
def runner(request: pytest.FixtureRequest) -> Iterator[arunner.Runner]:
    """A runner for each engine, closed after the test."""
    r = arunner.Runner(mode=request.param)
    yield r
    r.close()


class Interrupter:
    """Sends real SIGINTs to the main thread once a coroutine proves it started."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []

    def after(self, started: threading.Event, count: int = 1, gap: float = 0.2) -> None:
        """Once ``started`` is set, send ``count`` SIGINTs ``gap`` seconds apart."""
        self._spawn(started, count, gap, self._sigint)

    def after_taken_elsewhere(self, started: threading.Event, count: int = 1) -> None:
        """As :meth:`after`, but each SIGINT goes to this sender's own thread,
        as the OS may deliver a Ctrl-C in a process with other threads (it
        passes over a main thread that has a signal pending): only CPython's
        C handler runs there, and a main thread blocked in C is not woken."""
        self._spawn(started, count, 0.2, self._sigint_to_this_thread)

    def after_flag_only(self, started: threading.Event) -> None:
        """Interrupt the way Windows does: set the flag, wake nothing."""
        self._spawn(started, 1, 0.0, _thread.interrupt_main)

    @staticmethod
    def _sigint() -> None:
        main = threading.main_thread().ident
        assert main is not None
        signal.pthread_kill(main, signal.SIGINT)

    @staticmethod
    def _sigint_to_this_thread() -> None:
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    def _spawn(
        self,
        started: threading.Event,
        count: int,
        gap: float,
        send: Callable[[], None],
    ) -> None:
        def go() -> None:
            if not started.wait(10):
                return
            for _ in range(count):
                time.sleep(gap)
                send()

        thread = threading.Thread(target=go, name="test-interrupter", daemon=True)
        thread.start()
        self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(10)


@pytest.fixture
def interrupter() -> Iterator[Interrupter]:
    sender = Interrupter()
    yield sender
    sender.join()


def _loop_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("arunner-loop-")}


@pytest.fixture(autouse=True, scope="module")
def _no_signal_watcher_left_after_the_module() -> Iterator[None]:
    """Stop the thread that script calls (``--sync``) start, after each module.

    The terminal tier forks (pexpect's forkpty) in this process, and Python
    3.15 warns, an error here, of a fork in a multi-threaded process; the
    kernel tier stops its kernels per module for the same reason.
    """
    yield
    stop_watching()


@pytest.fixture(autouse=True)
def _no_loop_thread_left_behind() -> Iterator[None]:
    """Every test must close the runners it starts: no loop thread may leak."""
    before = _loop_threads()
    yield
    deadline = time.monotonic() + 5
    while (leaked := _loop_threads() - before) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not leaked, f"loop threads left running: {sorted(t.name for t in leaked)}"

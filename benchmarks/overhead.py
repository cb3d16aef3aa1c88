"""Per-call overhead of ``run(noop())`` against the alternatives, in one process.

Each method makes ``calls`` round trips per round; a round's sample is the
mean time per call.  The inline engine is compared with asyncio.Runner,
the thread engine with ``run_coroutine_threadsafe().result()``, anyio's
``BlockingPortal.call`` and the floor: the hand-off and wake-up that the
thread engine itself makes, ``call_soon_threadsafe`` to the loop and a bare
``_thread`` lock released on the loop thread, without a coroutine or a
task.  What arunner adds on top of that floor is its own cost.
"""

from __future__ import annotations

import _thread
import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import arunner
from arunner._interrupt import WAIT_SLICE
from benchmarks.figures import Comparison, Samples, conclude, sample_rounds

__all__ = ["COMPARISONS", "FLOOR", "measure"]

FLOOR = "call_soon_threadsafe + bare lock (floor)"


async def noop() -> None:
    return None


@contextmanager
def background_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop in a thread, as the stdlib alternatives use it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def callers(stack: ExitStack) -> dict[str, Callable[[], object]]:
    """One zero-argument callable per method, each doing one round trip."""
    inline = stack.enter_context(arunner.Runner(mode="inline"))
    threaded = stack.enter_context(arunner.Runner(mode="thread"))
    stdlib = stack.enter_context(asyncio.Runner())
    loop = stack.enter_context(background_loop())

    def threadsafe() -> object:
        return asyncio.run_coroutine_threadsafe(noop(), loop).result()

    def handoff_floor() -> object:
        # As the thread engine waits for a run (arunner._thread): a fresh
        # lock, taken here, released by a callback on the loop's thread,
        # waited for in slices (the wake-up arrives within the first).
        done = _thread.allocate_lock()
        done.acquire()
        loop.call_soon_threadsafe(done.release)
        while not done.acquire(True, WAIT_SLICE):
            pass
        return None

    methods: dict[str, Callable[[], object]] = {
        "arunner inline": lambda: inline.run(noop()),
        "asyncio.Runner.run": lambda: stdlib.run(noop()),
        "arunner thread": lambda: threaded.run(noop()),
        "run_coroutine_threadsafe().result()": threadsafe,
        FLOOR: handoff_floor,
    }
    try:
        from anyio.from_thread import start_blocking_portal
    except ImportError:
        pass
    else:
        portal = stack.enter_context(start_blocking_portal())
        methods["anyio BlockingPortal.call"] = lambda: portal.call(noop)
    return methods


COMPARISONS = [
    Comparison(
        "inline engine vs asyncio.Runner", "arunner inline", "asyncio.Runner.run", 1.0
    ),
    Comparison(
        "thread engine vs run_coroutine_threadsafe",
        "arunner thread",
        "run_coroutine_threadsafe().result()",
        1.0,
    ),
    Comparison(
        "thread engine vs anyio portal",
        "arunner thread",
        "anyio BlockingPortal.call",
        0.5,
    ),
    Comparison(
        "thread engine vs hand-off floor",
        "arunner thread",
        FLOOR,
        2.0,
    ),
]


def _mean_call_time(call: Callable[[], object], calls: int) -> Callable[[], float]:
    def sample() -> float:
        begin = time.perf_counter()
        for _ in range(calls):
            call()
        return (time.perf_counter() - begin) / calls

    return sample


def measure(rounds: int, calls: int) -> tuple[list[Comparison], Samples]:
    """The comparisons (in microseconds) and the per-round seconds per call."""
    with ExitStack() as stack:
        methods = callers(stack)
        for call in methods.values():  # warm up: lazy init, caches
            for _ in range(50):
                call()
        samples = sample_rounds(
            rounds,
            {name: _mean_call_time(call, calls) for name, call in methods.items()},
        )
    return conclude(COMPARISONS, samples, scale=1e6), samples

"""Per-call overhead of ``run(noop())``, as ratios measured side by side.

Every method is timed in the same process, in interleaved rounds, and each
figure is the median over rounds of the ratio to its comparison from the
same round, so that a noisy, shared machine moves both sides together.

    python benchmarks/overhead.py            # full run
    python benchmarks/overhead.py --quick    # a few hundred calls: checks it runs
    python benchmarks/overhead.py --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass

import arunner


async def noop() -> None:
    return None


@dataclass
class Comparison:
    """A method, what it is compared with, and the target for the ratio."""

    name: str
    method: str
    baseline: str
    target: float
    ratio: float = float("nan")
    method_us: float = float("nan")
    baseline_us: float = float("nan")

    @property
    def met(self) -> bool:
        return self.ratio <= self.target


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
        done = threading.Event()
        loop.call_soon_threadsafe(done.set)
        return done.wait()

    methods: dict[str, Callable[[], object]] = {
        "arunner inline": lambda: inline.run(noop()),
        "asyncio.Runner.run": lambda: stdlib.run(noop()),
        "arunner thread": lambda: threaded.run(noop()),
        "run_coroutine_threadsafe().result()": threadsafe,
        "call_soon_threadsafe + Event (floor)": handoff_floor,
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
    Comparison("inline engine", "arunner inline", "asyncio.Runner.run", 1.0),
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
        "call_soon_threadsafe + Event (floor)",
        2.0,
    ),
]


def measure(rounds: int, calls: int) -> tuple[list[Comparison], dict[str, float]]:
    with ExitStack() as stack:
        methods = callers(stack)
        for call in methods.values():  # warm up: lazy init, caches
            for _ in range(50):
                call()
        per_round: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(rounds):
            for name, call in methods.items():
                begin = time.perf_counter()
                for _ in range(calls):
                    call()
                per_round[name].append((time.perf_counter() - begin) / calls)
    medians = {
        name: statistics.median(times) * 1e6 for name, times in per_round.items()
    }
    results = []
    for comparison in COMPARISONS:
        if comparison.baseline not in per_round:
            continue
        ratios = [
            m / b
            for m, b in zip(
                per_round[comparison.method],
                per_round[comparison.baseline],
                strict=True,
            )
        ]
        comparison.ratio = statistics.median(ratios)
        comparison.method_us = medians[comparison.method]
        comparison.baseline_us = medians[comparison.baseline]
        results.append(comparison)
    return results, medians


def report(results: list[Comparison], medians: dict[str, float]) -> str:
    lines = [f"Python {sys.version.split()[0]}", "", "per call (median, us):"]
    lines += [f"  {name:<40} {us:8.1f}" for name, us in medians.items()]
    lines += ["", "ratios (median of per-round ratios):"]
    for c in results:
        verdict = "ok" if c.met else "MISSED"
        lines.append(
            f"  {c.name:<45} {c.ratio:5.2f}  (target <= {c.target:.1f}: {verdict})"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred calls")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    rounds, calls = (3, 50) if args.quick else (15, 2000)
    results, medians = measure(rounds, calls)
    print(report(results, medians))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {
                    "python": sys.version.split()[0],
                    "per_call_us": medians,
                    "ratios": [asdict(c) for c in results],
                },
                out,
                indent=2,
            )


if __name__ == "__main__":
    main()

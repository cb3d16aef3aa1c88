"""Benchmarks in real Jupyter kernels, driven as a notebook frontend drives them.

Three measurements, each in kernels started by the kernel tier's own
helpers (tests/kernel/conftest.py):

* interrupt-to-idle latency: from the interrupt request to the kernel
  reporting idle, for an interrupted ``%%arun`` await, a ``%%arun --sync``
  cell whose ``asyncio.run()`` is waiting, a ``%%arun --sync`` cell and a
  plain cell (the reference) blocked in ``time.sleep``, ipykernel's own
  top-level await and ``asyncio.run`` under nest_asyncio;
* round trip of a cell, from the execute request to its reply: ``%%arun``
  doing ``await asyncio.sleep(0)`` against a plain top-level-await cell
  doing the same, ``%arun`` with 0, 10 and 1,000 ContextVars set in the
  notebook (the context sync's cost), and a trivial plain cell (``x = 1``)
  in a kernel under ``%arun --auto sync``, where it runs as a
  ``%%arun --sync`` cell, against the same cell in a kernel without arunner
  (the per-cell cost of ``--auto sync``);
* a widget click, from its comm message to the coroutine that awaits it,
  in a ``%%arun`` cell and with ipykernel's own top-level await
  (benchmarks/clicks.py);
* scale, inside one fresh kernel: 10,000 ``%arun`` calls, then 1,000
  background tasks alive at once, with memory, threads, the time that a
  ``%arun --tasks`` listing takes and the time of one refresh of the live
  monitor (``%arun --monitor``), which it sends every second while tasks
  live.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.kernel.cells import interruptible
from tests.kernel.conftest import Kernel, kernel_spec_in, launch_kernel
from tests.reliability.conftest import PROBE_FUNCTION

from benchmarks import clicks
from benchmarks.figures import Comparison, Limit, Samples, conclude, sample_rounds

__all__ = ["KernelResults", "Sizes", "measure"]

ARUN = "%%arun await"
SYNC = "%%arun --sync: asyncio.run() inside"
SYNC_SLEEP = "%%arun --sync: time.sleep"
PLAIN = "plain time.sleep cell"
TOP_LEVEL = "ipykernel top-level await"
NEST = "nest_asyncio: asyncio.run()"

STARTED = "print('started', flush=True)\n"
#: Each sleep is below the kernel helpers' patience (30 s), so that a lost
#: interrupt shows as a cell that ran on to its end rather than a hang.
SLEEPERS = {
    # Prints "cleanup" in its finally: the ending says whether that came first.
    ARUN: interruptible("await asyncio.sleep(20)\nprint('resumed')"),
    SYNC: interruptible(
        "asyncio.run(asyncio.sleep(20))\nprint('resumed')", magic="%%arun --sync"
    ),
    PLAIN: f"{STARTED}time.sleep(20)\nprint('resumed')",
    # The same cell as PLAIN, run as a script: the stop must reach the sleep.
    SYNC_SLEEP: f"%%arun --sync\n{STARTED}time.sleep(20)\nprint('resumed')",
    # nest_asyncio loses an interrupt now and then: a short sleep bounds that.
    NEST: f"{STARTED}asyncio.run(asyncio.sleep(5))\nprint('resumed')",
}
#: Seconds between the cell printing that it started and the interrupt: the
#: cell is then waiting, as a long cell does when the user presses stop.
#: (An interrupt within milliseconds of the print can catch ipykernel's
#: top-level await before its loop waits, and cancel it at once.)
SETTLE = 0.2

#: How a cell that the interrupt did not stop is reported.
RAN_ON = "nothing: it ran on to its end"
#: Added to the ending of a cell with a cleanup (one that prints "cleanup").
AFTER_CLEANUP = " after its cleanup"
BEFORE_CLEANUP = " before its cleanup had printed"
#: How a cell is reported whose interrupt IPython failed to show (its
#: traceback formatter trips over a frame caught between two lines).
UNFORMATTED = "an error IPython failed to format"
#: ipykernel finishes the await before it reacts, so its sleep is short.
TOP_LEVEL_SLEEPER = STARTED + "await asyncio.sleep({seconds})"

ROUND_TRIPS = {
    "%%arun: await asyncio.sleep(0)": "%%arun\nawait asyncio.sleep(0)",
    "top-level await: await asyncio.sleep(0)": "await asyncio.sleep(0)",
    "%arun asyncio.sleep(0)": "%arun asyncio.sleep(0)",
    "plain cell: pass": "pass",
}
NEST_ROUND_TRIP = "nest_asyncio: asyncio.run(asyncio.sleep(0))"

#: A trivial plain cell, in a kernel under ``%arun --auto sync`` (where it
#: runs as ``%%arun --sync``) and in a kernel without arunner.
TRIVIAL = "x = 1"
AUTOSYNC_ROUND_TRIP = f"plain cell under --auto sync: {TRIVIAL}"
NO_ARUNNER_ROUND_TRIP = f"plain cell, no arunner: {TRIVIAL}"

#: ``%arun asyncio.sleep(0)`` in kernels whose plain cells set this many
#: ContextVars, which the context sync compares at every call.
CONTEXT_VARS = (0, 10, 1_000)
SET_CONTEXT_VARS = """import contextvars
_bench_vars = [contextvars.ContextVar(f"bench{{i}}") for i in range({count})]
for i, var in enumerate(_bench_vars):
    var.set(i)
"""


def context_round_trip(count: int) -> str:
    return f"%arun asyncio.sleep(0), {count:,} ContextVars in the notebook"


COMPARISONS = [
    Comparison("interrupt-to-idle: %%arun vs plain cell", ARUN, PLAIN, 1.5, "ms"),
    Comparison(
        "round trip: %%arun vs top-level await",
        "%%arun: await asyncio.sleep(0)",
        "top-level await: await asyncio.sleep(0)",
        1.2,
        "ms",
    ),
    Comparison(
        "interrupt-to-idle: %%arun --sync time.sleep vs plain cell",
        SYNC_SLEEP,
        PLAIN,
        1.5,
        "ms",
    ),
    Comparison(
        "interrupt-to-idle: %%arun --sync asyncio.run() vs %%arun",
        SYNC,
        ARUN,
        1.5,
        "ms",
    ),
    Comparison(
        "round trip: plain cell under --auto sync vs no arunner",
        AUTOSYNC_ROUND_TRIP,
        NO_ARUNNER_ROUND_TRIP,
        1.1,
        "ms",
    ),
    Comparison(
        "round trip: %arun with 1,000 ContextVars vs none",
        context_round_trip(1_000),
        context_round_trip(0),
        1.5,
        "ms",
    ),
]

#: The scale scenario, run in a fresh kernel; prints its figures as JSON.
SCALE = """
import arunner, asyncio, json, time
ip = get_ipython()
ip.run_line_magic("arun", "asyncio.sleep(0)")  # the runner and its thread exist
start = json.loads(_arunner_probe())
for _ in range({calls}):
    ip.run_line_magic("arun", "asyncio.sleep(0)")
after_calls = json.loads(_arunner_probe())
handles = [
    ip.run_line_magic("arun", f"-b -n idle-{{i}} asyncio.sleep(3600)")
    for i in range({tasks})
]
with_tasks = json.loads(_arunner_probe())
listings = []
for _ in range(5):
    begin = time.perf_counter()
    table = ip.run_line_magic("arun", "--tasks")
    str(table), table._repr_html_()  # what a terminal and a notebook show
    listings.append(time.perf_counter() - begin)
assert len(table) == {tasks}, len(table)
ip.run_line_magic("arun", "--monitor")
monitor = ip.magics_manager.registry["ARunMagics"]._monitor
runner = arunner.get_runner()
refreshes = []
for _ in range(5):
    # What the monitor does every second while tasks live: their ages changed.
    begin = time.perf_counter()
    published = runner.call(monitor.refresh)
    refreshes.append(time.perf_counter() - begin)
    assert published, "a monitor with live tasks sends every refresh"
ip.run_line_magic("arun", "--monitor off")
ip.run_line_magic("arun", "--cancel all")
print(json.dumps({{
    "start": start, "after_calls": after_calls, "with_tasks": with_tasks,
    "listings": listings, "refreshes": refreshes,
}}))
"""


@dataclass(frozen=True)
class Sizes:
    """How much one run measures: a full one, or a quick one that only proves it works.

    A full run is one of several (five unless told): its share of the
    samples, enough for a median of its own, is kept small so that all of
    them take minutes rather than a quarter of an hour.
    """

    interrupt_rounds: int
    top_level_rounds: int
    top_level_sleep: float
    round_trip_rounds: int
    cells_per_round: int
    calls: int
    tasks: int
    clicks: int

    @classmethod
    def full(cls) -> Sizes:
        return cls(9, 2, 3.0, 11, 20, 10_000, 1_000, 40)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(3, 1, 0.5, 3, 5, 300, 100, 3)


@dataclass
class KernelResults:
    """Medians in milliseconds per method, the comparisons and the scale limits."""

    interrupt_ms: dict[str, float]
    round_trip_ms: dict[str, float]
    comparisons: list[Comparison]
    limits: list[Limit]
    sizes: Sizes
    #: How each interrupted cell ended (the error it showed): how often.
    endings: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Click to resumed coroutine per cell: "median" and "p95", in ms.
    click_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    click_limits: list[Limit] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KernelResults:
        """Read back what ``dataclasses.asdict`` wrote, in another process."""
        return cls(
            **data
            | {
                "comparisons": [Comparison(**c) for c in data["comparisons"]],
                "limits": [Limit(**lim) for lim in data["limits"]],
                "sizes": Sizes(**data["sizes"]),
                "click_limits": [Limit(**lim) for lim in data["click_limits"]],
            }
        )


@contextmanager
def kernels() -> Iterator[Callable[..., Kernel]]:
    """Start kernels like the kernel tier does; all stopped on the way out."""
    with tempfile.TemporaryDirectory(prefix="arunner-bench-") as tmp:
        spec_manager = kernel_spec_in(Path(tmp))
        started: list[Kernel] = []

        def start(*, load: bool = True) -> Kernel:
            log = Path(tempfile.mkstemp(dir=tmp, suffix=".log")[1])
            started.append(launch_kernel(spec_manager, log, load=load))
            return started[-1]

        try:
            yield start
        finally:
            for kernel in started:
                kernel.stop()


def _interrupt_to_idle(
    kernel: Kernel,
    code: str,
    endings: dict[str, dict[str, int]],
    name: str,
    waited: float | None = None,
) -> Callable[[], float]:
    """Sample the latency; count how the cell ended.

    A lost interrupt counts with the time the cell took to end by itself,
    which is what the user waited.  With ``waited``, an ending that took at
    least that many seconds is counted as one that waited for the await.
    """
    ended = endings.setdefault(name, {})

    def sample() -> float:
        reply = kernel.execute(code, interrupt_on="started", delay=SETTLE)
        if "resumed" in reply.stdout:
            ending = RAN_ON
        elif reply.ename is not None:
            ending = f"`{reply.ename}`"
            if "cleanup" in code:
                cleaned = reply.printed_before_error("cleanup")
                ending += AFTER_CLEANUP if cleaned else BEFORE_CLEANUP
        else:
            ending = UNFORMATTED
        if waited is not None and reply.interrupt_to_idle >= waited:
            ending += " after the await finished"
        ended[ending] = ended.get(ending, 0) + 1
        return reply.interrupt_to_idle

    return sample


def _round_trip(kernel: Kernel, code: str, cells: int) -> Callable[[], float]:
    """The median time of ``cells`` executions, from request to reply."""

    def sample() -> float:
        times = []
        for _ in range(cells):
            begin = time.perf_counter()
            reply = kernel.execute(code)
            times.append(time.perf_counter() - begin)
            if reply.error is not None:
                raise RuntimeError(f"{code!r} failed: {reply.error['evalue']}")
        return statistics.median(times)

    return sample


def _with_context_vars(kernel: Kernel, count: int) -> Kernel:
    """A kernel whose plain cells have set ``count`` ContextVars, runner started."""
    kernel.ok("import asyncio\n" + SET_CONTEXT_VARS.format(count=count))
    kernel.ok("%arun asyncio.sleep(0)")
    return kernel


def _autosync(kernel: Kernel) -> Kernel:
    """A kernel whose plain cells run as ``%%arun --sync`` cells."""
    said = kernel.ok("%arun --auto sync").stdout
    if "plain cells run as scripts" not in said:
        raise RuntimeError(f"%arun --auto sync said: {said!r}")
    # Proof that plain cells now run as scripts: this fails in a plain cell.
    kernel.ok("import asyncio\nasyncio.run(asyncio.sleep(0))")
    kernel.ok(TRIVIAL)
    return kernel


def _without_arunner(kernel: Kernel) -> Kernel:
    """A kernel without arunner, warmed up as ``_autosync`` warms its own."""
    kernel.ok("import asyncio")
    kernel.ok(TRIVIAL)
    return kernel


def _scale(kernel: Kernel, sizes: Sizes) -> list[Limit]:
    printed = kernel.ok(
        PROBE_FUNCTION + SCALE.format(calls=sizes.calls, tasks=sizes.tasks)
    ).stdout
    figures: dict[str, Any] = json.loads(printed.splitlines()[-1])  # after --cancel's
    start, after_calls, with_tasks = (
        figures[key] for key in ("start", "after_calls", "with_tasks")
    )
    megabyte = 2**20
    return [
        Limit(
            f"extra threads after {sizes.calls:,} %arun calls",
            after_calls["os_threads"] - start["os_threads"],
            0,
            "threads",
        ),
        Limit(
            f"extra threads with {sizes.tasks:,} background tasks",
            with_tasks["os_threads"] - start["os_threads"],
            0,
            "threads",
        ),
        Limit(
            f"memory growth after {sizes.calls:,} %arun calls",
            (after_calls["rss"] - start["rss"]) / megabyte,
            8,
            "MB",
        ),
        Limit(
            f"memory growth with {sizes.tasks:,} background tasks as well",
            (with_tasks["rss"] - start["rss"]) / megabyte,
            8,
            "MB",
        ),
        Limit(
            f"%arun --tasks listing {sizes.tasks:,} tasks (text and HTML)",
            statistics.median(figures["listings"]) * 1000,
            100,
            "ms",
        ),
        Limit(
            f"one --monitor refresh with {sizes.tasks:,} tasks (sent to the frontend)",
            statistics.median(figures["refreshes"]) * 1000,
            20,
            "ms",
        ),
    ]


def measure(sizes: Sizes) -> KernelResults:
    endings: dict[str, dict[str, int]] = {}
    with kernels() as start:
        nb = start()
        nb.ok("import asyncio, time")
        nest = start(load=False)
        nest.ok("import asyncio, time, nest_asyncio2\nnest_asyncio2.apply()")
        where = {ARUN: nb, SYNC: nb, SYNC_SLEEP: nb, PLAIN: nb, NEST: nest}
        for name, code in SLEEPERS.items():  # the first traceback loads a lot
            where[name].execute(code, interrupt_on="started", delay=SETTLE)
        interrupts: Samples = sample_rounds(
            sizes.interrupt_rounds,
            {
                name: _interrupt_to_idle(where[name], code, endings, name)
                for name, code in SLEEPERS.items()
            },
        )
        interrupts |= sample_rounds(
            sizes.top_level_rounds,
            {
                TOP_LEVEL: _interrupt_to_idle(
                    nb,
                    TOP_LEVEL_SLEEPER.format(seconds=sizes.top_level_sleep),
                    endings,
                    TOP_LEVEL,
                    waited=sizes.top_level_sleep / 2,
                )
            },
        )
        round_trips = sample_rounds(
            sizes.round_trip_rounds,
            {
                name: _round_trip(nb, code, sizes.cells_per_round)
                for name, code in ROUND_TRIPS.items()
            }
            | {
                NEST_ROUND_TRIP: _round_trip(
                    nest, "asyncio.run(asyncio.sleep(0))", sizes.cells_per_round
                )
            }
            | {
                AUTOSYNC_ROUND_TRIP: _round_trip(
                    _autosync(start()), TRIVIAL, sizes.cells_per_round
                ),
                NO_ARUNNER_ROUND_TRIP: _round_trip(
                    _without_arunner(start(load=False)),
                    TRIVIAL,
                    sizes.cells_per_round,
                ),
            }
            | {
                context_round_trip(count): _round_trip(
                    _with_context_vars(start(), count),
                    "%arun asyncio.sleep(0)",
                    sizes.cells_per_round,
                )
                for count in CONTEXT_VARS
            },
        )
        click_ms = clicks.summary(clicks.measure(nb, sizes.clicks))
        limits = _scale(start(), sizes)
    samples = interrupts | round_trips
    return KernelResults(
        interrupt_ms={k: statistics.median(v) * 1000 for k, v in interrupts.items()},
        round_trip_ms={k: statistics.median(v) * 1000 for k, v in round_trips.items()},
        comparisons=conclude(COMPARISONS, samples, scale=1000),
        limits=limits,
        sizes=sizes,
        endings=endings,
        click_ms=click_ms,
        click_limits=clicks.limits(click_ms),
    )

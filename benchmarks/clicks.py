"""A widget click, from its comm message to the coroutine that awaits it.

While a cell awaits ``next_click(button)``, the client sends what JupyterLab
sends for a click; the cell prints ``time.monotonic()`` as soon as it
resumes, and the sample is that minus the moment the client sent the click
(Linux's monotonic clock is the same in every process of a machine).  The
click comes at a random moment, up to two of arunner's 50 ms wait slices
after the cell said it waits, as a user's click comes at any moment.

The same await runs in a ``%%arun`` cell, where arunner handles the message
as soon as it reaches the waiting thread's shell queue; in a ``%%arun`` cell
with ``widget_events`` off, which is the same wait without arunner's help:
the click is handled after the cell, so the cell gives up after
``NO_HELP_WAIT`` and the sample is "never"; and as ipykernel's own top-level
await, which ipykernel 7.4 serves while the cell awaits.  ipykernel 6.29
does not: there the click only reaches Python once the cell has ended, so
that side is measured on ipykernel 7 only.
"""

from __future__ import annotations

import importlib.metadata
import math
import random
import statistics
import time
from collections.abc import Callable

from tests.kernel.comms import click, drive
from tests.kernel.conftest import Kernel

from benchmarks.figures import Limit, Samples, sample_rounds

__all__ = [
    "ARUN_CLICK",
    "NO_HELP_CLICK",
    "TOP_LEVEL_CLICK",
    "limits",
    "measure",
    "summary",
]

ARUN_CLICK = "%%arun: await next_click(button)"
NO_HELP_CLICK = "%%arun, widget_events off: await next_click(button)"
TOP_LEVEL_CLICK = "top-level await: await next_click(button)"

SETUP = """
import time
import ipywidgets as widgets
from arunner.widgets import next_click
button = widgets.Button(description='go')
print(button.model_id)
"""

AWAIT_CLICK = """print('waiting', flush=True)
await next_click(button, timeout=10)
print(time.monotonic(), flush=True)
"""

#: How long the cell without arunner's help waits for a click that comes
#: only after it (seconds); the click is sent within SPREAD of its start.
NO_HELP_WAIT = 0.3

NO_HELP_AWAIT = f"""%%arun
print('waiting', flush=True)
try:
    await next_click(button, timeout={NO_HELP_WAIT})
    print(time.monotonic(), flush=True)
except TimeoutError:
    print('never', flush=True)
"""

#: The click comes up to this many seconds after the cell waits: two slices.
SPREAD = 0.1

#: The %%arun figure's bound: the pump wakes when the message arrives, and
#: a click takes a few milliseconds from the client to the coroutine here.
P95_TARGET_MS = 10


def measure(kernel: Kernel, rounds: int) -> Samples:
    """Seconds from click to resumed coroutine, per cell, ``rounds`` each."""
    button_id = kernel.ok(SETUP).stdout.strip()
    cells = {ARUN_CLICK: "%%arun\n" + AWAIT_CLICK}
    if int(importlib.metadata.version("ipykernel").split(".")[0]) >= 7:
        cells[TOP_LEVEL_CLICK] = AWAIT_CLICK
    chance = random.Random(12)
    samplers = {
        name: _sampler(kernel, button_id, code, chance) for name, code in cells.items()
    }
    samplers[NO_HELP_CLICK] = _without_help(
        kernel, _sampler(kernel, button_id, NO_HELP_AWAIT, chance)
    )
    return sample_rounds(rounds, samplers)


def _without_help(kernel: Kernel, sample: Callable[[], float]) -> Callable[[], float]:
    """``sample`` with arunner's widget events off for its cell."""

    def without_help() -> float:
        kernel.ok("%config ARunMagics.widget_events = False")
        try:
            return sample()
        finally:
            kernel.ok("%config ARunMagics.widget_events = True")

    return without_help


def _sampler(
    kernel: Kernel, button_id: str, code: str, chance: random.Random
) -> Callable[[], float]:
    def sample() -> float:
        sent: list[float] = []

        def click_at_some_moment(_: object) -> None:
            time.sleep(chance.uniform(0, SPREAD))
            sent.append(time.monotonic())
            click(kernel, button_id)

        reply = drive(kernel, code, [("waiting", click_at_some_moment)])
        if reply.error is not None:
            raise RuntimeError(f"{code!r} failed: {reply.error['evalue']}")
        resumed = reply.stdout.split()[-1]
        return math.inf if resumed == "never" else float(resumed) - sent[0]

    return sample


def summary(samples: Samples) -> dict[str, dict[str, float]]:
    """Median and 95th percentile per cell, in milliseconds."""
    return {
        name: {
            "median": statistics.median(values) * 1000,
            "p95": _p95(values) * 1000,
        }
        for name, values in samples.items()
    }


def limits(summaries: dict[str, dict[str, float]]) -> list[Limit]:
    return [
        Limit(
            "widget click to the awaiting %%arun coroutine, 95th percentile",
            summaries[ARUN_CLICK]["p95"],
            P95_TARGET_MS,
            "ms",
        )
    ]


def _p95(values: list[float]) -> float:
    """The nearest-rank 95th percentile: defined for waits that never resumed."""
    return sorted(values)[math.ceil(0.95 * len(values)) - 1]

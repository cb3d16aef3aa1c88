"""A widget click, from its comm message to the coroutine that awaits it.

While a cell awaits ``next_click(button)``, the client sends what JupyterLab
sends for a click; the cell prints ``time.monotonic()`` as soon as it
resumes, and the sample is that minus the moment the client sent the click
(Linux's monotonic clock is the same in every process of a machine).  The
click comes at a random moment, up to two wait slices after the cell said
it waits, as a user's click comes at any point of arunner's 50 ms slices.

The same await runs in a ``%%arun`` cell, where arunner handles the message
at its next wait slice, and as ipykernel's own top-level await, which
ipykernel 7.4 serves while the cell awaits.  ipykernel 6.29 does not: there
the click only reaches Python once the cell has ended, so that side is
measured on ipykernel 7 only.
"""

from __future__ import annotations

import importlib.metadata
import random
import statistics
import time
from collections.abc import Callable

from tests.kernel.comms import click, drive
from tests.kernel.conftest import Kernel

from benchmarks.figures import Limit, Samples, sample_rounds

__all__ = ["ARUN_CLICK", "TOP_LEVEL_CLICK", "limits", "measure", "summary"]

ARUN_CLICK = "%%arun: await next_click(button)"
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

#: The click comes up to this many seconds after the cell waits: two slices.
SPREAD = 0.1

#: The %%arun figure's bound: one 50 ms wait slice and a little.
P95_TARGET_MS = 55


def measure(kernel: Kernel, rounds: int) -> Samples:
    """Seconds from click to resumed coroutine, per cell, ``rounds`` each."""
    button_id = kernel.ok(SETUP).stdout.strip()
    cells = {ARUN_CLICK: "%%arun\n" + AWAIT_CLICK}
    if int(importlib.metadata.version("ipykernel").split(".")[0]) >= 7:
        cells[TOP_LEVEL_CLICK] = AWAIT_CLICK
    chance = random.Random(12)
    return sample_rounds(
        rounds,
        {
            name: _sampler(kernel, button_id, code, chance)
            for name, code in cells.items()
        },
    )


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
        return float(reply.stdout.split()[-1]) - sent[0]

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
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]

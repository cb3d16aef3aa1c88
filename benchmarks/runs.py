"""Every figure measured in independent processes, and what they ran on.

``python -m benchmarks`` starts ``--runs`` processes, one after the other so
that no two measure at once; each (``--one-process FILE``) measures every
figure once and writes its :class:`Results` there as JSON.  A fresh process
draws anew what holds for a whole process: where the scheduler puts its
threads, what the other work on the machine is doing, the interpreter's
caches.  The machine's load average is read before the first run and after
the last, and at the start of each run.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from benchmarks import kernel, overhead
from benchmarks.figures import Comparison, Judged, Limit, judge, medians

__all__ = ["Results", "Summary", "measure", "run"]

ROOT = Path(__file__).resolve().parent.parent

#: Per-call overhead: rounds, and calls per method and round.  Many short
#: rounds: the two samples of a ratio are taken close together in time.
FULL_OVERHEAD = (30, 500)
QUICK_OVERHEAD = (3, 100)

PACKAGES = [
    "ipython-arunner",
    "ipykernel",
    "ipython",
    "jupyter_client",
    "anyio",
    "nest-asyncio2",
    "uvloop",
]

Load = tuple[float, float, float]


@dataclass
class Results:
    """Everything one process measured."""

    pid: int
    #: The machine's load average (1, 5 and 15 minutes) as it started.
    load: Load
    #: How long it took, in seconds.
    seconds: float
    per_call_us: dict[str, float]
    comparisons: list[Comparison]
    #: Per-call overhead: rounds, and calls per method and round.
    rounds: int
    calls: int
    kernel: kernel.KernelResults | None = None

    def figures(self) -> list[Comparison | Limit]:
        """Every figure that has a target, in the order the reports show them."""
        if self.kernel is None:
            return [*self.comparisons]
        return [
            *self.comparisons,
            *self.kernel.comparisons,
            *self.kernel.limits,
            *self.kernel.click_limits,
        ]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        """Read back what :meth:`as_json` wrote, in another process."""
        held = data["kernel"]
        return cls(
            **data
            | {
                "load": tuple(data["load"]),
                "comparisons": [Comparison(**c) for c in data["comparisons"]],
                "kernel": None
                if held is None
                else kernel.KernelResults.from_json(held),
            }
        )


def measure(quick: bool, with_kernel: bool) -> Results:
    """Every figure, once, in this process."""
    begin = time.monotonic()
    load = os.getloadavg()
    rounds, calls = QUICK_OVERHEAD if quick else FULL_OVERHEAD
    comparisons, samples = overhead.measure(rounds, calls)
    sizes = kernel.Sizes.quick() if quick else kernel.Sizes.full()
    measured = kernel.measure(sizes) if with_kernel else None
    return Results(
        pid=os.getpid(),
        load=load,
        seconds=time.monotonic() - begin,
        per_call_us=medians(samples, scale=1e6),
        comparisons=comparisons,
        rounds=rounds,
        calls=calls,
        kernel=measured,
    )


@dataclass
class Summary:
    """Every run, where they ran, and each figure's spread across them."""

    environment: dict[str, str]
    runs: list[Results]
    quick: bool
    load_before: Load
    load_after: Load
    #: From the first run's start to the last one's end, in seconds.
    seconds: float

    @cached_property
    def kernels(self) -> list[kernel.KernelResults]:
        """The runs' kernel results (none with ``--no-kernel``)."""
        return [run.kernel for run in self.runs if run.kernel is not None]

    @cached_property
    def figures(self) -> list[Judged]:
        return judge([run.figures() for run in self.runs])

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "quick": self.quick,
            "load_before": self.load_before,
            "load_after": self.load_after,
            "seconds": self.seconds,
            "figures": [
                asdict(figure.spread)
                | {
                    "name": figure.name,
                    "median": figure.spread.median,
                    "target": figure.target,
                    "unit": figure.unit,
                    "verdict": figure.verdict,
                }
                for figure in self.figures
            ],
            "runs": [run.as_json() for run in self.runs],
        }


def run(runs: int, quick: bool, with_kernel: bool) -> Summary:
    """``runs`` processes, one after the other, and what they measured."""
    load_before = os.getloadavg()
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="arunner-bench-") as tmp:
        results = []
        for number in range(1, runs + 1):
            print(f"benchmarks: run {number} of {runs}", file=sys.stderr, flush=True)
            path = Path(tmp) / f"run-{number}.json"
            results.append(_one_process(path, quick, with_kernel))
    return Summary(
        environment=environment(),
        runs=results,
        quick=quick,
        load_before=load_before,
        load_after=os.getloadavg(),
        seconds=time.monotonic() - begin,
    )


def _one_process(path: Path, quick: bool, with_kernel: bool) -> Results:
    command = [sys.executable, "-m", "benchmarks", "--one-process", str(path)]
    command += ["--quick"] * quick + ["--no-kernel"] * (not with_kernel)
    subprocess.run(command, cwd=ROOT, check=True)
    return Results.from_json(json.loads(path.read_text()))


def _cpu() -> str:
    """The CPU's model name, and its family, model and stepping when known."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if not key.strip():  # the end of the first CPU's block
                    break
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or "unknown CPU"
    name = fields.get("model name", "unknown CPU")
    if "cpu family" not in fields:
        return name
    return (
        f"{name} (family {fields['cpu family']}, model {fields.get('model', '?')},"
        f" stepping {fields.get('stepping', '?')})"
    )


def _cores() -> str:
    count = os.cpu_count()
    if not hasattr(os, "sched_getaffinity"):  # not Linux
        return f"{count} cores"
    usable = len(os.sched_getaffinity(0))
    return f"{count} cores" if usable == count else f"{count} cores, {usable} usable"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    return {
        "date": datetime.date.today().isoformat(),
        "platform": platform.platform(),
        "cpu": f"{_cpu()}, {_cores()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "versions": ", ".join(f"{p} {_version(p)}" for p in PACKAGES),
    }

"""Presenting benchmark results: console text, docs/benchmarks.md and its plot."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.figures import Comparison, Limit
from benchmarks.kernel import SETTLE, TOP_LEVEL, KernelResults

__all__ = ["IMAGE", "Results", "environment", "markdown", "plot", "text"]

#: The sign after a ratio.
TIMES = "\u00d7"

#: The plot, relative to the docs directory.
IMAGE = "images/benchmark-results.png"

PACKAGES = [
    "ipython-arunner",
    "ipykernel",
    "ipython",
    "jupyter_client",
    "anyio",
    "nest-asyncio2",
    "uvloop",
]


@dataclass
class Results:
    """Everything one run measured, and where."""

    environment: dict[str, str]
    per_call_us: dict[str, float]
    comparisons: list[Comparison]
    #: Per-call overhead: rounds, and calls per method and round.
    rounds: int
    calls: int
    kernel: KernelResults | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.platform()}, {_cpu()}, {os.cpu_count()} cores",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "versions": ", ".join(f"{p} {_version(p)}" for p in PACKAGES),
    }


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _summary_rows(results: Results) -> list[tuple[str, str, str, str]]:
    comparisons = list(results.comparisons)
    limits: list[Limit] = []
    if results.kernel is not None:
        comparisons += results.kernel.comparisons
        limits += results.kernel.limits + results.kernel.click_limits
    rows = [
        (c.name, f"{c.ratio:.2f}{TIMES}", f"≤ {c.target:g}{TIMES}", _verdict(c.met))
        for c in comparisons
    ]
    rows += [
        (
            lim.name,
            f"{lim.value:.3g} {lim.unit}",
            f"≤ {lim.target:g} {lim.unit}",
            _verdict(lim.met),
        )
        for lim in limits
    ]
    return rows


def text(results: Results) -> str:
    """The console report."""
    env = results.environment
    lines = [env["python"], env["machine"], "", "per call (median, us):"]
    lines += [f"  {name:<42} {us:9.1f}" for name, us in results.per_call_us.items()]
    if results.kernel is not None:
        lines += ["", "interrupt to idle (median, ms):"]
        lines += [
            f"  {name:<42} {ms:9.1f}"
            for name, ms in results.kernel.interrupt_ms.items()
        ]
        lines += ["", "cell round trip (median, ms):"]
        lines += [
            f"  {name:<42} {ms:9.2f}"
            for name, ms in results.kernel.round_trip_ms.items()
        ]
        lines += ["", "widget click to the awaiting coroutine (median, p95, ms):"]
        lines += [
            f"  {name:<42} {ms['median']:9.1f} {ms['p95']:9.1f}"
            for name, ms in results.kernel.click_ms.items()
        ]
    lines += ["", "figures against their targets:"]
    lines += [
        f"  {name:<58} {value:>10}  ({target}: {verdict.strip('*')})"
        for name, value, target, verdict in _summary_rows(results)
    ]
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown(results: Results) -> str:
    """docs/benchmarks.md: figures, targets, environment and method."""
    env = results.environment
    lines = [
        "# Benchmarks",
        "",
        "How arunner compares with the other ways of running asyncio code from",
        "a notebook or a thread, measured side by side in one run. Regenerate",
        "this page with `nox -s bench` (`python -m benchmarks --docs docs`).",
        "",
        f"- **Date:** {env['date']}",
        f"- **Machine:** {env['machine']}",
        f"- **Python:** {env['python']}",
        f"- **Versions:** {env['versions']}",
        "",
        "## Figures against their targets",
        "",
        "A ratio is the method's time divided by its comparison's, so below",
        "1.0 means arunner is faster.",
        "",
        *_table(("figure", "measured", "target", ""), _summary_rows(results)),
        "",
        f"![Per-call overhead and interrupt-to-idle latency per method]({IMAGE})",
        "",
        "## Per-call overhead of `run(noop())`",
        "",
        *_table(
            ("method", "µs per call (median)"),
            [(f"`{name}`", f"{us:.1f}") for name, us in results.per_call_us.items()],
        ),
    ]
    if results.kernel is not None:
        lines += _kernel_sections(results.kernel)
    lines += ["", *_method(results)]
    return "\n".join(lines) + "\n"


def _endings(counts: dict[str, int]) -> str:
    """``KeyboardInterrupt` (15 of 15)``, or a mix of endings with counts."""
    total = sum(counts.values())
    return ", ".join(f"{ending} ({n} of {total})" for ending, n in counts.items())


def _kernel_sections(kernel: KernelResults) -> list[str]:
    sizes = kernel.sizes
    return [
        "",
        "## In a real kernel",
        "",
        "### Interrupt to idle",
        "",
        "From the interrupt request to the kernel reporting idle again, for a",
        "cell that waits 20 s (5 s under nest_asyncio: see below), interrupted",
        f"{SETTLE:g} s after it printed that it started. The last column counts",
        "how the cells ended; a lost interrupt counts with the time the cell",
        "took to end by itself. The `%%arun` cell prints `cleanup` in its",
        '`finally`; "after its cleanup" means that line came before the error.',
        "",
        *_table(
            ("cell", "ms (median)", "the cell ended with"),
            [
                (name, f"{ms:.1f}", _endings(kernel.endings[name]))
                for name, ms in kernel.interrupt_ms.items()
            ],
        ),
        "",
        "ipykernel's own top-level await does not react to the interrupt until",
        "the awaited call has finished, and then ends with `CancelledError`. It",
        f"is measured with a {sizes.top_level_sleep:g} s `asyncio.sleep` so that",
        "the run stays bounded: its figure is the rest of that sleep, and with a",
        "longer await it would be longer. (An interrupt that arrives within",
        "milliseconds of the cell's start can catch it before its loop waits",
        "and cancel it at once; a user's stop button practically never does.)",
        "Under nest_asyncio, `asyncio.run()` re-enters the loop in the kernel's",
        "own thread, so",
        "the interrupt raises KeyboardInterrupt wherever that thread happens to",
        "be, and now and then it is lost: the cell then runs on to the end of",
        "its sleep. That sleep is 5 s to bound the run, and such a sample counts",
        "with the time the user waited.",
        "",
        "### Round trip of a cell",
        "",
        "From the execute request to its reply, as the frontend sees it.",
        "",
        *_table(
            ("cell", "ms (median)"),
            [
                (f"`{name}`" if name.startswith("%") else name, f"{ms:.2f}")
                for name, ms in kernel.round_trip_ms.items()
            ],
        ),
        "",
        "### A widget click, to the coroutine that awaits it",
        "",
        "From the moment the client sends the comm message of a button click to",
        "the moment the cell's `await next_click(button)` returns, with the",
        "click sent at a random moment up to two of arunner's 50 ms wait slices",
        "after the cell started waiting. arunner handles the message at the next",
        "slice; ipykernel 7.4 serves comms itself while its own top-level await",
        "waits (ipykernel 6.29 does not: there the click arrives after the cell).",
        "",
        *_table(
            ("cell", "ms (median)", "ms (95th percentile)"),
            [
                (name, f"{ms['median']:.1f}", f"{ms['p95']:.1f}")
                for name, ms in kernel.click_ms.items()
            ],
        ),
        "",
        "### Scale",
        "",
        f"One fresh kernel makes {sizes.calls:,} `%arun asyncio.sleep(0)` calls",
        f"(from a loop in one cell), then starts {sizes.tasks:,} background tasks",
        "with `%arun -b` that stay alive, and lists them with `%arun --tasks`,",
        "rendering both the text and the HTML table, timed inside the kernel.",
        "With those tasks alive it starts the live monitor (`%arun --monitor`)",
        "and times one refresh that has a change to show (a task was just",
        "started): the snapshot, both renderings and the display update sent",
        "to the frontend, on the runner's loop thread.",
        "Memory is the kernel's resident set after a garbage collection;",
        "threads are the process's OS threads.",
        "",
        *_table(
            ("figure", "measured", "target"),
            [
                (
                    lim.name,
                    f"{lim.value:.3g} {lim.unit}",
                    f"≤ {lim.target:g} {lim.unit}",
                )
                for lim in kernel.limits
            ],
        ),
    ]


def _method(results: Results) -> list[str]:
    lines = [
        "## Method",
        "",
        "- The machine is shared and noisy, so no figure is a single timing. Each",
        "  method is sampled once per round; rounds interleave the methods, in",
        "  alternating order; a ratio is the median over rounds of the ratio",
        "  between the two methods' samples from the same round, and a time is",
        "  the median of its samples.",
        f"- Per-call overhead: {results.rounds} rounds, each making"
        f" {results.calls:,} calls",
        "  of `run(noop())` per method, all in one process. The thread engine is",
        "  compared with `asyncio.run_coroutine_threadsafe(...).result()`, anyio's",
        "  `BlockingPortal.call` and the bare hand-off that every loop-in-a-thread",
        "  design pays (`call_soon_threadsafe` setting a `threading.Event`).",
    ]
    if results.kernel is not None:
        sizes = results.kernel.sizes
        lines += [
            "- Kernels are real ipykernel processes started from a private",
            "  kernelspec through jupyter_client, with the helpers of the kernel",
            "  test tier. The interrupt goes through",
            f"  `KernelManager.interrupt_kernel()` {SETTLE:g} s after the cell has",
            f"  printed that it started; {sizes.interrupt_rounds} rounds, after one",
            "  warm-up interrupt each, and"
            f" {sizes.top_level_rounds} for the top-level await.",
            "  The nest_asyncio kernel has `nest_asyncio2.apply()` and no arunner.",
            f"- Round trips: {sizes.round_trip_rounds} rounds of"
            f" {sizes.cells_per_round} cells per",
            "  method; a round's sample is the median of its cells.",
            f"- Widget clicks: {sizes.clicks} rounds of one click per cell; the",
            "  cell prints `time.monotonic()` when it resumes, the clock the",
            "  client read when it sent the click.",
        ]
    lines += [
        "- The quick variant that runs with the tests (`nox -s bench-quick`)",
        "  makes a few hundred iterations and checks that every figure is",
        "  produced, never the speed.",
    ]
    return lines


def _label(name: str, results: Results) -> str:
    if name == TOP_LEVEL and results.kernel is not None:
        return (
            f"{name}\n(waits out its {results.kernel.sizes.top_level_sleep:g} s await)"
        )
    return name


def plot(results: Results, path: Path) -> None:
    """Per-call overhead and interrupt-to-idle latency per method, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[str, dict[str, float], str]] = [
        ("Per-call overhead of run(noop())", results.per_call_us, "µs per call"),
    ]
    if results.kernel is not None:
        panels.append(
            (
                "Interrupt to idle in a kernel",
                results.kernel.interrupt_ms,
                "ms (log scale)",
            )
        )
    figure, axes = plt.subplots(
        1, len(panels), figsize=(6.5 * len(panels), 3.6), squeeze=False
    )
    for axis, (title, values, unit) in zip(axes[0], panels, strict=True):
        names = [_label(name, results) for name in values]
        colours = ["tab:blue" if "arun" in name else "tab:gray" for name in names]
        bars = axis.barh(names, list(values.values()), color=colours)
        axis.bar_label(
            bars,
            labels=[f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in values.values()],
            padding=3,
            fontsize=8,
        )
        axis.invert_yaxis()
        axis.set_title(title)
        axis.set_xlabel(unit)
        if unit.endswith("(log scale)"):
            axis.set_xscale("log")
            axis.set_xlim(1, max(values.values()) * 5)
        axis.margins(x=0.25)
        axis.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)

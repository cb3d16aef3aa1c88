"""Presenting benchmark results: console text, docs/benchmarks.md and its plot.

Every figure is shown as the median of the runs and their spread, from the
lowest run to the highest (min-max), which is also what the verdict judges:
with five runs the quartiles would be little more than the second lowest
and the second highest.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks.figures import MET, MISSED, RATIO, UNSTEADY, Spread, across
from benchmarks.kernel import SETTLE, TOP_LEVEL, KernelResults
from benchmarks.overhead import COMPARISONS, FLOOR
from benchmarks.runs import Load, Summary

__all__ = ["IMAGE", "markdown", "plot", "text"]

#: The plot, relative to the docs directory.
IMAGE = "images/benchmark-results.png"

#: Between the lowest and the highest run.
TO = "\u2013"
MIN_MAX = f"min{TO}max"

#: How the page marks each verdict.
MARKED = {MET: MET, UNSTEADY: f"*{UNSTEADY}*", MISSED: f"**{MISSED}**"}


def _number(value: float, unit: str) -> str:
    return f"{value:.2f}" if unit == RATIO else f"{value:.3g}"


def _with_unit(number: str, unit: str) -> str:
    return f"{number}{RATIO}" if unit == RATIO else f"{number} {unit}"


def _median_and_range(spread: Spread, form: str) -> str:
    """``73.5 (61.0-98.2)``: the median of the runs, then the lowest and highest."""
    return f"{spread.median:{form}} ({spread.low:{form}}{TO}{spread.high:{form}})"


def _click_ms(spread: Spread) -> str:
    """A click's latency, or "never" for a wait that never resumed in time."""
    if math.isinf(spread.low):
        return "never during the cell"
    return _median_and_range(spread, ".1f")


def _load(load: Load) -> str:
    return ", ".join(f"{value:.2f}" for value in load)


def _summary_rows(summary: Summary) -> list[tuple[str, str, str, str, str]]:
    """Per judged figure: name, median, min-max, target, verdict."""
    return [
        (
            f.name,
            _with_unit(_number(f.spread.median, f.unit), f.unit),
            _with_unit(
                f"{_number(f.spread.low, f.unit)}{TO}{_number(f.spread.high, f.unit)}",
                f.unit,
            ),
            f"≤ {_with_unit(f'{f.target:g}', f.unit)}",
            f.verdict,
        )
        for f in summary.figures
    ]


def _tally(summary: Summary) -> str:
    """``12 met, 2 unsteady, 1 missed``."""
    counts = Counter(figure.verdict for figure in summary.figures)
    return ", ".join(f"{counts[verdict]} {verdict}" for verdict in MARKED)


def _where(summary: Summary) -> list[tuple[str, str]]:
    """What the figures ran on, and when: label and value."""
    env = summary.environment
    minutes, seconds = divmod(round(summary.seconds), 60)
    return [
        ("Date", env["date"]),
        ("Platform", env["platform"]),
        ("CPU", env["cpu"]),
        (
            "Load average (1, 5, 15 min)",
            f"{_load(summary.load_before)} before the first run,"
            f" {_load(summary.load_after)} after the last",
        ),
        (
            "Runs",
            f"{len(summary.runs)} independent processes, one after the other,"
            f" {minutes} min {seconds} s in all"
            + (" (quick: a few hundred iterations, not figures)" * summary.quick),
        ),
        ("Python", env["python"]),
        ("Versions", env["versions"]),
    ]


def _kernel_spreads(
    kernels: Sequence[KernelResults],
) -> tuple[dict[str, Spread], dict[str, Spread], dict[str, dict[str, Spread]]]:
    """Interrupt-to-idle and round-trip ms per cell; click median and p95 per cell."""
    clicks = {
        key: across([{n: ms[key] for n, ms in k.click_ms.items()} for k in kernels])
        for key in ("median", "p95")
    }
    return (
        across([k.interrupt_ms for k in kernels]),
        across([k.round_trip_ms for k in kernels]),
        {name: {key: clicks[key][name] for key in clicks} for name in clicks["median"]},
    )


def text(summary: Summary) -> str:
    """The console report."""
    runs = len(summary.runs)
    lines = [f"{label}: {value}" for label, value in _where(summary)]
    lines += [
        "load average (1 min) at each run's start: "
        + ", ".join(f"{run.load[0]:.2f}" for run in summary.runs),
        "",
        f"per call (us; median of {runs} runs, min-max):",
    ]
    lines += [
        f"  {name:<42} {_median_and_range(spread, '.1f')}"
        for name, spread in across([run.per_call_us for run in summary.runs]).items()
    ]
    if summary.kernels:
        interrupts, round_trips, clicks = _kernel_spreads(summary.kernels)
        lines += ["", "interrupt to idle (ms; median, min-max):"]
        lines += [
            f"  {name:<42} {_median_and_range(spread, '.1f')}"
            for name, spread in interrupts.items()
        ]
        lines += ["", "cell round trip (ms; median, min-max):"]
        lines += [
            f"  {name:<42} {_median_and_range(spread, '.2f')}"
            for name, spread in round_trips.items()
        ]
        lines += ["", "widget click to the awaiting coroutine (ms; median, p95):"]
        lines += [
            f"  {name:<42} {_click_ms(ms['median'])}  {_click_ms(ms['p95'])}"
            for name, ms in clicks.items()
        ]
    lines += ["", f"figures against their targets (median of {runs} runs, min-max):"]
    lines += [
        f"  {name:<58} {median:>10} {spread:>16}  ({target}: {verdict})"
        for name, median, spread, target, verdict in _summary_rows(summary)
    ]
    lines += ["", _tally(summary)]
    if summary.quick:
        lines.append("(quick: the verdicts do not decide the exit status)")
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown(summary: Summary) -> str:
    """docs/benchmarks.md: figures, targets, environment and method."""
    runs = len(summary.runs)
    lines = [
        "# Benchmarks",
        "",
        "How arunner compares with the other ways of running asyncio code from",
        "a notebook or a thread, measured side by side, and all of it again in",
        f"each of {runs} independent processes. Regenerate this page with",
        "`nox -s bench` (`python -m benchmarks --docs docs`), which fails when",
        "a target is missed.",
        "",
        *(f"- **{label}:** {value}" for label, value in _where(summary)),
        "",
        "## Figures against their targets",
        "",
        "A ratio is the method's time divided by its comparison's, so below",
        "1.0 means arunner is faster. Each figure was measured once in each",
        f"of the {runs} runs: the table gives the median of the runs and their",
        f"spread, from the lowest run to the highest ({MIN_MAX}). A target is",
        "met only when every run is within it; *unsteady* when the median is",
        "within it and some run is not; **missed** when the median is not.",
        "",
        *_table(
            ("figure", f"median of {runs} runs", MIN_MAX, "target", ""),
            [(*row[:4], MARKED[row[4]]) for row in _summary_rows(summary)],
        ),
        "",
        f"{_tally(summary).capitalize()}.",
        *_not_met(summary),
        "A missed target fails `nox -s bench`. An unsteady one does not: its",
        "median meets the target, and the runs that do not say that the noise",
        "of this machine is as large as the margin, which the page reports",
        "rather than proves either way. Failing on it would fail the session",
        "on where the scheduler put a thread, and teach everyone to ignore",
        "the failure.",
        "",
        f"![Per-call overhead and interrupt-to-idle latency per method]({IMAGE})",
        "",
        *_every_run(summary),
        "",
        "## Per-call overhead of `run(noop())`",
        "",
        f"Microseconds per call: the median of the {runs} runs' medians, and",
        "the lowest and highest run. The floor is the hand-off and wake-up",
        "that the thread engine itself makes, without a coroutine or a task",
        "(see Method).",
        "",
        *_table(
            ("method", f"µs per call, median ({MIN_MAX})"),
            [
                (f"`{name}`", _median_and_range(spread, ".1f"))
                for name, spread in across(
                    [run.per_call_us for run in summary.runs]
                ).items()
            ],
        ),
    ]
    if summary.kernels:
        lines += _kernel_sections(summary.kernels)
    lines += ["", *_method(summary)]
    return "\n".join(lines) + "\n"


def _not_met(summary: Summary) -> list[str]:
    """A line for each verdict other than met that some figure has."""
    return [
        f"{verdict.capitalize()}: "
        + "; ".join(f.name for f in summary.figures if f.verdict == verdict)
        + "."
        for verdict in (MISSED, UNSTEADY)
        if any(f.verdict == verdict for f in summary.figures)
    ]


def _every_run(summary: Summary) -> list[str]:
    """Each run's load and figures, in the order the runs were made."""
    header = ("", *(f"run {n}" for n in range(1, len(summary.runs) + 1)))
    rows = [
        (
            "load average (1 min) at its start",
            *(f"{run.load[0]:.2f}" for run in summary.runs),
        ),
        ("seconds it took", *(f"{run.seconds:.0f}" for run in summary.runs)),
    ]
    rows += [
        (
            figure.name,
            *(
                _with_unit(_number(v, figure.unit), figure.unit)
                for v in figure.spread.values
            ),
        )
        for figure in summary.figures
    ]
    return ["## Every run", "", *_table(header, rows)]


def _endings(counts: dict[str, int]) -> str:
    """``KeyboardInterrupt` (15 of 15)``, or a mix of endings with counts."""
    total = sum(counts.values())
    return ", ".join(f"{ending} ({n} of {total})" for ending, n in counts.items())


def _all_endings(kernels: Sequence[KernelResults]) -> dict[str, dict[str, int]]:
    """How the interrupted cells of every run ended: the counts added up."""
    added: dict[str, Counter[str]] = {}
    for kernel in kernels:
        for name, counts in kernel.endings.items():
            added.setdefault(name, Counter()).update(counts)
    return {name: dict(counts) for name, counts in added.items()}


def _kernel_sections(kernels: Sequence[KernelResults]) -> list[str]:
    sizes = kernels[0].sizes
    runs = len(kernels)
    interrupts, round_trips, clicks = _kernel_spreads(kernels)
    endings = _all_endings(kernels)
    return [
        "",
        "## In a real kernel",
        "",
        f"Milliseconds: the median of the {runs} runs' medians, and the lowest",
        "and highest run.",
        "",
        "### Interrupt to idle",
        "",
        "From the interrupt request to the kernel reporting idle again, for a",
        "cell that waits 20 s (5 s under nest_asyncio: see below), interrupted",
        f"{SETTLE:g} s after it printed that it started. The last column counts",
        "how the cells of all runs ended; a lost interrupt counts with the time",
        "the cell took to end by itself. The `%%arun` cell and the `--sync`",
        "cell around `asyncio.run()` print `cleanup` in their `finally`;",
        '"after its cleanup" means that line came before the error. The',
        "`--sync` cell blocked in `time.sleep` is the plain `time.sleep` cell",
        "with `%%arun --sync` as its first line.",
        "",
        *_table(
            ("cell", f"ms, median ({MIN_MAX})", "the cell ended with"),
            [
                (name, _median_and_range(spread, ".1f"), _endings(endings[name]))
                for name, spread in interrupts.items()
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
        "From the execute request to its reply, as the frontend sees it. The",
        "trivial plain cell (`x = 1`) runs in a kernel under `%arun --auto sync`,",
        "where it runs as a `%%arun --sync` cell, and in a kernel without",
        "arunner: their ratio is what `--auto sync` costs every plain cell.",
        "",
        *_table(
            ("cell", f"ms, median ({MIN_MAX})"),
            [
                (
                    f"`{name}`" if name.startswith("%") else name,
                    _median_and_range(spread, ".2f"),
                )
                for name, spread in round_trips.items()
            ],
        ),
        "",
        "### A widget click, to the coroutine that awaits it",
        "",
        "From the moment the client sends the comm message of a button click to",
        "the moment the cell's `await next_click(button)` returns, with the",
        "click sent at a random moment up to two of arunner's 50 ms wait slices",
        "after the cell started waiting. arunner handles the message as soon as",
        "it reaches the waiting thread; with `widget_events` off, the same wait",
        "has no help and the click arrives after the cell; ipykernel 7.4 serves",
        "comms itself while its own top-level await waits (ipykernel 6.29 does",
        "not: there the click arrives after the cell).",
        "",
        *_table(
            ("cell", f"median ms ({MIN_MAX})", f"95th percentile ms ({MIN_MAX})"),
            [
                (name, _click_ms(ms["median"]), _click_ms(ms["p95"]))
                for name, ms in clicks.items()
            ],
        ),
        "",
        "### Scale",
        "",
        f"One fresh kernel per run makes {sizes.calls:,} `%arun asyncio.sleep(0)`",
        f"calls (from a loop in one cell), then starts {sizes.tasks:,} background",
        "tasks with `%arun -b` that stay alive, and lists them with",
        "`%arun --tasks`, rendering both the text and the HTML table, timed",
        "inside the kernel. With those tasks alive it starts the live monitor",
        "(`%arun --monitor`) and times one refresh, which it makes every second",
        "while tasks live (their ages advance): the snapshot, both renderings",
        "and the display update sent to the frontend, on the runner's loop",
        "thread. Memory is",
        "the kernel's resident set after a garbage collection; threads are the",
        "process's OS threads. Their figures and targets are in the first table.",
    ]


def _floor_target() -> float:
    return next(c.target for c in COMPARISONS if c.baseline == FLOOR)


def _method(summary: Summary) -> list[str]:
    first = summary.runs[0]
    lines = [
        "## Method",
        "",
        f"- {len(summary.runs)} runs, one after the other, each a fresh process",
        "  (`python -m benchmarks --one-process FILE`) that measures every",
        "  figure on this page once. What holds for a whole process (where the",
        "  scheduler puts the caller's and the loop's threads on two cores, what",
        "  the other work on the machine is doing) differs from run to run, so",
        "  one run is never a figure.",
        "- Within a run the machine is still shared and noisy, so no figure is",
        "  a single timing either. Each method is sampled once per round;",
        "  rounds interleave the methods, in alternating order; a run's ratio",
        "  is the median over its rounds of the ratio between the two methods'",
        "  samples from the same round, and a run's time is the median of its",
        "  samples.",
        "- The load average is read before the first run, at the start of",
        "  each run and after the last. The benchmark itself keeps one or two",
        "  threads busy, so the load after the last run includes it; the load",
        "  before the first is the machine's other work.",
        f"- Per-call overhead: {first.rounds} rounds per run, each making"
        f" {first.calls:,}",
        "  calls of `run(noop())` per method. The thread engine is compared",
        "  with `asyncio.run_coroutine_threadsafe(...).result()`, anyio's",
        "  `BlockingPortal.call` and the floor: exactly the wake-up that the",
        "  thread engine waits for a run with, `loop.call_soon_threadsafe()` of",
        "  the release of a fresh `_thread.allocate_lock()` that the caller",
        "  holds and then acquires again, in 50 ms slices, as arunner does.",
        "  It runs no coroutine: on top of it a run creates a task, which",
        "  takes a turn of the loop to start and another for its done-callback",
        "  to release the lock, and that is what the ratio to the floor counts.",
        f"  The target of {_floor_target():g}{RATIO} dates from when the floor was a",
        "  `threading.Event` set on the loop, a slower wake-up than the bare",
        "  lock; it was kept when the floor became the real one.",
    ]
    if summary.kernels:
        sizes = summary.kernels[0].sizes
        lines += [
            "- Kernels are real ipykernel processes started from a private",
            "  kernelspec through jupyter_client, with the helpers of the kernel",
            "  test tier; each run starts its own. The interrupt goes through",
            f"  `KernelManager.interrupt_kernel()` {SETTLE:g} s after the cell has",
            f"  printed that it started; {sizes.interrupt_rounds} rounds per run,"
            " after one",
            "  warm-up interrupt each, and"
            f" {sizes.top_level_rounds} for the top-level await.",
            "  The nest_asyncio kernel has `nest_asyncio2.apply()` and no arunner.",
            "  The `--auto sync` kernel ran `%arun --auto sync` (and proved it with",
            "  a plain `asyncio.run()` cell); the kernel it is compared with never",
            "  loaded arunner. Both ran `import asyncio` and one `x = 1` first.",
            f"- Round trips: {sizes.round_trip_rounds} rounds of"
            f" {sizes.cells_per_round} cells per",
            "  method and run; a round's sample is the median of its cells.",
            f"- Widget clicks: {sizes.clicks} rounds of one click per cell and"
            " run; the",
            "  cell prints `time.monotonic()` when it resumes, the clock the",
            "  client read when it sent the click. The 95th percentile is each",
            "  run's own.",
        ]
    lines += [
        "- The quick variant that runs with the tests (`nox -s bench-quick`)",
        "  makes a few hundred iterations, in one run with the kernels and in",
        "  two without, and checks that every figure is produced and judged,",
        "  never the speed; its verdicts do not decide its exit status.",
    ]
    return lines


def _label(name: str, summary: Summary) -> str:
    if name == TOP_LEVEL and summary.kernels:
        seconds = summary.kernels[0].sizes.top_level_sleep
        return f"{name}\n(waits out its {seconds:g} s await)"
    return name


def plot(summary: Summary, path: Path) -> None:
    """Per-call overhead and interrupt-to-idle latency per method, as a PNG.

    A bar is the median of the runs; its whisker spans the lowest to the
    highest run.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[str, dict[str, Spread], str]] = [
        (
            "Per-call overhead of run(noop())",
            across([run.per_call_us for run in summary.runs]),
            "µs per call",
        ),
    ]
    if summary.kernels:
        panels.append(
            (
                "Interrupt to idle in a kernel",
                across([k.interrupt_ms for k in summary.kernels]),
                "ms (log scale)",
            )
        )
    figure, axes = plt.subplots(
        1, len(panels), figsize=(6.5 * len(panels), 3.6), squeeze=False
    )
    for axis, (title, spreads, unit) in zip(axes[0], panels, strict=True):
        names = [_label(name, summary) for name in spreads]
        middles = [spread.median for spread in spreads.values()]
        whiskers = [
            [s.median - s.low for s in spreads.values()],
            [s.high - s.median for s in spreads.values()],
        ]
        colours = ["tab:blue" if "arun" in name else "tab:gray" for name in names]
        axis.barh(
            names, middles, xerr=whiskers, color=colours, ecolor="black", capsize=3
        )
        for row, spread in enumerate(spreads.values()):  # past the whisker
            axis.annotate(
                f"{spread.median:,.0f}"
                if spread.median >= 100
                else f"{spread.median:.3g}",
                (spread.high, row),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        axis.invert_yaxis()
        axis.set_title(title)
        axis.set_xlabel(f"{unit}; median of {len(summary.runs)} runs, {MIN_MAX}")
        if unit.endswith("(log scale)"):
            axis.set_xscale("log")
            axis.set_xlim(1, max(s.high for s in spreads.values()) * 5)
        axis.margins(x=0.25)
        axis.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)

"""What every benchmark reports: ratios against a comparison, limits, verdicts.

The machine is shared and noisy, so a figure is never one timing.  Within
one process each method is sampled once per round, the rounds interleave
the methods (in alternating order, so neither side always runs first), and
a comparison is the median over rounds of the ratio between two methods'
samples from the same round: noise that slows a round slows both sides of
its ratio.

That is not enough on a machine with two cores and other work: where the
scheduler puts the caller's thread and the loop's thread can hold for a
whole process, and moves a ratio from one process to the next by more than
any target's margin.  So every figure is measured in several independent
processes (benchmarks/runs.py) and judged on its spread across them
(:func:`verdict`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

__all__ = [
    "MET",
    "MISSED",
    "RATIO",
    "UNSTEADY",
    "Comparison",
    "Judged",
    "Limit",
    "Spread",
    "across",
    "conclude",
    "judge",
    "medians",
    "missed",
    "sample_rounds",
    "verdict",
]

Samples = dict[str, list[float]]

#: Every run inside the target.
MET = "met"
#: The median inside the target, but not every run: the noise is as large
#: as the margin, and the figure proves nothing either way.
UNSTEADY = "unsteady"
#: The median outside the target.
MISSED = "missed"

#: The unit of a comparison's figure, the ratio.
RATIO = "\u00d7"


@dataclass
class Comparison:
    """A method, what it is compared with, and the target for their ratio."""

    name: str
    method: str
    baseline: str
    target: float
    #: The unit of the two methods' values (the ratio has none).
    unit: str = "us"
    ratio: float = float("nan")
    method_value: float = float("nan")
    baseline_value: float = float("nan")


@dataclass
class Limit:
    """An absolute figure (memory, threads, a duration) and its upper bound."""

    name: str
    value: float
    target: float
    unit: str


@dataclass(frozen=True)
class Spread:
    """One figure's values, one per independent run."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


def verdict(spread: Spread, target: float) -> str:
    """Judge an upper bound on the whole spread, not on one lucky run.

    ``met`` only when every run is within the target, ``missed`` when the
    median is not, and ``unsteady`` in between.
    """
    if spread.high <= target:
        return MET
    if spread.median <= target:
        return UNSTEADY
    return MISSED


@dataclass(frozen=True)
class Judged:
    """A figure across the runs, its target and the verdict on the two."""

    name: str
    spread: Spread
    target: float
    unit: str

    @property
    def verdict(self) -> str:
        return verdict(self.spread, self.target)


def missed(figures: Iterable[Judged]) -> list[Judged]:
    """The figures that fail the full benchmark: missed, not merely unsteady."""
    return [figure for figure in figures if figure.verdict == MISSED]


def across(runs: Sequence[Mapping[str, float]]) -> dict[str, Spread]:
    """Each name's values over the runs (the same names in each), in order."""
    return {name: Spread(tuple(run[name] for run in runs)) for name in runs[0]}


def _judged_as(figure: Comparison | Limit) -> tuple[float, str]:
    """The value a figure is judged on, and its unit."""
    if isinstance(figure, Comparison):
        return figure.ratio, RATIO
    return figure.value, figure.unit


def judge(runs: Sequence[Sequence[Comparison | Limit]]) -> list[Judged]:
    """The figures of every run, the same ones in each, against their targets."""
    spreads = across([{f.name: _judged_as(f)[0] for f in run} for run in runs])
    return [
        Judged(f.name, spreads[f.name], f.target, _judged_as(f)[1]) for f in runs[0]
    ]


def sample_rounds(rounds: int, samplers: dict[str, Callable[[], float]]) -> Samples:
    """Call every sampler once per round, alternating the order between rounds."""
    samples: Samples = {name: [] for name in samplers}
    order = list(samplers)
    for number in range(rounds):
        for name in order if number % 2 == 0 else reversed(order):
            samples[name].append(samplers[name]())
    return samples


def medians(samples: Samples, scale: float = 1.0) -> dict[str, float]:
    return {name: statistics.median(values) * scale for name, values in samples.items()}


def conclude(
    comparisons: Iterable[Comparison], samples: Samples, scale: float = 1.0
) -> list[Comparison]:
    """The comparisons whose two methods were both sampled, with their figures.

    ``scale`` converts samples (seconds) into the comparisons' unit.
    """
    middle = medians(samples, scale)
    return [
        replace(
            comparison,
            ratio=statistics.median(
                m / b
                for m, b in zip(
                    samples[comparison.method],
                    samples[comparison.baseline],
                    strict=True,
                )
            ),
            method_value=middle[comparison.method],
            baseline_value=middle[comparison.baseline],
        )
        for comparison in comparisons
        if comparison.method in samples and comparison.baseline in samples
    ]

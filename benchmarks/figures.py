"""What every benchmark reports: ratios against a comparison, and limits.

The machine is shared and noisy, so a figure is never one timing.  Each
method is sampled once per round, the rounds interleave the methods (in
alternating order, so neither side always runs first), and a comparison is
the median over rounds of the ratio between two methods' samples from the
same round: noise that slows a round slows both sides of its ratio.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

__all__ = ["Comparison", "Limit", "conclude", "medians", "sample_rounds"]

Samples = dict[str, list[float]]


@dataclass
class Comparison:
    """A method, what it is compared with, and the target for their ratio."""

    name: str
    method: str
    baseline: str
    target: float
    unit: str = "us"
    ratio: float = float("nan")
    method_value: float = float("nan")
    baseline_value: float = float("nan")

    @property
    def met(self) -> bool:
        return self.ratio <= self.target


@dataclass
class Limit:
    """An absolute figure (memory, threads, a duration) and its upper bound."""

    name: str
    value: float
    target: float
    unit: str

    @property
    def met(self) -> bool:
        return self.value <= self.target


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

"""The quick benchmark runs end to end and reports every figure (never the speed).

Run by ``nox -s bench-quick`` in the default test run, so that the
benchmark cannot rot between the occasional full runs.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import clicks, kernel, overhead
from benchmarks.report import IMAGE

pytestmark = [pytest.mark.benchmark, pytest.mark.kernel]

ROOT = Path(__file__).resolve().parent.parent

PER_CALL_METHODS = {
    "arunner inline",
    "asyncio.Runner.run",
    "arunner thread",
    "run_coroutine_threadsafe().result()",
    "call_soon_threadsafe + Event (floor)",
    "anyio BlockingPortal.call",
}
INTERRUPTED = {kernel.ARUN, kernel.SYNC, kernel.PLAIN, kernel.NEST, kernel.TOP_LEVEL}
ROUND_TRIPS = {
    *kernel.ROUND_TRIPS,
    kernel.NEST_ROUND_TRIP,
    *map(kernel.context_round_trip, kernel.CONTEXT_VARS),
}
COMPARISONS = [c.name for c in overhead.COMPARISONS + kernel.COMPARISONS]
CLICKS = {clicks.ARUN_CLICK, clicks.TOP_LEVEL_CLICK}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """``python -m benchmarks --quick``, as a user would run it."""
    out = tmp_path_factory.mktemp("bench")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--json",
            str(out / "results.json"),
            "--docs",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        timeout=280,
    )
    return json.loads((out / "results.json").read_text()), out


def finite(value: float) -> bool:
    return math.isfinite(value) and value >= 0


@pytest.mark.timeout(300)
def test_every_figure_is_measured(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    assert set(results["per_call_us"]) == PER_CALL_METHODS
    assert set(results["kernel"]["interrupt_ms"]) == INTERRUPTED
    assert set(results["kernel"]["round_trip_ms"]) == ROUND_TRIPS
    comparisons = results["comparisons"] + results["kernel"]["comparisons"]
    assert [c["name"] for c in comparisons] == COMPARISONS
    assert len(results["kernel"]["limits"]) == 6
    assert set(results["kernel"]["click_ms"]) == CLICKS
    assert len(results["kernel"]["click_limits"]) == 1
    values = [
        *results["per_call_us"].values(),
        *results["kernel"]["interrupt_ms"].values(),
        *results["kernel"]["round_trip_ms"].values(),
        *(
            c[key]
            for c in comparisons
            for key in ("ratio", "method_value", "baseline_value")
        ),
        *(limit["value"] for limit in results["kernel"]["limits"]),
        *(ms[key] for ms in results["kernel"]["click_ms"].values() for key in ms),
        results["kernel"]["click_limits"][0]["value"],
    ]
    assert all(map(finite, values)), values


def test_every_interrupted_cell_was_counted_and_arun_waited_for_its_cleanup(
    run: tuple[dict[str, Any], Path],
) -> None:
    """How the cells ended, which the report shows: every sample counted, and
    each %%arun cell stopped by its interrupt, with KeyboardInterrupt, only
    after its cleanup had printed.  (The others are not arunner's to promise.)"""
    results, _ = run
    sizes, endings = results["kernel"]["sizes"], results["kernel"]["endings"]
    assert {name: sum(counts.values()) for name, counts in endings.items()} == {
        kernel.ARUN: sizes["interrupt_rounds"],
        kernel.SYNC: sizes["interrupt_rounds"],
        kernel.PLAIN: sizes["interrupt_rounds"],
        kernel.NEST: sizes["interrupt_rounds"],
        kernel.TOP_LEVEL: sizes["top_level_rounds"],
    }
    for arun in (kernel.ARUN, kernel.SYNC):
        assert endings[arun] == {
            f"`KeyboardInterrupt`{kernel.AFTER_CLEANUP}": sizes["interrupt_rounds"]
        }


def test_the_page_and_the_plot_are_written(run: tuple[dict[str, Any], Path]) -> None:
    results, out = run
    page = (out / "benchmarks.md").read_text()
    for name in [*COMPARISONS, *PER_CALL_METHODS, *INTERRUPTED, *CLICKS]:
        assert name in page
    for limit in results["kernel"]["limits"] + results["kernel"]["click_limits"]:
        assert limit["name"] in page
    assert f"]({IMAGE})" in page
    assert (out / IMAGE).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

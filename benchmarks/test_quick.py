"""The quick benchmark runs end to end and reports every figure (never the speed).

Run by ``nox -s bench-quick`` in the default test run, so that the
benchmark cannot rot between the occasional full runs.  One quick run
measures everything, kernels included; two more, of the per-call overhead
only, prove the machinery of independent runs: separate processes, each
figure's spread over them, and the verdict on it.  The verdicts themselves
are tested on constructed numbers: no test here depends on a timing.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import clicks, kernel, overhead
from benchmarks.__main__ import main
from benchmarks.figures import (
    MET,
    MISSED,
    RATIO,
    UNSTEADY,
    Comparison,
    Judged,
    Limit,
    Spread,
    judge,
    missed,
    verdict,
)
from benchmarks.report import IMAGE, markdown
from benchmarks.runs import Results, Summary

pytestmark = [pytest.mark.benchmark, pytest.mark.kernel]

ROOT = Path(__file__).resolve().parent.parent

PER_CALL_METHODS = {
    "arunner inline",
    "asyncio.Runner.run",
    "arunner thread",
    "run_coroutine_threadsafe().result()",
    overhead.FLOOR,
    "anyio BlockingPortal.call",
}
INTERRUPTED = {
    kernel.ARUN,
    kernel.SYNC,
    kernel.SYNC_SLEEP,
    kernel.PLAIN,
    kernel.NEST,
    kernel.TOP_LEVEL,
}
ROUND_TRIPS = {
    *kernel.ROUND_TRIPS,
    kernel.NEST_ROUND_TRIP,
    kernel.AUTOSYNC_ROUND_TRIP,
    kernel.NO_ARUNNER_ROUND_TRIP,
    *map(kernel.context_round_trip, kernel.CONTEXT_VARS),
}
COMPARISONS = [c.name for c in overhead.COMPARISONS + kernel.COMPARISONS]
CLICKS = {clicks.ARUN_CLICK, clicks.NO_HELP_CLICK, clicks.TOP_LEVEL_CLICK}
#: The scale figures and the click's 95th percentile.
LIMITS = 7


def benchmark(out: Path, *options: str) -> dict[str, Any]:
    """``python -m benchmarks --quick``, as a user would run it; its JSON."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--json",
            str(out / "results.json"),
            *options,
        ],
        cwd=ROOT,
        check=True,
        timeout=280,
    )
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    return results


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One quick run of every figure, kernels included."""
    out = tmp_path_factory.mktemp("bench")
    return benchmark(out, "--runs", "1", "--docs", str(out)), out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two quick runs of the per-call overhead (no page: the other run writes one)."""
    return benchmark(
        tmp_path_factory.mktemp("bench-runs"), "--runs", "2", "--no-kernel"
    )


def finite(value: float) -> bool:
    return math.isfinite(value) and value >= 0


@pytest.mark.timeout(300)
def test_every_figure_is_measured(everything: tuple[dict[str, Any], Path]) -> None:
    summary, _ = everything
    [run] = summary["runs"]
    assert set(run["per_call_us"]) == PER_CALL_METHODS
    assert set(run["kernel"]["interrupt_ms"]) == INTERRUPTED
    assert set(run["kernel"]["round_trip_ms"]) == ROUND_TRIPS
    comparisons = run["comparisons"] + run["kernel"]["comparisons"]
    assert [c["name"] for c in comparisons] == COMPARISONS
    assert len(run["kernel"]["limits"]) == LIMITS - 1
    assert set(run["kernel"]["click_ms"]) == CLICKS
    assert len(run["kernel"]["click_limits"]) == 1
    values = [
        *run["per_call_us"].values(),
        *run["kernel"]["interrupt_ms"].values(),
        *run["kernel"]["round_trip_ms"].values(),
        *(
            c[key]
            for c in comparisons
            for key in ("ratio", "method_value", "baseline_value")
        ),
        *(limit["value"] for limit in run["kernel"]["limits"]),
        *(
            ms[key]
            for name, ms in run["kernel"]["click_ms"].items()
            if name != clicks.NO_HELP_CLICK
            for key in ms
        ),
        run["kernel"]["click_limits"][0]["value"],
    ]
    assert all(map(finite, values)), values
    # Without arunner's help the click reaches Python only after the cell.
    assert run["kernel"]["click_ms"][clicks.NO_HELP_CLICK] == {
        "median": math.inf,
        "p95": math.inf,
    }
    judged = [figure["name"] for figure in summary["figures"]]
    assert judged[: len(COMPARISONS)] == COMPARISONS
    assert len(judged) == len(COMPARISONS) + LIMITS


@pytest.mark.timeout(300)
def test_every_interrupted_cell_was_counted_and_arun_waited_for_its_cleanup(
    everything: tuple[dict[str, Any], Path],
) -> None:
    """How the cells ended, which the report shows: every sample counted,
    each %%arun cell stopped by its interrupt, with KeyboardInterrupt, only
    after its cleanup had printed, and the --sync cell blocked in time.sleep
    stopped with KeyboardInterrupt.  (The others are not arunner's to
    promise.)"""
    summary, _ = everything
    [run] = summary["runs"]
    sizes, endings = run["kernel"]["sizes"], run["kernel"]["endings"]
    assert {name: sum(counts.values()) for name, counts in endings.items()} == {
        kernel.ARUN: sizes["interrupt_rounds"],
        kernel.SYNC: sizes["interrupt_rounds"],
        kernel.SYNC_SLEEP: sizes["interrupt_rounds"],
        kernel.PLAIN: sizes["interrupt_rounds"],
        kernel.NEST: sizes["interrupt_rounds"],
        kernel.TOP_LEVEL: sizes["top_level_rounds"],
    }
    for arun in (kernel.ARUN, kernel.SYNC):
        assert endings[arun] == {
            f"`KeyboardInterrupt`{kernel.AFTER_CLEANUP}": sizes["interrupt_rounds"]
        }
    assert endings[kernel.SYNC_SLEEP] == {
        "`KeyboardInterrupt`": sizes["interrupt_rounds"]
    }


@pytest.mark.timeout(300)
def test_the_page_and_the_plot_are_written(
    everything: tuple[dict[str, Any], Path],
) -> None:
    summary, out = everything
    page = (out / "benchmarks.md").read_text()
    [run] = summary["runs"]
    for name in [*COMPARISONS, *PER_CALL_METHODS, *INTERRUPTED, *CLICKS]:
        assert name in page
    for limit in run["kernel"]["limits"] + run["kernel"]["click_limits"]:
        assert limit["name"] in page
    assert summary["environment"]["cpu"] in page
    assert "before the first run" in page
    assert "after the last" in page
    assert f"]({IMAGE})" in page
    assert (out / IMAGE).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.timeout(300)
def test_each_run_is_a_process_of_its_own(two_runs: dict[str, Any]) -> None:
    summary = two_runs
    pids = {run["pid"] for run in summary["runs"]}
    assert len(pids) == 2
    assert os.getpid() not in pids
    for run in summary["runs"]:
        assert run["kernel"] is None
        assert len(run["load"]) == 3


@pytest.mark.timeout(300)
def test_each_figure_is_judged_on_its_spread_over_the_runs(
    two_runs: dict[str, Any],
) -> None:
    summary = two_runs
    ratios = [
        {c["name"]: c["ratio"] for c in run["comparisons"]} for run in summary["runs"]
    ]
    assert [figure["name"] for figure in summary["figures"]] == [
        c.name for c in overhead.COMPARISONS
    ]
    for figure in summary["figures"]:
        values = tuple(run[figure["name"]] for run in ratios)
        assert figure["values"] == list(values)
        assert figure["median"] == pytest.approx(sum(values) / 2)
        assert figure["verdict"] == verdict(Spread(values), figure["target"])


def test_the_full_page_needs_five_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before anything is measured."""
    with pytest.raises(SystemExit) as refused:
        main(["--docs", str(tmp_path), "--runs", "4"])
    assert refused.value.code == 2
    assert "--runs" in capsys.readouterr().err
    assert not (tmp_path / "benchmarks.md").exists()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((0.6, 0.7, 0.8, 0.9, 0.95), MET),
        ((0.9, 1.0, 1.0, 1.0, 1.0), MET),  # on the target is within it
        ((0.5, 0.6, 0.7, 0.9, 1.4), UNSTEADY),  # one run out
        ((0.5, 0.6, 1.0, 1.2, 1.4), UNSTEADY),  # the median on the target
        ((0.5, 0.6, 1.1, 1.2, 1.4), MISSED),  # two runs in, the median out
        ((1.1, 1.2, 1.3, 1.4, 1.5), MISSED),
        ((1.2,), MISSED),
        ((0.4,), MET),
    ],
)
def test_a_target_is_met_only_when_every_run_is_within_it(
    values: tuple[float, ...], expected: str
) -> None:
    assert verdict(Spread(values), 1.0) == expected


def test_only_a_missed_target_fails_the_benchmark() -> None:
    figures = [
        Judged("in every run", Spread((0.5, 0.6)), 1.0, RATIO),
        Judged("in one run", Spread((0.5, 1.5)), 1.0, RATIO),
        Judged("in no run", Spread((2.0, 3.0)), 1.0, RATIO),
    ]
    assert [figure.verdict for figure in figures] == [MET, UNSTEADY, MISSED]
    assert missed(figures) == [figures[2]]


def test_figures_are_gathered_by_name_across_runs() -> None:
    def run(ratio: float, mb: float) -> list[Comparison | Limit]:
        return [
            Comparison("ratio", "a", "b", 1.0, ratio=ratio),
            Limit("memory", mb, 8, "MB"),
        ]

    judged = judge([run(0.5, 1.0), run(0.9, 9.0), run(1.2, 2.0)])
    assert judged == [
        Judged("ratio", Spread((0.5, 0.9, 1.2)), 1.0, RATIO),
        Judged("memory", Spread((1.0, 9.0, 2.0)), 8, "MB"),
    ]
    assert [figure.verdict for figure in judged] == [UNSTEADY, UNSTEADY]


@pytest.mark.timeout(300)
def test_the_page_adds_up_how_the_cells_of_every_run_ended(
    everything: tuple[dict[str, Any], Path],
) -> None:
    """Two runs read back from JSON, as the parent process reads them."""
    summary, _ = everything
    [data] = summary["runs"]
    runs = [Results.from_json(data), Results.from_json(data)]
    page = markdown(
        Summary(
            environment=summary["environment"],
            runs=runs,
            quick=True,
            load_before=(0.0, 0.0, 0.0),
            load_after=(0.0, 0.0, 0.0),
            seconds=1.0,
        )
    )
    rounds = 2 * data["kernel"]["sizes"]["interrupt_rounds"]
    assert f"{kernel.AFTER_CLEANUP} ({rounds} of {rounds})" in page
    assert "| run 1 | run 2 |" in page

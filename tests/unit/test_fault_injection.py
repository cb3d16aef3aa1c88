"""An interrupt at every step of close() and of the exit hook loses nothing.

For each step that closing executes (see tests/faults.py), a fresh runner
with two tasks, whose cleanup awaits, is closed while a SIGINT arrives at
that step.  Each time: every task's cleanup ran exactly once, or a warning
names the task; asyncio never says "Task was destroyed but it is pending";
and the runner is either closed (its loop too) or still works.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

import arunner
from arunner import runner as runner_module
from tests.faults import (
    AsyncioComplaints,
    Injector,
    Step,
    check_each_cleanup,
    describe,
)

MODES = ("inline", "thread")


async def worker(events: list[str]) -> None:
    try:
        await asyncio.sleep(60)
    finally:
        await asyncio.sleep(0.001)  # the cleanup has await points of its own
        await asyncio.sleep(0)
        events.append(asyncio.current_task().get_name())  # type: ignore[union-attr]


async def spawn(events: list[str]) -> None:
    tasks = [asyncio.create_task(worker(events), name=n) for n in ("w1", "w2")]
    await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)


@dataclass
class Outcome:
    events: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False


@pytest.fixture
def asyncio_complaints() -> Iterator[AsyncioComplaints]:
    with AsyncioComplaints() as complaints:
        yield complaints


def close_under(
    mode: str, target: Step | None, close: Callable[[arunner.Runner], None]
) -> tuple[Injector, Outcome, arunner.Runner]:
    """Start a runner with two workers, then ``close`` it with the injector armed."""
    outcome = Outcome()
    with (
        Injector(target, also_watch=[__file__]) as injector,
        warnings.catch_warnings(record=True) as said,
    ):
        warnings.simplefilter("always")
        runner = arunner.Runner(mode=mode, shutdown_timeout=2)  # type: ignore[arg-type]
        runner.run(spawn(outcome.events))
        try:
            injector.armed = True
            try:
                close(runner)
            finally:
                injector.armed = False
        except KeyboardInterrupt:
            outcome.interrupted = True
    outcome.warnings = [str(w.message) for w in said]
    return injector, outcome, runner


def closed(runner: arunner.Runner) -> bool:
    """Closed by close(), or its loop closed by the exit hook (the process ends)."""
    return runner.closed or runner.get_loop().is_closed()


def check(
    step: Step, injector: Injector, outcome: Outcome, runner: arunner.Runner
) -> None:
    where = f"interrupt at {describe(step)}"
    assert injector.fired, f"{where}: the step was not reached again"
    if not closed(runner):
        # Untouched by an interrupt before closing began: it must still work.
        assert runner.run(asyncio.sleep(0, "ok")) == "ok", where
        runner.close()
    check_each_cleanup(where, ("w1", "w2"), outcome.events, outcome.warnings)


def each_step(mode: str, close: Callable[[arunner.Runner], None]) -> list[Step]:
    dry, outcome, runner = close_under(mode, None, close)
    assert sorted(outcome.events) == ["w1", "w2"]
    assert not outcome.interrupted
    assert closed(runner)
    assert len(dry.steps) > 10, dry.steps
    return dry.steps


def run_every_step(
    mode: str, close: Callable[[arunner.Runner], None], complaints: AsyncioComplaints
) -> None:
    steps = each_step(mode, close)
    for step in steps:
        injector, outcome, runner = close_under(mode, step, close)
        check(step, injector, outcome, runner)
        complaints.check_none_destroyed_pending(f"interrupt at {describe(step)}")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", MODES)
def test_an_interrupt_at_every_step_of_close(
    mode: str, asyncio_complaints: AsyncioComplaints
) -> None:
    run_every_step(mode, arunner.Runner.close, asyncio_complaints)


def _exit_hook(runner: arunner.Runner) -> None:
    """What a kernel's shutdown runs: the exit hook closes every open engine."""
    runner_module._close_open_engines()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", MODES)
def test_an_interrupt_at_every_step_of_the_exit_hook(
    mode: str, asyncio_complaints: AsyncioComplaints, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hook closes every open engine: only this test's, not those earlier
    # tests left blocked on purpose for the real exit hook (the steps of
    # closing them would be in the dry run and never again).
    monkeypatch.setattr(runner_module, "_open_engines", {})
    run_every_step(mode, _exit_hook, asyncio_complaints)

"""An interrupt at every step of ``%arun --restart`` loses nothing.

The systematic injection of tests/faults.py, through IPython's real path:
the restart cell runs with ``run_cell``, which shows a KeyboardInterrupt as
the cell's error.  Each time: both tasks' cleanup ran exactly once (or a
warning names the task), "restarted the runner" is printed only when the
restart did not fail, and the next ``%arun`` works.
"""

from __future__ import annotations

import warnings

import pytest

import arunner
from tests.faults import Injector, Step, describe
from tests.shell.conftest import Shell

START_WORKERS = """\
%%arun
import asyncio
events = []

async def worker():
    try:
        await asyncio.sleep(60)
    finally:
        await asyncio.sleep(0.001)
        events.append(asyncio.current_task().get_name())

for name in ("w1", "w2"):
    asyncio.create_task(worker(), name=name)
await asyncio.sleep(0)
"""


def restart_under(
    shell: Shell, capsys: pytest.CaptureFixture[str], target: Step | None
) -> tuple[Injector, BaseException | None, str, list[str]]:
    shell.ok(START_WORKERS)
    shell.ns["old_runner"] = arunner.get_runner()
    capsys.readouterr()
    with (
        Injector(target) as injector,
        warnings.catch_warnings(record=True) as said,
    ):
        warnings.simplefilter("always")
        injector.armed = True
        try:
            result = shell.run("%arun --restart")
        finally:
            injector.armed = False
    return (
        injector,
        result.error_in_exec,
        capsys.readouterr().out,
        [str(w.message) for w in said],
    )


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_an_interrupt_at_every_step_of_restart(
    shell: Shell, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    shell.ok(f"%config ARunMagics.mode = {mode!r}")
    dry, error, out, _ = restart_under(shell, capsys, None)
    assert error is None
    assert "restarted the runner" in out
    assert sorted(shell.ns["events"]) == ["w1", "w2"]
    assert len(dry.steps) > 10
    for step in dry.steps:
        injector, error, out, said = restart_under(shell, capsys, step)
        where = f"interrupt at {describe(step)}"
        assert injector.fired, where
        if error is not None:
            assert isinstance(error, KeyboardInterrupt), f"{where}: {error!r}"
            # (the traceback quotes the source, so look at whole lines)
            said_restarted = any(
                line.startswith("restarted the runner") for line in out.splitlines()
            )
            assert not said_restarted, f"{where}: {out}"
        events = shell.ns["events"]
        if len(events) < 2 and not any("w1" in w or "w2" in w for w in said):
            # Interrupted before closing began: the old runner still runs.
            old = shell.ns["old_runner"]
            assert arunner.get_runner() is old, where
            assert not old.closed, where
            shell.ok("%arun --restart")
            events = shell.ns["events"]
        assert sorted(events) == ["w1", "w2"] or said, f"{where}: {events} {said}"
        assert len(events) == len(set(events)), f"{where}: {events}"
        assert shell.ok("%arun asyncio.sleep(0, 'ok')") == "ok", where

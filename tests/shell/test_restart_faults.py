"""An interrupt at every step of what closes the magic's runner loses nothing.

``%arun --restart``, a mode change (``%config ARunMagics.mode``) and
``%unload_ext arunner`` all close the runner.  The systematic injection of
tests/faults.py runs each through IPython's real path, ``run_cell``, with
the runner holding two tasks whose cleanup awaits, once per step they
execute.  Each time the old runner is either untouched, its tasks still
running (and the setting, for a mode change, still the old one), or closed,
each task's cleanup having run exactly once or a warning naming that task;
asyncio never says "Task was destroyed but it is pending"; an interrupted
action says which of the two it left, and never claims to have succeeded;
and the next ``%arun`` works.
"""

from __future__ import annotations

import gc
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pytest

import arunner
from arunner.magics import ARunMagics, _magics
from tests.faults import AsyncioComplaints, Injector, Step, check_each_cleanup, describe
from tests.shell.conftest import Shell

MODES = ("inline", "thread")

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

WORKERS = ("w1", "w2")

#: The steps of ARunMagics.close, where every action starts closing.  An
#: interrupt before it (the line's parsing, say) leaves the runner untouched
#: without a word; from there on the action says which state it left.
_LINES, _FIRST = inspect.getsourcelines(ARunMagics.close)
CLOSE_STEPS = {
    (inspect.getsourcefile(ARunMagics.close), line)
    for line in range(_FIRST, _FIRST + len(_LINES))
}


def other_mode(mode: str) -> str:
    return "thread" if mode == "inline" else "inline"


@dataclass(frozen=True)
class Action:
    """One way to close the runner, and what it leaves when it went well."""

    cell: Callable[[str], str]  # given the mode the runner is in
    went_well: Callable[[Shell, str, list[str]], bool]  # (shell, mode, lines)


def magics(shell: Shell) -> ARunMagics | None:
    return _magics(shell.ip)


ACTIONS = {
    "restart": Action(
        lambda mode: "%arun --restart",
        lambda shell, mode, lines: any(
            line.startswith("restarted the runner") for line in lines
        ),
    ),
    "mode-change": Action(
        lambda mode: f"%config ARunMagics.mode = {other_mode(mode)!r}",
        lambda shell, mode, lines: (
            getattr(magics(shell), "mode", None) == other_mode(mode)
        ),
    ),
    "unload": Action(
        lambda mode: "%unload_ext arunner",
        lambda shell, mode, lines: magics(shell) is None,
    ),
}


def restore(shell: Shell, mode: str) -> None:
    """arunner loaded again, in ``mode``, after an action that went through."""
    if magics(shell) is None:
        # An unload that finished although interrupted: IPython still lists it.
        shell.ip.extension_manager.loaded.discard("arunner")
        shell.ok("%load_ext arunner")
    if getattr(magics(shell), "mode", None) != mode:
        shell.ok(f"%config ARunMagics.mode = {mode!r}")


def check_attempt(
    shell: Shell,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    action: Action,
    target: Step | None,
    *,
    closing_began: bool = False,
) -> Injector:
    """Run ``action`` with an interrupt at ``target`` (none: a dry run); check it.

    ``closing_began``: the target is a step of closing (or later), so the
    action must say which state it left even if it left the runner untouched.
    """
    restore(shell, mode)
    shell.ok(START_WORKERS)
    old = arunner.get_runner()
    capsys.readouterr()
    with (
        AsyncioComplaints() as complaints,
        Injector(target) as injector,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        injector.armed = True
        try:
            result = shell.run(action.cell(mode))
        finally:
            injector.armed = False
        said = [str(w.message) for w in caught]
        lines = capsys.readouterr().out.splitlines()
        error = result.error_in_exec
        where = f"interrupt at {describe(target)}" if target else "dry run"
        if target is not None:
            assert injector.fired, f"{where}: the step was not reached again"
        assert error is None or isinstance(error, KeyboardInterrupt), (
            f"{where}: {error!r}"
        )
        # (a traceback quotes the source, so look at whole lines)
        told = [line for line in lines if line.startswith("interrupted ")]
        events = shell.ns["events"]
        if error is None:
            assert not told, f"{where}: {lines}"
            assert old.closed, where
            assert action.went_well(shell, mode, lines), f"{where}: {lines}"
            check_each_cleanup(where, WORKERS, events, said)
        elif old.closed:
            # It says the close was cut short, or it had finished (and said
            # so as it does) when the interrupt, which Python delivers at its
            # next check, surfaced.
            if told:
                assert len(told) == 1, f"{where}: {lines}"
                assert "the old runner is closed" in told[0], f"{where}: {told}"
                assert not any(line.startswith("restarted") for line in lines), where
            else:
                assert action.went_well(shell, mode, lines), f"{where}: {lines}"
            check_each_cleanup(where, WORKERS, events, said)
        else:
            assert len(told) == 1 if closing_began else len(told) <= 1, (
                f"{where}: {lines}"
            )
            assert all("the runner is untouched" in line for line in told), where
            # Fully working: its tasks still run, and nothing else changed.
            assert events == [], f"{where}: {events}"
            assert arunner.get_runner() is old, where
            if closing_began:  # (before it, a new setting may be left unapplied)
                assert getattr(magics(shell), "mode", None) == mode, where
            restore(shell, mode)
            shell.ok(action.cell(mode))
            assert sorted(shell.ns["events"]) == sorted(WORKERS), where
        complaints.check_none_destroyed_pending(where)
    restore(shell, mode)
    assert shell.ok("%arun asyncio.sleep(0, 'ok')") == "ok", where
    return injector


@pytest.mark.timeout(400)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("mode", MODES)
def test_an_interrupt_at_every_step_of_closing_the_magics_runner(
    shell: Shell, capsys: pytest.CaptureFixture[str], mode: str, action: str
) -> None:
    # A first attempt fills caches, whose steps would not come again.
    check_attempt(shell, capsys, mode, ACTIONS[action], None)
    steps = check_attempt(shell, capsys, mode, ACTIONS[action], None).steps
    assert len(steps) > 10, steps
    began = min(i for i, step in enumerate(steps) if step in CLOSE_STEPS)
    gc.freeze()  # the shell's many objects: each step's gc.collect() skips them
    try:
        for i, step in enumerate(steps):
            check_attempt(
                shell, capsys, mode, ACTIONS[action], step, closing_began=i >= began
            )
    finally:
        gc.unfreeze()

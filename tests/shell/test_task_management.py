"""Named background tasks, cells as origins and the monitor in a terminal shell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from tests.shell.conftest import Shell

SETUP = """
import asyncio
events = []

async def poller(label, cleanup=0):
    events.append(f"{label} started")
    try:
        await asyncio.sleep(60)
    finally:
        await asyncio.sleep(cleanup)
        events.append(f"{label} cleaned up")
"""


@pytest.fixture
def ready(shell: Shell) -> Shell:
    shell.ok(SETUP)
    return shell


def test_a_live_name_is_refused_and_replace_runs_the_old_cleanup_first(
    ready: Shell,
) -> None:
    first = ready.ok("%arun -b -n poller poller('first', 0.01)")
    error = ready.error("%arun -b -n poller poller('second')")
    assert isinstance(error, UsageError)
    started = ready.ip.execution_count - 2
    assert str(error).startswith(
        f"a task called 'poller' is still running (started by In[{started}]); "
        "add --replace"
    )
    ready.ok("%arun -b -n poller --replace poller('second')")
    assert first.cancelled()
    ready.ok("%arun asyncio.sleep(0)")
    assert ready.ns["events"] == ["first started", "first cleaned up", "second started"]


def test_replace_warns_when_the_old_cleanup_outlasts_the_shutdown_timeout(
    ready: Shell,
) -> None:
    ready.ok("%config ARunMagics.shutdown_timeout = 0.1")
    old = ready.ok("%arun -b -n slow poller('old', 30)")
    ready.ok("%arun asyncio.sleep(0)")  # the inline loop runs only during a run
    with pytest.warns(
        RuntimeWarning,
        match=r"the old task 'slow' did not finish its cleanup within 0\.1 s",
    ):
        ready.ok("%arun -b -n slow --replace poller('new')")
    ready.ok("%arun asyncio.sleep(0)")
    assert ready.ns["events"] == ["old started", "new started"]
    assert not old.done()  # still in its cleanup: closing the runner ends it


def test_replace_needs_a_name(ready: Shell) -> None:
    error = ready.error("%arun -b --replace poller('x')")
    assert isinstance(error, UsageError)
    assert "use it with -b -n NAME" in str(error)


def test_the_runs_own_main_task_is_not_listed(ready: Shell) -> None:
    seen = ready.ok(
        "%%arun\n"
        "async def look():\n"
        "    return get_ipython().run_line_magic('arun', '--tasks')\n"
        "await asyncio.create_task(look(), name='looker')\n"
    )
    assert [t.name for t in seen.tasks] == ["looker"]


def test_cancel_by_cell_in_a_terminal(ready: Shell) -> None:
    ready.ok("%%arun\nasyncio.create_task(poller('one'), name='one')")
    cell = ready.ip.execution_count - 1
    ready.ok("%arun -b -n other poller('other')")
    error = ready.error(f"%arun --cancel In[{cell + 5}]")
    assert isinstance(error, UsageError)
    assert str(error).startswith(f"no live task was started by In[{cell + 5}]")
    ready.ok(f"%arun --cancel In[{cell}]")
    assert [t.name for t in ready.ok("%arun --tasks").tasks] == ["other"]


def test_monitor_in_a_terminal_shows_the_table_once_and_says_why(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    ready.ok("%arun -b -n watched poller('watched')")
    capsys.readouterr()
    assert ready.ok("%arun --monitor") is None
    out = capsys.readouterr().out
    assert "watched" in out.splitlines()[2]
    assert "the live monitor needs a notebook" in out
    assert ready.ok(
        "%arun asyncio.sleep(0, [t.get_name() for t in asyncio.all_tasks()"
        " if t is not asyncio.current_task()])"
    ) == ["watched"]
    capsys.readouterr()
    ready.ok("%arun --monitor off")
    assert capsys.readouterr().out == "no task monitor is running\n"


def test_monitor_is_a_line_magic_action(ready: Shell) -> None:
    error = ready.error("%%arun --monitor\npass")
    assert "line magic" in str(error)
    assert "takes no code" in str(ready.error("%arun --monitor off poller('x')"))

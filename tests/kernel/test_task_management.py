"""Managing background tasks from a notebook: names, origins, the tree, the monitor.

Each test starts its tasks in cells of its own and reads what the notebook
user reads: the UsageError of a refused start, the rows of ``%arun
--tasks``, the display updates of ``%arun --monitor``.
"""

from __future__ import annotations

import re
from typing import Any

import ipykernel
import pytest

from tests.kernel.cells import ROUTES_BY_CONTEXT
from tests.kernel.conftest import Kernel, Reply
from tests.kernel.test_interleavings import needs_subshells

pytestmark = pytest.mark.kernel

SETUP = """import asyncio
events = []

async def parked():
    await asyncio.sleep(60)

async def poller(label):
    events.append(f"{label} started")
    try:
        await asyncio.sleep(60)
    finally:
        await asyncio.sleep(0.05)  # a cleanup that takes a few loop turns
        events.append(f"{label} cleaned up")
        print(f"{label} cleaned up", flush=True)
"""

#: The line of that cell where ``parked`` waits.
PARKED_LINE = 5

#: A few loop turns, in which each new task (and the tasks it starts at
#: once) reaches its first await.
TURNS = "%%arun\nfor _ in range(5):\n    await asyncio.sleep(0)\n"


@pytest.fixture(scope="module")
def setup(kernel: Kernel) -> Reply:
    return kernel.ok(SETUP)


@pytest.fixture(scope="module")
def nb(kernel: Kernel, setup: Reply) -> Kernel:
    return kernel


@pytest.fixture(autouse=True)
def _no_tasks_left(nb: Kernel) -> object:
    yield None
    nb.execute("%arun --cancel all")


def wait_for_cleanup(nb: Kernel, starting: Reply, running: Reply, text: str) -> None:
    """Wait until a task's cleanup has printed ``text``: under the cell that
    started the task, or before ipykernel 6.29 (one global parent) under
    the cell that was running or ran last when it printed."""
    if ROUTES_BY_CONTEXT:
        nb.wait_elsewhere(starting.msg_id, text)
    elif text not in running.stdout:
        nb.wait_elsewhere(running.msg_id, text)


def rows(reply: Reply) -> dict[str, list[str]]:
    """The rows of a --tasks table by task name (tree marks stripped)."""
    assert reply.result is not None, reply.outputs
    table = {}
    for line in reply.result.splitlines()[1:]:
        cells = re.split(r"\s{2,}", line.strip())
        table[cells[0].removeprefix("\u2514 ")] = cells
    return table


def test_a_second_task_of_a_name_is_refused_and_replace_waits_for_the_old_cleanup(
    nb: Kernel,
) -> None:
    first = nb.ok("%arun -b -n poller poller('first')")
    refused = nb.execute("%arun -b -n poller poller('second')")
    assert refused.status == "error"
    message = refused.stderr  # IPython shows a UsageError there
    assert message.startswith("UsageError: ")
    assert "a task called 'poller' is still running" in message
    assert f"started by In[{first.execution_count}]" in message
    assert "--replace" in message
    replacing = nb.ok("%arun -b -n poller --replace poller('second')")
    wait_for_cleanup(nb, first, replacing, "first cleaned up")
    assert nb.value("%arun asyncio.sleep(0, events)") == (
        "['first started', 'first cleaned up', 'second started']"
    )
    assert list(rows(nb.ok("%arun --tasks"))) == ["poller"]


def test_tasks_show_the_starting_cell_and_the_line_they_wait_on(
    nb: Kernel, setup: Reply
) -> None:
    spawner = nb.ok(
        "async def spawner():\n"
        "    await asyncio.sleep(0)\n"
        "    asyncio.create_task(parked(), name='grandchild')\n"
        "    await asyncio.sleep(60)\n"
    )
    in_cell = nb.ok(
        "%%arun\n"
        "asyncio.create_task(parked(), name='made-in-a-cell')\n"
        "asyncio.create_task(spawner(), name='spawner')\n"
    )
    background = nb.ok("%arun -b -n background parked()")
    nb.ok(TURNS)
    table = rows(nb.ok("%arun --tasks"))
    defined = f"parked (In[{setup.execution_count}], line {PARKED_LINE})"
    started = f"In[{in_cell.execution_count}]"
    assert table["made-in-a-cell"][3:] == [started, defined]
    assert table["spawner"][3:] == [
        started,
        f"spawner (In[{spawner.execution_count}], line 4)",
    ]
    assert table["grandchild"][3:] == [started, defined]
    assert table["background"][3:] == [f"In[{background.execution_count}]", defined]
    assert "ipykernel_" not in nb.ok("%arun --tasks").result  # no cache file paths


def test_a_gathered_child_and_a_group_member_are_shown_under_their_parent(
    nb: Kernel,
) -> None:
    nb.ok(
        "async def gathering():\n"
        "    await asyncio.gather(\n"
        "        asyncio.create_task(parked(), name='gathered-a'),\n"
        "        asyncio.create_task(parked(), name='gathered-b'),\n"
        "    )\n"
        "async def grouping():\n"
        "    async with asyncio.TaskGroup() as group:\n"
        "        group.create_task(parked(), name='member')\n"
    )
    nb.ok("%arun -b -n parked-alone parked()")
    nb.ok("%arun -b -n gathering gathering()")
    nb.ok("%arun -b -n grouping grouping()")
    nb.ok(TURNS)
    listing = nb.ok("%arun --tasks")
    names = [re.split(r"\s{2,}", line)[0] for line in listing.result.splitlines()[1:]]
    assert names == [
        "parked-alone",
        "gathering",
        "\u2514 gathered-a",
        "\u2514 gathered-b",
        "grouping",
        "\u2514 member",
    ]
    html = listing.outputs[-1]["content"]["data"]["text/html"]
    assert '<td style="text-align:left">\u2514 gathered-a</td>' in html


def test_cancel_by_cell_cancels_what_that_cell_started(nb: Kernel) -> None:
    first = nb.ok(
        "%%arun\n"
        "asyncio.create_task(poller('one'), name='one')\n"
        "asyncio.create_task(poller('two'), name='two')\n"
    )
    nb.ok("%arun -b -n other parked()")
    cancelled = nb.ok(f"%arun --cancel In[{first.execution_count}]")
    assert cancelled.stdout.startswith("cancelled 2 task(s): one, two\n")
    wait_for_cleanup(nb, first, cancelled, "two cleaned up")
    assert list(rows(nb.ok("%arun --tasks"))) == ["other"]
    nowhere = nb.execute(f"%arun --cancel In[{first.execution_count}]")
    assert nowhere.stderr.startswith(
        f"UsageError: no live task was started by In[{first.execution_count}]"
    )


def test_cancel_of_a_malformed_cell_says_it_looked_for_a_task_so_named(
    nb: Kernel,
) -> None:
    """In[abc] names no cell: the lookup was by name, and the error said
    "no live task was started by In[abc]"."""
    nb.ok("%arun -b -n other parked()")
    nowhere = nb.execute("%arun --cancel In[abc]")
    assert nowhere.stderr.startswith(
        "UsageError: no live task is called 'In[abc]', and In[abc] names no "
        "cell: write a cell as In[N] with its number, e.g. --cancel In[3] "
        "(live tasks: other)"
    )
    nb.ok("%arun -b -n In[abc] parked()")
    named = nb.ok("%arun --cancel In[abc]")
    assert named.stdout == "cancelled 1 task(s): In[abc]\n"


WAITS_IN_MAIN = """%%arun
print('main waiting', flush=True)
try:
    await asyncio.sleep(60)
    print('main resumed', flush=True)
finally:
    await asyncio.sleep(0)
    print('main cleaned up', flush=True)
"""


#: What closes the runner from a subshell, what it reports, and the cell
#: that puts things back for the next test.
CLOSES = {
    "restart": (
        "%arun --restart",
        "restarted the runner; cancelled 1 pending task(s): other",
        "pass",
    ),
    "config": (
        "%config ARunMagics.debug = True",
        "the runner was restarted and 1 pending task(s) were cancelled: other",
        "%config ARunMagics.debug = None",
    ),
    "unload": (
        "%unload_ext arunner",
        "arunner: cancelled 1 pending task(s): other",
        "%load_ext arunner",
    ),
}


@needs_subshells
@pytest.mark.parametrize("how", CLOSES)
def test_a_close_from_a_subshell_ends_the_waiting_cell_saying_why(
    nb: Kernel, how: str
) -> None:
    """The cell ended in a bare CancelledError, and the close's report
    named its hidden main task (Task-1) beside the user's."""
    closer, report, undo = CLOSES[how]
    nb.ok("%arun -b -n other parked()")
    in_main = nb.send(WAITS_IN_MAIN)
    nb.wait_elsewhere(in_main, "main waiting")
    closing = nb.send(closer, subshell_id=nb.create_subshell())
    said = "".join(
        m["content"].get("text", "") for m in nb.wait_idle_elsewhere(closing)
    )
    nb.ok(undo)
    assert report in said
    assert "Task-" not in said
    messages = nb.wait_idle_elsewhere(in_main)
    printed = "".join(m["content"].get("text", "") for m in messages)
    assert printed == "main waiting\nmain cleaned up\n"
    (error,) = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert (error["ename"], error["evalue"]) == (
        "RuntimeError",
        "Runner was closed while this run was waiting",
    )
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))
    assert "await asyncio.sleep(60)" in shown, shown


def display_id(reply: Reply) -> str:
    (shown,) = [m for m in reply.outputs if m["msg_type"] == "display_data"]
    return str(shown["content"]["transient"]["display_id"])


def test_the_monitor_updates_its_display_with_a_task_started_later_and_stops(
    nb: Kernel,
) -> None:
    monitor = nb.ok("%arun --monitor")
    shown = display_id(monitor)
    assert "live task monitor" in monitor.displays[0]
    assert "arunner-monitor" not in (nb.ok("%arun --tasks").result or "")
    later = nb.ok("%arun -b -n started-later parked()")
    update = nb.wait_display_update(shown, "started-later")
    assert f"In[{later.execution_count}]" in update["content"]["data"]["text/plain"]
    assert "started-later" in update["content"]["data"]["text/html"]
    if ipykernel.version_info >= (7,):  # 6.29 keeps the display's parent global
        assert update["parent_header"]["msg_id"] == monitor.msg_id
    assert nb.ok("%arun --monitor off").stdout == "task monitor stopped\n"
    nb.wait_display_update(shown, "stopped")
    assert (
        nb.value(
            "%arun asyncio.sleep(0, sorted(t.get_name() for t in asyncio.all_tasks()"
            " if t.get_name() == 'arunner-monitor'))"
        )
        == "[]"
    )
    assert nb.ok("%arun --monitor off").stdout == "no task monitor is running\n"


def ages_of(name: str, updates: list[dict[str, Any]]) -> list[float]:
    """The ages (in seconds) that the monitor's updates showed for task ``name``."""
    rows = (
        re.split(r"\s{2,}", line)
        for update in updates
        for line in update["content"]["data"]["text/plain"].splitlines()
    )
    return [float(row[2].removesuffix(" s")) for row in rows if row[0] == name]


def test_the_monitor_keeps_ages_current_while_a_task_lives(nb: Kernel) -> None:
    monitor = nb.ok("%arun --monitor")
    shown = display_id(monitor)
    nb.ok("%arun -b -n aging asyncio.sleep(60)")
    nb.wait_display_update(shown, "aging")
    seen = len(nb.display_updates)
    # Nothing about the task changes now but its age: the monitor still sends.
    nb.wait_display_update(shown, "aging", after=seen)
    updates = [
        m
        for m in nb.display_updates
        if m["content"]["transient"].get("display_id") == shown
    ]
    ages = ages_of("aging", updates)
    assert len(ages) >= 2
    assert ages == sorted(ages)
    assert ages[-1] > ages[0]
    captions = {m["content"]["data"]["text/plain"].splitlines()[0] for m in updates}
    assert len(captions) >= 2  # "updated HH:MM:SS" moves on too
    page = updates[-1]["content"]["data"]["text/html"]
    # A task that runs asyncio's code only is named as the user wrote it, not
    # by asyncio/tasks.py; JupyterLab right-aligns cells not aligned here.
    assert '<td style="text-align:left">asyncio.sleep</td>' in page
    assert "tasks.py" not in page
    assert '<td style="text-align:left">aging</td>' in page
    assert nb.ok("%arun --monitor off").stdout == "task monitor stopped\n"


def test_a_restart_stops_the_monitor(nb: Kernel) -> None:
    shown = display_id(nb.ok("%arun --monitor"))
    nb.ok("%arun --restart")
    nb.wait_display_update(shown, "stopped")
    assert nb.ok("%arun --monitor off").stdout == "no task monitor is running\n"

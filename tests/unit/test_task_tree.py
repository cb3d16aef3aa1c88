"""Who awaits whom, the task table's rows and the monitor, on a real runner."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import arunner
from arunner._monitor import Monitor
from arunner._tasks import TaskInfo, TaskTable, snapshot


async def parked() -> None:
    await asyncio.sleep(60)


@pytest.fixture
def runner() -> Iterator[arunner.Runner]:
    with arunner.Runner(mode="thread") as runner:
        yield runner


def tree(runner: arunner.Runner) -> list[tuple[int, str]]:
    return [(t.depth, t.name) for t in runner.tasks()]


def started(
    runner: arunner.Runner, **parents: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Start one task per keyword, then let them reach their first await."""

    async def start() -> None:
        tasks = [asyncio.create_task(make(), name=n) for n, make in parents.items()]
        for _ in range(5):  # loop turns: each task and child reaches its await
            await asyncio.sleep(0)
        assert not any(task.done() for task in tasks)

    runner.run(start())


def child(name: str) -> asyncio.Task[None]:
    return asyncio.create_task(parked(), name=name)


async def awaits_a_task() -> None:
    await child("awaited")


async def gathers() -> None:
    await asyncio.gather(child("a"), asyncio.gather(child("b"), child("c")))


async def groups() -> None:
    async with asyncio.TaskGroup() as group:
        group.create_task(parked(), name="member")
        await asyncio.sleep(60)  # the body still runs: members are nested already


async def shields() -> None:
    await asyncio.shield(child("shielded"))


async def waits() -> None:
    await asyncio.wait([child("waited")])


async def waits_for() -> None:
    await asyncio.wait_for(child("waited-for"), 60)


@pytest.mark.parametrize(
    ("parent", "children"),
    [
        (awaits_a_task, ["awaited"]),
        (gathers, ["a", "b", "c"]),
        (groups, ["member"]),
        (shields, ["shielded"]),
        (waits, ["waited"]),
        (waits_for, ["waited-for"]),
    ],
)
def test_an_awaited_task_is_listed_under_the_task_awaiting_it(
    runner: arunner.Runner,
    parent: Callable[[], Coroutine[Any, Any, None]],
    children: list[str],
) -> None:
    started(runner, alone=parked, parent=parent)
    assert tree(runner) == [(0, "alone"), (0, "parent"), *((1, c) for c in children)]


def test_nesting_goes_as_deep_as_the_awaits(runner: arunner.Runner) -> None:
    async def middle() -> None:
        await child("leaf")

    async def top() -> None:
        await asyncio.create_task(middle(), name="middle")

    started(runner, top=top)
    assert tree(runner) == [(0, "top"), (1, "middle"), (2, "leaf")]


def test_a_task_awaited_from_outside_the_loop_stays_at_the_top(
    runner: arunner.Runner,
) -> None:
    handle = runner.start(parked(), name="from-outside")
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.01)  # a done callback, but no task, waits
    assert tree(runner) == [(0, "from-outside")]


#: How the HTML table starts a text cell.
LEFT = '<td style="text-align:left">'


def info(name: str, depth: int = 0) -> TaskInfo:
    return TaskInfo(name, "pending", 1.0, "-", origin=3, depth=depth)


def test_the_table_indents_nested_tasks_in_text_and_html() -> None:
    table = TaskTable([info("parent"), info("child", 1), info("grandchild", 2)])
    widest = len("  \u2514 grandchild")
    names = [line[:widest].rstrip() for line in str(table).splitlines()[1:]]
    assert names == ["parent", "\u2514 child", "  \u2514 grandchild"]
    assert (
        f"{LEFT}\u00a0\u00a0\u2514 grandchild</td>{LEFT}pending</td>"
        in table._repr_html_()
    )
    assert f"{LEFT}In[3]</td>" in table._repr_html_()


def test_the_html_table_aligns_text_left_and_ages_right() -> None:
    # JupyterLab's stylesheet right-aligns every table cell.
    page = TaskTable([info("t")])._repr_html_()
    assert re.findall(r"<t[hd][ >]", page) == [*["<th "] * 5, *["<td "] * 5]
    aligned = re.findall(r'<t[hd] style="text-align:(\w+)">([^<]*)<', page)
    assert aligned == [
        ("left", "name"),
        ("left", "state"),
        ("right", "age"),
        ("left", "started in"),
        ("left", "suspended at"),
        ("left", "t"),
        ("left", "pending"),
        ("right", "1.0 s"),
        ("left", "In[3]"),
        ("left", "-"),
    ]


def test_a_task_that_runs_only_asyncio_is_named_by_its_function(
    runner: arunner.Runner,
) -> None:
    # Not asyncio/tasks.py with its install path and line: what the user wrote.
    runner.start(asyncio.sleep(60), name="bare")
    runner.start(asyncio.wait_for(parked(), 60), name="bounded")
    runner.call(lambda: None)  # a loop turn: each task reaches its first await
    where = {t.name: t.where for t in runner.tasks()}
    assert where["bare"] == "asyncio.sleep"
    nested = [t.where for t in runner.tasks() if t.depth == 1]
    if sys.version_info >= (3, 12):
        # wait_for awaits the coroutine itself: the task is in the user's frame.
        assert where["bounded"].split()[0] == "parked"
        assert nested == []
    else:
        # wait_for runs it in a task of its own, under the one it bounds.
        assert where["bounded"] == "asyncio.wait_for"
        assert [w.split()[0] for w in nested] == ["parked"]  # the user's frame


def test_a_limited_table_counts_the_rows_it_leaves_out() -> None:
    table = TaskTable([info(f"t{i}") for i in range(5)], caption="seen", limit=2)
    lines = str(table).splitlines()
    assert lines[0] == "seen"
    assert [line.split()[0] for line in lines[2:4]] == ["t0", "t1"]
    assert lines[4] == "... and 3 more (%arun --tasks lists every one)"
    assert "<caption>seen</caption>" in table._repr_html_()
    assert len(table) == 5


def test_the_monitor_publishes_while_tasks_live_and_stops_once(
    runner: arunner.Runner,
) -> None:
    published: list[TaskTable] = []
    monitor = Monitor(runner, 7, None)
    assert len(monitor.view()) == 0
    monitor.start(published.append, None)
    assert monitor.running
    assert runner.tasks() == []  # its own task is never listed
    assert not runner.call(monitor.refresh)  # no tasks: nothing to send
    handle = runner.start(parked(), name="appeared")
    assert runner.call(monitor.refresh)
    assert [t.name for t in published[-1].tasks] == ["appeared"]
    assert "live task monitor of In[7]" in published[-1].caption
    age = published[-1].tasks[0].age
    assert runner.call(monitor.refresh)  # the same task, older: its age is news
    assert published[-1].tasks[0].age > age  # type: ignore[operator]
    handle.cancel()
    with pytest.raises(asyncio.CancelledError):
        handle.result(timeout=5)
    assert runner.call(monitor.refresh)  # the last one went
    assert published[-1].tasks == []
    sent = len(published)
    assert not runner.call(monitor.refresh)  # and then nothing
    assert len(published) == sent
    assert monitor.stop()
    assert "stopped" in published[-1].caption
    assert not monitor.running
    assert not monitor.stop()


def test_closing_the_runner_stops_the_monitor() -> None:
    published: list[TaskTable] = []
    with arunner.Runner(mode="thread") as runner:
        monitor = Monitor(runner, 1, None)
        monitor.view()
        monitor.start(published.append, None)
    assert not monitor.running
    assert "stopped" in published[-1].caption
    assert not monitor.stop()


def test_a_snapshot_locates_only_the_rows_asked_for(runner: arunner.Runner) -> None:
    # The monitor shows so many rows; finding where the rest wait is wasted.
    started(runner, first=parked, second=parked, third=parked)
    rows = runner.call(lambda: snapshot(located=2))
    assert [t.name for t in rows] == ["first", "second", "third"]
    assert [t.where.split()[0] for t in rows[:2]] == ["parked", "parked"]
    assert rows[2].where == "..."
    assert runner.tasks()[2].where.startswith("parked")  # all, by default


async def two_stops(first: asyncio.Event) -> None:
    await first.wait()  # one task waits here...
    await asyncio.sleep(60)  # ...the other, released, here


def test_tasks_of_one_coroutine_at_different_lines_say_each_line(
    runner: arunner.Runner,
) -> None:
    # A snapshot names each code line once for all the tasks waiting there;
    # the same code at another line is another place.
    held, released = asyncio.Event(), asyncio.Event()
    released.set()
    started(runner, held=lambda: two_stops(held), released=lambda: two_stops(released))
    where = {t.name: t.where for t in runner.tasks()}
    line = two_stops.__code__.co_firstlineno
    assert where["held"].endswith(f":{line + 1})"), where
    assert where["released"].endswith(f":{line + 2})"), where

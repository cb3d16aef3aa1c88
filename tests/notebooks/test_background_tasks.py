"""background-tasks.ipynb: handles, output under the starting cell, the task table."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from nbformat import NotebookNode

from tests.notebooks.conftest import tour

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def nb(executed: Callable[[str], NotebookNode]) -> NotebookNode:
    return executed("background-tasks.ipynb")


def test_the_handle_comes_back_at_once_and_the_ticks_land_under_its_cell(
    nb: NotebookNode,
) -> None:
    started = tour.cell(nb, "start-ticker")
    assert tour.result(started) == "<BackgroundTask 'ticker' pending>"
    assert tour.stdout(started) == "tick 1\ntick 2\ntick 3\n"
    waited = tour.cell(nb, "ticker-result")
    assert tour.result(waited) == "'ticked 3 times'"
    assert tour.stdout(waited) == ""


def test_the_task_table_lists_the_heartbeat_as_text_and_html(
    nb: NotebookNode,
) -> None:
    table = tour.cell(nb, "task-table")
    text = tour.result(table)
    assert text is not None
    header, row = text.splitlines()
    assert header.split()[:3] == ["name", "state", "age"]
    assert row.split()[:2] == ["heartbeat", "pending"]
    (shown,) = [o for o in table.outputs if o.output_type == "execute_result"]
    assert '<table class="arunner-tasks">' in shown.data["text/html"]
    left = '<td style="text-align:left">'
    assert f"{left}heartbeat</td>{left}pending</td>" in shown.data["text/html"]


def test_cancel_stops_the_task_whose_cleanup_prints_under_its_own_cell(
    nb: NotebookNode,
) -> None:
    assert tour.stdout(tour.cell(nb, "cancel")) == "cancelled 1 task(s): heartbeat\n"
    assert tour.stdout(tour.cell(nb, "start-heartbeat")) == "heartbeat stopped\n"
    after = tour.cell(nb, "after-cancel")
    assert tour.stdout(after) == "<BackgroundTask 'heartbeat' cancelled>\n"
    assert tour.result(after) == "no live tasks"


def test_a_second_poller_of_a_name_is_refused_and_replace_stops_the_first(
    nb: NotebookNode,
) -> None:
    first = tour.cell(nb, "start-poller")
    refused = tour.cell(nb, "start-poller-again")
    (stderr,) = [o.text for o in refused.outputs if o.output_type == "stream"]
    assert stderr.startswith(
        "UsageError: a task called 'poller' is still running (started by "
        f"In[{first.execution_count}]); add --replace"
    )
    assert tour.stdout(first) == "poller of prices stopped\n"
    assert tour.stdout(tour.cell(nb, "replace-poller")) == ""


def test_the_table_shows_cells_lines_and_the_gathered_tasks_under_their_parent(
    nb: NotebookNode,
) -> None:
    started = tour.cell(nb, "start-fetchers")
    assert started.execution_count == 11  # as the notebook's text says
    text = tour.result(tour.cell(nb, "tree"))
    assert text is not None
    rows = [re.split(r"\s{2,}", line) for line in text.splitlines()[1:]]
    fetching = [row for row in rows if "fetch" in row[0]]
    assert [row[0] for row in fetching] == ["fetch-all", "└ fetch a", "└ fetch b"]
    assert {row[3] for row in fetching} == {"In[11]"}
    assert [row[4] for row in fetching] == [
        "fetch_all (In[11], line 6)",
        "fetch (In[11], line 2)",
        "fetch (In[11], line 2)",
    ]
    cancelled = tour.stdout(tour.cell(nb, "cancel-cell"))
    assert cancelled == "cancelled 3 task(s): fetch a, fetch b, fetch-all\n"


def test_the_monitor_cell_ends_showing_the_stopped_table(nb: NotebookNode) -> None:
    monitor = tour.cell(nb, "monitor")
    (shown,) = [o for o in monitor.outputs if o.output_type == "display_data"]
    text = shown.data["text/plain"]
    assert text.startswith(f"task monitor of In[{monitor.execution_count}] stopped")
    assert [line.split()[0] for line in text.splitlines()[2:]] == ["poller"]
    assert "<caption>task monitor of" in shown.data["text/html"]
    off = tour.stdout(tour.cell(nb, "monitor-off"))
    assert off == "task monitor stopped\ncancelled 1 task(s): poller\n"

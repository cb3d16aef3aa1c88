"""background-tasks.ipynb: handles, output under the starting cell, the task table."""

from __future__ import annotations

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
    assert "<td>heartbeat</td><td>pending</td>" in shown.data["text/html"]


def test_cancel_stops_the_task_whose_cleanup_prints_under_its_own_cell(
    nb: NotebookNode,
) -> None:
    assert tour.stdout(tour.cell(nb, "cancel")) == "cancelled 1 task(s): heartbeat\n"
    assert tour.stdout(tour.cell(nb, "start-heartbeat")) == "heartbeat stopped\n"
    after = tour.cell(nb, "after-cancel")
    assert tour.stdout(after) == "<BackgroundTask 'heartbeat' cancelled>\n"
    assert tour.result(after) == "no live tasks"

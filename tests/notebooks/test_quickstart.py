"""quickstart.ipynb shows what it says: values, a kept ContextVar, a clean interrupt."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from nbformat import NotebookNode

from tests.notebooks.conftest import tour

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def nb(executed: Callable[[str], NotebookNode]) -> NotebookNode:
    return executed("quickstart.ipynb")


def test_arun_returns_the_value_and_arun_cell_displays_it(nb: NotebookNode) -> None:
    assert tour.result(tour.cell(nb, "arun-expression")) == "42"
    assert tour.result(tour.cell(nb, "arun-cell")) == "[2, 4, 6]"


def test_context_var_set_after_an_await_is_seen_by_the_next_cell(
    nb: NotebookNode,
) -> None:
    assert tour.stdout(tour.cell(nb, "context-set")) == "user is ada\n"
    assert tour.result(tour.cell(nb, "context-next-cell")) == "'ada'"


def test_the_interrupt_cancels_the_sleep_runs_cleanup_then_keyboard_interrupt(
    nb: NotebookNode,
) -> None:
    interrupted = tour.cell(nb, "interrupt")
    error = tour.error(interrupted)
    assert error is not None
    assert error.ename == "KeyboardInterrupt"
    started, cleanup = tour.stdout(interrupted).splitlines()
    assert started == "sleeping for 30 s..."
    assert cleanup.startswith("cleanup ran ")  # and "woke up" never printed
    assert tour.interrupt_to_cleanup(nb) < 5  # not the 30 s of the sleep


def test_after_the_interrupt_the_runner_works_and_the_context_var_survived(
    nb: NotebookNode,
) -> None:
    assert tour.result(tour.cell(nb, "context-survived")) == "'ada'"
    status = tour.stdout(tour.cell(nb, "status"))
    assert "engine:           thread" in status
    assert "tasks:            0" in status

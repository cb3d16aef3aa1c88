"""quickstart.ipynb shows what it says: values, a kept ContextVar, a stop, --sync."""

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


def test_sync_runs_a_library_that_calls_asyncio_run_in_the_kernels_thread(
    nb: NotebookNode,
) -> None:
    assert tour.error(tour.cell(nb, "sync-library")) is None
    assert tour.result(tour.cell(nb, "sync-cell")) == "42"


def test_auto_sync_runs_plain_cells_as_scripts_and_await_cells_on_the_runner(
    nb: NotebookNode,
) -> None:
    said = tour.stdout(tour.cell(nb, "auto-sync"))
    assert said.startswith("autoawait routing on, and plain cells run as scripts")
    # A plain cell calling asyncio.run() inside: it would fail without --sync.
    assert tour.result(tour.cell(nb, "auto-sync-plain")) == "10"
    assert tour.result(tour.cell(nb, "auto-sync-await")) == "6"
    assert tour.stdout(tour.cell(nb, "auto-off")).startswith("autoawait routing off")


def test_the_opening_names_sync_and_auto_sync(nb: NotebookNode) -> None:
    opening = tour.cell(nb, "title").source
    assert "`%%arun --sync`" in opening
    assert "`%arun --auto sync`" in opening

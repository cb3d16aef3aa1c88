"""migrating.ipynb: what fails without arunner fails, and the arunner way works."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from nbformat import NotebookNode

from tests.notebooks.conftest import tour

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def nb(executed: Callable[[str], NotebookNode]) -> NotebookNode:
    return executed("migrating.ipynb")


@pytest.mark.parametrize("cell_id", ["library-plain", "asyncio-run"])
def test_asyncio_run_fails_in_a_notebook_called_by_a_library_or_not(
    nb: NotebookNode, cell_id: str
) -> None:
    error = tour.error(tour.cell(nb, cell_id))
    assert error is not None
    assert error.ename == "RuntimeError"
    assert "cannot be called from a running event loop" in error.evalue


def test_plain_top_level_await_loses_the_context_var(nb: NotebookNode) -> None:
    assert tour.stdout(tour.cell(nb, "plain-await-set")) == "request_id is 42\n"
    assert tour.result(tour.cell(nb, "plain-await-lost")) == "'unset'"


def test_arun_replaces_asyncio_run_and_keeps_the_context_var(
    nb: NotebookNode,
) -> None:
    assert tour.result(tour.cell(nb, "arun-main")) == "'done'"
    assert tour.stdout(tour.cell(nb, "arun-set")) == "request_id is 42\n"
    assert tour.result(tour.cell(nb, "arun-kept")) == "'42'"
    # One context for plain and %arun cells: the plain cell sees it too.
    assert tour.result(tour.cell(nb, "plain-kept")) == "'42'"


def test_the_notebook_leads_with_sync_and_leaves_nest_mode_for_the_kernels_loop(
    nb: NotebookNode,
) -> None:
    opening = tour.cell(nb, "title").source
    rows = [line for line in opening.splitlines() if line.startswith("|")][2:]
    assert "%load_ext arunner" in rows[0]
    assert "%%arun --sync" in rows[1]  # the first replacement offered
    sections = [c.id for c in nb.cells if c.cell_type == "markdown"]
    assert sections.index("library-md") < sections.index("arun-main-md")
    changes = tour.cell(nb, "nest-md").source.split("What changes:")[1]
    bullets = [b for b in changes.split("\n* ") if b.strip()]
    assert "%%arun --sync" in bullets[0]
    assert 'mode="nest"' in bullets[-1]


def test_an_object_bound_to_the_loop_works_in_the_next_cell(
    nb: NotebookNode,
) -> None:
    assert tour.result(tour.cell(nb, "queue-get")) == "'made in one cell'"


def test_library_code_calling_asyncio_run_works_with_sync(
    nb: NotebookNode,
) -> None:
    assert tour.error(tour.cell(nb, "library")) is None
    assert tour.result(tour.cell(nb, "library-sync")) == "'done'"
    assert tour.result(tour.cell(nb, "library-line")) == "'done'"


def test_the_stop_button_cancels_the_loop_a_library_started(
    nb: NotebookNode,
) -> None:
    interrupted = tour.cell(nb, "library-interrupt")
    error = tour.error(interrupted)
    assert error is not None
    assert error.ename == "KeyboardInterrupt"
    assert tour.stdout(interrupted) == "the library cleaned up\n"

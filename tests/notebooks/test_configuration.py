"""configuration.ipynb: each mode and the loop factory do what the notebook says."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from nbformat import NotebookNode

from tests.notebooks.conftest import tour

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def nb(executed: Callable[[str], NotebookNode]) -> NotebookNode:
    return executed("configuration.ipynb")


def status(nb: NotebookNode, cell_id: str) -> dict[str, str]:
    """The ``%arun --status`` lines of a cell as {field: value}."""
    lines = tour.stdout(tour.cell(nb, cell_id)).splitlines()
    return {k.strip(): v.strip() for k, v in (li.split(":", 1) for li in lines)}


def test_auto_picks_the_thread_engine_in_a_kernel(nb: NotebookNode) -> None:
    found = status(nb, "auto-status")
    assert found["mode"] == "auto"
    assert found["engine"] == "thread"
    assert found["thread"].startswith("arunner-loop-")


def test_thread_mode_runs(nb: NotebookNode) -> None:
    assert tour.result(tour.cell(nb, "thread")) == "'ran in the loop thread'"


def test_loop_factory_gives_uvloop_to_the_magic_and_to_runner(
    nb: NotebookNode,
) -> None:
    found = status(nb, "uvloop")
    assert found["loop"] == "uvloop.Loop"
    assert found["mode"] == "thread"
    printed = tour.stdout(tour.cell(nb, "runner"))
    assert printed == "<class 'uvloop.Loop'> in the thread engine\n"


def test_inline_mode_in_a_kernel_gives_the_documented_runtime_error(
    nb: NotebookNode,
) -> None:
    error = tour.error(tour.cell(nb, "inline-error"))
    assert error is not None
    assert error.ename == "RuntimeError"
    assert "cannot be called from a running event loop" in error.evalue

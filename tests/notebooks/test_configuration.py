"""configuration.ipynb: each mode and the loop factory do what the notebook says."""

from __future__ import annotations

import importlib.util
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


#: The kernel runs in this environment: the notebooks session has no uvloop,
#: as after a plain ``pip install ipython-arunner``; the docs build has it.
HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


@pytest.mark.skipif(not HAVE_UVLOOP, reason="uvloop is not installed here")
def test_loop_factory_gives_uvloop_to_the_magic_and_to_runner(
    nb: NotebookNode,
) -> None:
    found = status(nb, "uvloop")
    assert found["loop"] == "uvloop.Loop"
    assert found["mode"] == "thread"
    printed = tour.stdout(tour.cell(nb, "runner"))
    assert printed == "<class 'uvloop.Loop'> in the thread engine\n"


@pytest.mark.skipif(HAVE_UVLOOP, reason="uvloop is installed here")
def test_without_uvloop_its_cells_say_how_to_get_it_and_the_rest_runs(
    nb: NotebookNode,
) -> None:
    assert tour.stdout(tour.cell(nb, "uvloop")) == (
        "uvloop is not installed: skipped, the runner keeps asyncio's own loop.\n"
        "To try it: pip install uvloop (in this kernel's environment), then run\n"
        "this cell again.\n"
    )
    printed = tour.stdout(tour.cell(nb, "runner"))  # asyncio's own loop
    assert printed.startswith("<class 'asyncio.")
    assert printed.endswith("EventLoop'> in the thread engine\n")
    # Every cell ran, and none failed but the one tagged to (see test_notebooks).
    assert tour.error(tour.cell(nb, "inline-error")) is not None


def test_inline_mode_in_a_kernel_gives_the_documented_runtime_error(
    nb: NotebookNode,
) -> None:
    error = tour.error(tour.cell(nb, "inline-error"))
    assert error is not None
    assert error.ename == "RuntimeError"
    assert "cannot be called from a running event loop" in error.evalue

"""Every notebook: the five the docs render, committed clean, executed clean."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode

from tests.notebooks.conftest import tour

pytestmark = pytest.mark.kernel

NAMES = [
    "background-tasks.ipynb",
    "configuration.ipynb",
    "migrating.ipynb",
    "quickstart.ipynb",
    "widgets.ipynb",
]


def test_exactly_the_five_notebooks_the_docs_render() -> None:
    assert sorted(p.name for p in tour.NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_committed_valid_and_without_outputs(name: str) -> None:
    notebook = nbformat.read(tour.NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: cell {cell.id} has outputs"
            assert cell.execution_count is None, f"{name}: cell {cell.id}"


@pytest.mark.parametrize("name", NAMES)
def test_runs_in_a_fresh_kernel_failing_only_where_tagged_and_silent_on_stderr(
    executed: Callable[[str], NotebookNode], name: str
) -> None:
    """nbclient stops at an untagged error; a tagged cell must really fail.

    Nothing may print to stderr either: a warning in a notebook is a bug a
    reader would see.  The one exception is a tagged cell's UsageError,
    which IPython shows on stderr rather than as an error.
    """
    notebook = executed(name)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"{name}: {cell.id} did not run"
        expected_to_fail = "raises-exception" in cell.metadata.get("tags", [])
        stderr = [o.text for o in cell.outputs if o.get("name") == "stderr"]
        usage_error = expected_to_fail and [s[:12] for s in stderr] == ["UsageError: "]
        failed = tour.error(cell) is not None or usage_error
        assert failed == expected_to_fail, cell.id
        if not usage_error:
            assert stderr == [], f"{name}: {cell.id} wrote to stderr: {stderr}"


def test_the_tour_reports_the_interrupt_and_the_context_and_writes_html(
    executed: Callable[[str], NotebookNode],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notebook = executed("quickstart.ipynb")
    html = tour.report(notebook, tmp_path)
    out = capsys.readouterr().out
    assert "%%arun\n" in out
    assert "   | cleanup ran " in out
    assert "   | KeyboardInterrupt" in out
    seconds = tour.interrupt_to_cleanup(notebook)
    assert f"interrupt -> cleanup:      {seconds * 1000:.1f} ms" in out
    assert "ContextVar that survived:  user = 'ada'\n" in out
    assert f"executed notebook (HTML):  {html}\n" in out
    page = html.read_text(encoding="utf-8")
    assert "<html" in page
    assert "cleanup ran" in page
    assert "KeyboardInterrupt" in page

"""nbclient (``jupyter nbconvert --execute``, papermill) with interrupt_on_timeout."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

from tests.kernel.conftest import KERNEL_NAME

pytestmark = pytest.mark.kernel

#: Long enough for the cell to print "started" on a busy machine, far less
#: than the sleep it interrupts.
CELL_TIMEOUT = 5

SLEEPER = """%%arun
try:
    print("started", flush=True)
    await asyncio.sleep(60)
    print("resumed")
finally:
    pathlib.Path({path!r}).write_text("cleanup ran")
"""


def _outputs(cell: NotebookNode, output_type: str) -> list[NotebookNode]:
    return [o for o in cell.outputs if o.output_type == output_type]


def test_a_cell_interrupted_on_timeout_cleans_up_and_the_next_cell_runs(
    jupyter_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    cleanup = tmp_path / "cleanup.txt"
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%load_ext arunner\nimport asyncio, pathlib"),
            nbformat.v4.new_code_cell(SLEEPER.format(path=str(cleanup))),
            nbformat.v4.new_code_cell("%arun asyncio.sleep(0, 'next ran')"),
        ]
    )
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout_func=lambda cell: CELL_TIMEOUT if "sleep(60)" in cell.source else 60,
        interrupt_on_timeout=True,
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    begin = time.monotonic()
    client.execute()
    assert time.monotonic() - begin < 45  # not the 60 s of the sleep
    _, sleeper, after = notebook.cells
    printed = "".join(o.text for o in _outputs(sleeper, "stream"))
    assert printed == "started\n"  # it started, and did not resume
    assert [o.ename for o in _outputs(sleeper, "error")] == ["KeyboardInterrupt"]
    assert cleanup.read_text() == "cleanup ran"
    assert _outputs(after, "execute_result")[0].data["text/plain"] == "'next ran'"

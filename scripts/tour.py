#!/usr/bin/env python3
"""The tour: run the quickstart notebook in a fresh kernel and show what happened.

Prints every cell with its output, then the two facts the quickstart is
about: how long after the interrupt the cleanup ran, and the ContextVar
that survived it.  Writes the executed notebook as HTML (``out/`` by
default).  ``python3 scripts/dev.py demo`` runs it through ``nox -s demo``;
tests/notebooks executes the notebooks with the same client.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete
from nbclient.util import ensure_async
from nbconvert import HTMLExporter
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parent.parent
#: In the package, so that ``python -m arunner notebooks`` can copy them out.
NOTEBOOKS = ROOT / "src" / "arunner" / "notebooks"
QUICKSTART = NOTEBOOKS / "quickstart.ipynb"

#: Bound on any one cell; the slowest cell of any notebook takes a second.
CELL_TIMEOUT = 60

#: The quickstart's cells whose outputs the tour reports (their cell ids).
INTERRUPT_CELL = "interrupt"
SURVIVED_CELL = "context-survived"

_CLEANUP = re.compile(r"cleanup ran ([0-9.]+) s after the interrupt")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OUTPUT_TYPES = {
    "stream",
    "display_data",
    "update_display_data",
    "execute_result",
    "error",
}


class FrontendClient(NotebookClient):
    """nbclient that files output under the cell it belongs to, as JupyterLab does.

    nbclient keeps only the output of the cell being executed; output whose
    parent is an earlier cell (a background task printing under the cell
    that started it) is dropped.  A notebook frontend shows it under that
    earlier cell, and so does this client.  It overrides nbclient's
    private output loop; should that change, the background-task notebook's
    tests miss the output under its cell and say so.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cells_by_msg_id: dict[str, tuple[NotebookNode, int]] = {}

    async def _async_poll_output_msg(
        self, parent_msg_id: str, cell: NotebookNode, cell_index: int
    ) -> None:
        assert self.kc is not None
        self._cells_by_msg_id[parent_msg_id] = (cell, cell_index)
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            parent = msg["parent_header"].get("msg_id")
            if parent == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return
            elif parent in self._cells_by_msg_id and msg["msg_type"] in _OUTPUT_TYPES:
                self.process_message(msg, *self._cells_by_msg_id[parent])


def execute(path: Path, kernel_log: Path) -> NotebookNode:
    """Execute the notebook at ``path`` in a fresh kernel of this interpreter.

    An empty kernel path leaves only ipykernel's built-in spec for
    ``sys.executable``, so no user-wide "python3" kernelspec can stand in.
    What the kernel process itself prints goes to ``kernel_log``; the
    kernel is shut down when the notebook is done.
    """
    notebook = nbformat.read(path, as_version=4)
    manager = AsyncKernelManager(
        kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[])
    )
    client = FrontendClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(path.parent)}},
    )
    kernel_log.parent.mkdir(parents=True, exist_ok=True)
    with kernel_log.open("w") as log:
        client.execute(cleanup_kc=True, stdout=log, stderr=log)
    return notebook


def cell(notebook: NotebookNode, cell_id: str) -> NotebookNode:
    for candidate in notebook.cells:
        if candidate.get("id") == cell_id:
            return candidate
    raise LookupError(f"the notebook has no cell with id {cell_id!r}")


def stdout(code_cell: NotebookNode) -> str:
    return "".join(
        o.text
        for o in code_cell.outputs
        if o.output_type == "stream" and o.name == "stdout"
    )


def result(code_cell: NotebookNode) -> str | None:
    """The text/plain of the cell's value, as shown after Out[N]."""
    values = [o for o in code_cell.outputs if o.output_type == "execute_result"]
    return values[-1].data["text/plain"] if values else None


def error(code_cell: NotebookNode) -> NotebookNode | None:
    errors = [o for o in code_cell.outputs if o.output_type == "error"]
    return errors[-1] if errors else None


def interrupt_to_cleanup(notebook: NotebookNode) -> float:
    """Seconds from the (programmatic) stop button to the coroutine's cleanup."""
    printed = stdout(cell(notebook, INTERRUPT_CELL))
    found = _CLEANUP.search(printed)
    if found is None:
        raise LookupError(f"the interrupted cell printed no cleanup line: {printed!r}")
    return float(found.group(1))


def _shown(output: NotebookNode) -> str:
    """One output as a terminal would show it."""
    if output.output_type == "stream":
        return str(output.text)
    if output.output_type == "error":
        return (
            f"{output.ename}: {output.evalue}\n"
            if output.evalue
            else f"{output.ename}\n"
        )
    text = output.get("data", {}).get("text/plain", "")
    return _ANSI.sub("", text) + "\n"


def transcript(notebook: NotebookNode) -> str:
    """The executed notebook as text: headings, each cell's code and its output."""
    parts: list[str] = []
    headings: list[str] = []  # shown only when code follows them
    for entry in notebook.cells:
        if entry.cell_type == "markdown":
            headings += [line for line in entry.source.splitlines() if line[:1] == "#"]
            continue
        if entry.cell_type != "code":
            continue
        block = [*headings, _numbered(entry)]
        headings = []
        shown = "".join(_shown(o) for o in entry.outputs).rstrip("\n")
        if shown:
            block.append(textwrap.indent(shown, "   | "))
        parts.append("\n".join(block))
    return "\n\n".join(parts) + "\n"


def _numbered(code_cell: NotebookNode) -> str:
    prompt = f"In [{code_cell.execution_count}]: "
    lines = code_cell.source.splitlines() or [""]
    rest = [" " * len(prompt) + line for line in lines[1:]]
    return "\n".join([prompt + lines[0], *rest])


def write_html(notebook: NotebookNode, path: Path) -> Path:
    body, _ = HTMLExporter().from_notebook_node(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def setup_lines() -> list[str]:
    from arunner._doctor import report

    return [f"  {label}: {value}" for label, value in report()]


def report(notebook: NotebookNode, out: Path) -> Path:
    """Write the executed quickstart as HTML, print it and what it proved.

    Raises LookupError when the notebook did not show what it is about.
    """
    html = write_html(notebook, out / "quickstart.html")
    print(transcript(notebook))
    survived = result(cell(notebook, SURVIVED_CELL))
    seconds = interrupt_to_cleanup(notebook)
    print(
        f"interrupt -> cleanup:      {seconds * 1000:.1f} ms (the sleep was 30 s)",
        f"ContextVar that survived:  user = {survived}",
        f"executed notebook (HTML):  {html}",
        sep="\n",
    )
    return html


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out", help="HTML goes here")
    options = parser.parse_args(argv)
    print("Your setup (python -m arunner doctor):", *setup_lines(), sep="\n")
    print(
        f"\nRunning {QUICKSTART.relative_to(ROOT)} in a fresh kernel...\n", flush=True
    )
    kernel_log = options.out / "quickstart-kernel.log"
    try:
        notebook = execute(QUICKSTART, kernel_log)
    except Exception:
        print(f"The kernel's own output is in {kernel_log}", file=sys.stderr)
        raise
    try:
        report(notebook, options.out)
    except LookupError as problem:
        print(
            f"The tour went wrong: {problem}. That is a bug in arunner; please "
            "report it with the transcript above and python -m arunner doctor.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

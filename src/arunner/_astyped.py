"""The cell as the user typed it, behind a ``%%arun`` body IPython hands over.

IPython gives ``%%arun`` the body after the magic line, transformed, and an
autoawait-routed cell arrives with an invisible ``%%arun`` line on top.  A
user, a traceback and a debugger all expect the cell the notebook sent:
its lines numbered as typed, its file named after that text (ipykernel's
debugger hashes it), its errors shown as a plain cell's.  This module
holds what maps one onto the other:

* :func:`sent_cell`: whether a body is all of the running cell after its
  ``%%arun`` line (or all of a routed cell), and which line it starts at;
* :class:`AutoAwaitRouter`: the transform that routes top-level-await cells
  to ``%%arun`` (and, for ``--auto sync``, the others to ``%%arun --sync``),
  remembering which body it routed;
* :func:`frame_running_the_cell` and :func:`syntax_errors_shown_as_in_a_cell`:
  errors shown from the cell's own frame and line, as IPython shows them;
* :class:`CellFiles`: which cell a code file holds, for ``In[N]`` in task
  tables, on IPython 7 too, which keeps no such record.

It takes the shell as it comes and imports nothing from IPython: magics.py,
the one module that knows IPython, passes it in with IPython's transforms.
"""

from __future__ import annotations

import bdb
import contextlib
import inspect
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

__all__ = [
    "IPYTHON_SYNTAX",
    "AutoAwaitRouter",
    "CellFiles",
    "SentCell",
    "frame_running_the_cell",
    "sent_cell",
    "syntax_errors_shown_as_in_a_cell",
]

#: What IPython's input transforms act on: magics (%), shell escapes (!),
#: help (?), autocall and quoting (/ , ; at a line start), pasted prompts,
#: and a cell that starts indented or with blank lines.
IPYTHON_SYNTAX = re.compile(
    r"[%!?]|^\s*[/,;]|^\s*(>>>|In \[\d+\]:|\.\.\.+:)|\A\s", re.MULTILINE
)

#: The first line of a typed %%arun cell: the magic, then options or nothing.
_ARUN_CELL_LINE = re.compile(r"%%arun(\s|$)")

#: How IPython 7 names the code of cell N.
_IPYTHON7_CELL_FILE = re.compile(r"<ipython-input-(\d+)-[0-9a-f]+>")


@dataclass(frozen=True)
class SentCell:
    """The cell a %%arun body came in, exactly as the frontend sent it."""

    #: What a debugger (ipykernel's ``get_file_name``) hashes to name the
    #: cell's file, and what the user sees in the notebook.
    text: str
    #: The line of ``text`` that the body's first line is.
    first_line: int


def sent_cell(sent: str, body: str, *, routed: bool) -> SentCell | None:
    """The cell ``sent``, if ``body`` is all of it after its %%arun line.

    For a cell the router sent to ``%%arun`` (``routed``), all of it.
    """
    first_line = _body_line(sent, body, after_magic_line=True)
    if first_line is None and routed:
        first_line = _body_line(sent, body, after_magic_line=False)
    return None if first_line is None else SentCell(sent, first_line)


def _body_line(sent: str, body: str, *, after_magic_line: bool) -> int | None:
    """The line of the cell ``sent`` that the first line of ``body`` is.

    IPython drops a cell's leading blank lines before it looks for a cell
    magic, then hands the magic the lines after the magic line, with a
    newline at the end; an autoawait-routed cell has no magic line.  None
    if ``body`` is not the rest of ``sent``: the magic was called some
    other way (from code, under ``%%time``), or for another cell (a
    subshell's, running at the same time), or IPython's cleanup changed the
    text (pasted prompts, an indented cell).
    """
    lines = sent.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    if after_magic_line:
        if first == len(lines) or not _ARUN_CELL_LINE.match(lines[first]):
            return None
        first += 1
    rest = "".join(lines[first:])
    return first + 1 if body in (rest, rest + "\n") else None


def frame_running_the_cell(shell: Any) -> FrameType | None:
    """IPython's frame that runs the code of the running cell.

    That is the frame below the cell's own frame: module-level code (no
    local namespace of its own) in the user namespace.  A traceback that
    IPython shows or debugs starts with it (``tb_offset`` and the debugger
    step over it), so a traceback that the magic shows starts with it too.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is shell.user_global_ns and not (
            frame.f_code.co_flags & inspect.CO_NEWLOCALS
        ):
            return frame.f_back
        frame = frame.f_back
    return None


@contextlib.contextmanager
def syntax_errors_shown_as_in_a_cell(shell: Any) -> Iterator[None]:
    """Show a SyntaxError in the user's code as IPython shows one in a cell.

    Raised from a magic, a SyntaxError is shown under a "Traceback" of every
    frame above it, IPython's, arunner's and ``ast``'s: ``run_code`` passes
    ``running_compiled_code``, meant for a ``compile()`` or an import that
    fails inside the user's code.  But the code of ``%%arun`` and ``%arun``
    is the user's cell, so the error is shown here the way ``run_cell``
    shows one, the line and the caret, and raised again as an error of the
    same type that is also a ``bdb.BdbQuit``: ``run_code`` shows nothing
    for that and records it as the cell's error, which a kernel reports
    under the type's name as usual.  (Code that calls the magic and catches
    the SyntaxError finds it shown already.)
    """
    try:
        yield
    except SyntaxError as error:
        if isinstance(error, IndentationError):
            shell.showindentationerror()
        else:
            shell.showsyntaxerror()
        kind = type(error)
        shown = type(kind.__name__, (kind, bdb.BdbQuit), {"__module__": __name__})
        raise shown(*error.args) from None


class AutoAwaitRouter:
    """Sends every cell that needs top-level await to ``%%arun``; with
    ``plain_cells_sync`` (``--auto sync``), every other cell to
    ``%%arun --sync``.

    It sits in ``shell.input_transformers_cleanup``, which runs before
    IPython looks for cell magics, so prefixing ``%%arun`` makes IPython
    treat the cell exactly as if the user had typed it.  Whether a cell
    needs top-level await is IPython's own ``should_run_async`` decision,
    taken on the cell as ``transforms`` (IPython's default ones) leave it.
    Such a cell is left to IPython when ``%autoawait`` chose another runner
    than ``asyncio_runner`` (IPython's asyncio one): ``%autoawait trio``
    cells await trio, which arunner's loop cannot run.
    """

    #: Tells IPython's ``check_complete`` to skip this transform, so that the
    #: terminal does not wait for the blank line that ends a cell magic.
    has_side_effects = True

    def __init__(self, shell: Any, transforms: Any, asyncio_runner: Any) -> None:
        self._shell = shell
        self._transforms = transforms
        self._asyncio_runner = asyncio_runner
        self.paused = 0
        #: Route cells without top-level await to ``%%arun --sync``.
        self.plain_cells_sync = False
        #: Per thread (ipykernel 7's subshells run cells in several at once),
        #: the body of the cell routed last, as ``%%arun`` receives it: it
        #: tells a routed cell from a typed one, which has one line more.
        self._routed = threading.local()
        #: The last decision of _magic_for, and what it was taken on.
        self._decided: tuple[tuple[Any, ...], str | None] | None = None

    @property
    def routed(self) -> str | None:
        routed: str | None = getattr(self._routed, "cell", None)
        return routed

    @routed.setter
    def routed(self, cell: str | None) -> None:
        self._routed.cell = cell

    def __call__(self, lines: list[str]) -> list[str]:
        if self.paused:  # a %%arun body being transformed: keep ``routed``
            return lines
        self.routed = None
        if not lines or lines[0].startswith("%%"):
            return lines
        magic = self._magic_for("".join(lines))
        if magic is None:
            return lines
        self.routed = "".join(lines)
        return [magic, *lines]

    def _magic_for(self, cell: str) -> str | None:
        """The magic line that the cell should run under, if any.

        The last decision is kept: ipykernel transforms each cell once to
        choose how to run it and IPython again to run it, and the decision
        (a transform and a compile) cost about 45 µs of a plain cell.
        """
        shell = self._shell
        taken_on = (cell, self.plain_cells_sync, shell.autoawait, shell.loop_runner)
        decided = self._decided
        if decided is not None and decided[0] == taken_on:
            return decided[1]
        magic = self._decide(cell)
        self._decided = (taken_on, magic)
        return magic

    def _decide(self, cell: str) -> str | None:
        try:
            transformed = self._transforms.transform_cell(cell)
        except Exception:  # noqa: BLE001 - IPython reports its own syntax errors
            return None
        if self._shell.should_run_async(
            cell, transformed_cell=transformed, preprocessing_exc_tuple=None
        ):
            asyncio = self._shell.loop_runner is self._asyncio_runner
            return "%%arun\n" if asyncio else None
        return "%%arun --sync\n" if self.plain_cells_sync else None

    def install(self) -> None:
        transforms = self._shell.input_transformers_cleanup
        if self not in transforms:
            transforms.append(self)

    def uninstall(self) -> None:
        transforms = self._shell.input_transformers_cleanup
        if self in transforms:
            transforms.remove(self)


class CellFiles:
    """Which cell a code file holds, so task tables can say ``In[N]``.

    IPython 8+ keeps that record itself (``compile._filename_map``, what
    tracebacks use for "Cell In[N]").  IPython 7 keeps none, so this keeps
    one there: the files arunner caches its code under, and the file each
    cell will run under, noted before it runs (:meth:`note`, a
    ``pre_run_cell`` callback).  Failing both, IPython 7's own file names
    carry the number: ``<ipython-input-N-...>``.
    """

    def __init__(self, shell: Any) -> None:
        self._shell = shell
        #: file name -> cell number, on IPython 7 only
        self._own: dict[str, int] = {}

    def _ipythons(self) -> dict[str, int] | None:
        return getattr(self._shell.compile, "_filename_map", None)

    def cell_of(self, filename: str) -> int | None:
        """The number of the cell whose code ``filename`` holds, if known."""
        cells = self._ipythons()
        if cells is not None:
            return cells.get(filename)
        if filename in self._own:
            return self._own[filename]
        numbered = _IPYTHON7_CELL_FILE.fullmatch(filename)
        return None if numbered is None else int(numbered[1])

    def cache(self, text: str, number: int, raw: str | None = None) -> str:
        """Register code of cell ``number`` with IPython; return its file name."""
        filename: str = self._shell.compile.cache(text, number, raw_code=raw)
        if self._ipythons() is None:
            self._own[filename] = number
        return filename

    def note(self, info: Any) -> None:
        """Before each cell on IPython 7: remember the file it will run under.

        Its name comes from the kernel's compiler, which names a cell by its
        text alone (ipykernel's ``get_file_name``, for the debugger), so the
        name is known before IPython transforms the cell.
        """
        raw = getattr(info, "raw_cell", None)
        if raw is None or self._ipythons() is not None:
            return
        number = self._shell.execution_count
        self._own[self._shell.compile.get_code_name(raw, raw, number)] = number

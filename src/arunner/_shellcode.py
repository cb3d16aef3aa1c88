"""A ``%%arun`` body or ``%arun`` expression made into the coroutine the
runner runs, from what the shell holds; and an error in it shown as the
shell shows a cell's.

``ARunMagics`` parses options and dispatches; a body or an expression goes
to :class:`ShellCode`, which owns everything between the text and the
coroutine: IPython's transforms (skipped where they would change nothing,
since they cost more than the rest of a call), the file name the code runs
under (the cell's own, so a debugger's breakpoints and the traceback's line
numbers are the cell's as typed), compilation with the shell's future
flags, and the choice between a coroutine for the loop and, for ``--sync``,
a plain call (:mod:`arunner._script` runs it).  It works
on the shell it is given through the attributes IPython has kept since
7.34, and imports nothing of IPython: ``magics.py`` stays the only module
that does.
"""

from __future__ import annotations

import functools
import inspect
import sys
from types import FrameType, TracebackType
from typing import Any

from arunner._astyped import (
    IPYTHON_SYNTAX,
    AutoAwaitRouter,
    CellFiles,
    SentCell,
    frame_running_the_cell,
    sent_cell,
    syntax_errors_shown_as_in_a_cell,
)
from arunner._cell import (
    compile_cell,
    compile_expression,
    execute_cell,
    run_cell,
    run_expression,
)
from arunner._traceback import at_their_lines

__all__ = ["CodeRefused", "ShellCode"]

_SYNC_AWAIT_ERROR = (
    "--sync runs the code as plain synchronous Python, as a script would run "
    "it, and this code uses await (or async for/with) at the top level: drop "
    "--sync, since %%arun and %arun run awaits themselves"
)


#: IPython's methods whose local ``result`` is the running cell's ExecutionResult.
_RUNS_A_CELL = frozenset({"run_code", "run_cell_async"})


class CodeRefused(Exception):
    """Code that cannot run as the options ask; the magic shows it as misuse."""


class ShellCode:
    """Turns the shell's cells and expressions into coroutines for the runner.

    ``transforms`` are IPython's own input transforms, without any that a
    shell or an extension added: a shell that has only those leaves a body
    without IPython syntax as it is, so the transforms can be skipped.
    """

    def __init__(
        self,
        shell: Any,
        router: AutoAwaitRouter | None,
        transforms: Any,
        cell_files: CellFiles,
    ) -> None:
        self._shell = shell
        self._router = router
        self._transforms = transforms
        self.files = cell_files

    # -- the running cell ----------------------------------------------------------

    def running_cell(self) -> Any:
        """The ExecutionResult of the cell this thread is running, or None.

        Found on this thread's own stack, in IPython's ``run_code`` (or
        ``run_cell_async``) frame: the displayhook keeps only the result of
        the cell started last, which with ipykernel 7's subshells may be
        another thread's, running at the same time.  The displayhook's is
        the fallback for a shell whose frames look otherwise.
        """
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name in _RUNS_A_CELL:
                found = frame.f_locals.get("result")
                if frame.f_locals.get("self") is self._shell and hasattr(
                    found, "execution_count"
                ):
                    return found
            frame = frame.f_back
        return getattr(self._shell.displayhook, "exec_result", None)

    def cell_number(self) -> int:
        """The In[N] of the running cell, so tracebacks say "Cell In[N]".

        IPython 9 advances ``execution_count`` before running a cell and
        IPython 7 and 8 after; the running cell's result knows its own number.
        """
        count = getattr(self.running_cell(), "execution_count", None)
        return count if isinstance(count, int) else int(self._shell.execution_count)

    def sent_cell(self, body: str) -> SentCell | None:
        """The running cell, if ``body`` is all of it after its %%arun line.

        For an autoawait-routed cell, all of it.  None when the magic was
        called some other way, or the shell is not running a cell.
        """
        sent = getattr(getattr(self.running_cell(), "info", None), "raw_cell", None)
        if not isinstance(sent, str):
            return None
        routed = self._router is not None and self._router.routed == body
        return sent_cell(sent, body, routed=routed)

    # -- making coroutines ---------------------------------------------------------

    def cell(
        self, line: str, body: str, sync: bool, sent: SentCell | None
    ) -> tuple[Any, str]:
        """What runs a %%arun body, and the file name it runs under.

        A coroutine for the runner or, with ``sync``, a function to call.

        Run from a cell (typed, or routed by autoawait), the body runs under
        the cell's own file name, numbered as the cell's lines are: a
        debugger names the file after the text the frontend sent (ipykernel
        hashes it), and sets its breakpoints there.  The cache entry holds
        that text's lines, with the body as IPython transformed it.
        """
        shell = self._shell
        transformed = self._transform(body)
        if sent is None:
            header = f"%%arun {line}".rstrip()
            text, raw, first_line = f"{header}\n{transformed}", f"{header}\n{body}", 2
        else:
            above = sent.text.splitlines(keepends=True)[: sent.first_line - 1]
            text, raw, first_line = (
                "".join(above) + transformed,
                sent.text,
                sent.first_line,
            )
        filename = self.files.cache(text, self.cell_number(), raw)
        with syntax_errors_shown_as_in_a_cell(shell):
            code = compile_cell(
                transformed, filename, first_line=first_line, flags=shell.compile.flags
            )
        # As in IPython's own compiler, a future import holds for later cells.
        shell.compile.flags |= code.futures
        if not sync:
            return run_cell(code, shell.user_global_ns, shell.user_ns), filename
        if code.awaits:
            raise CodeRefused(_SYNC_AWAIT_ERROR)
        run = functools.partial(execute_cell, code, shell.user_global_ns, shell.user_ns)
        return run, filename

    def expression(self, expression: str, sync: bool) -> Any:
        """The coroutine that evaluates an %arun expression (and awaits it), or
        with ``sync`` the function that evaluates it."""
        shell = self._shell
        filename = self.files.cache(expression, self.cell_number())
        with syntax_errors_shown_as_in_a_cell(shell):
            code = compile_expression(expression, filename, flags=shell.compile.flags)
        if not sync:
            return run_expression(code, expression, shell.user_global_ns, shell.user_ns)
        if code.co_flags & inspect.CO_COROUTINE:
            raise CodeRefused(_SYNC_AWAIT_ERROR)
        return functools.partial(eval, code, shell.user_global_ns, shell.user_ns)

    def _transform(self, body: str) -> str:
        """IPython's transforms of a %%arun body, without routing it again.

        They tokenise the whole cell, which costs more than the rest of a
        %%arun call; a cell with none of the syntax they handle, in a shell
        with only IPython's own transforms, comes out unchanged, so it skips
        them.
        """
        shell = self._shell
        if not IPYTHON_SYNTAX.search(body) and self._default_transforms_only():
            return body if body.endswith("\n") else body + "\n"
        if self._router is None:
            return str(shell.transform_cell(body))
        self._router.paused += 1
        try:
            return str(shell.transform_cell(body))
        finally:
            self._router.paused -= 1

    def _default_transforms_only(self) -> bool:
        manager = self._shell.input_transformer_manager
        own = self._transforms
        return (
            not self._shell.input_transformers_post
            and [t for t in manager.cleanup_transforms if t is not self._router]
            == own.cleanup_transforms
            and manager.line_transforms == own.line_transforms
            and manager.token_transformers == own.token_transformers
        )

    # -- errors ----------------------------------------------------------------------

    def shown_as_the_cell(self, error: BaseException, filename: str) -> bool:
        """Show ``error`` as the shell shows a cell's error, from the cell's line.

        False, with nothing shown, if it did not come from the code that ran
        under ``filename``.
        """
        running = self.running_cell()
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != filename:
            tb = tb.tb_next
        bottom = frame_running_the_cell(self._shell)
        if tb is None or bottom is None or running is None:
            return False
        error.__traceback__ = TracebackType(
            at_their_lines(tb), bottom, bottom.f_lasti, bottom.f_lineno or 0
        )
        self._shell.showtraceback((type(error), error, error.__traceback__))
        running.error_in_exec = error
        return True

    def mark_failed(self, result: Any) -> None:
        """After a cell: it failed if it has an error, shown by the magic or not.

        IPython keeps ``last_execution_succeeded`` (``ipython -c`` exits
        with it) from whether ``run_code`` caught an error, so a cell whose
        error the magic showed would count as a success.
        """
        if getattr(result, "error_in_exec", None) is not None:
            self._shell.last_execution_succeeded = False

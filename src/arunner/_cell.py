"""Compiling what ``%arun``/``%%arun`` run into coroutines for the runner.

A ``%%arun`` body is compiled the way IPython compiles a top-level-await
cell (``PyCF_ALLOW_TOP_LEVEL_AWAIT``), except that a trailing expression is
split off and evaluated for its value, which the magic returns so that
IPython displays it and stores it in ``Out`` like any cell's result.
A ``%arun`` expression is evaluated *on the runner* and then awaited, so
``%arun asyncio.gather(a(), b())`` builds its tasks on the runner's loop.

Nothing here knows about IPython: the magic passes source text that IPython
has already transformed and a filename it has registered with linecache.
"""

from __future__ import annotations
import __future__

import ast
import asyncio
import functools
import inspect
import operator
import reprlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import CodeType
from typing import Any

from arunner._contextsync import Exchange
from arunner._traceback import cancelled_at
from arunner.runner import check_same_loop

__all__ = [
    "CellCode",
    "compile_cell",
    "compile_expression",
    "execute_cell",
    "in_cell",
    "run_cell",
    "run_expression",
]

_ASYNC_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

#: The compiler flags of the ``__future__`` features.  IPython's compiler
#: also carries codeop's flags for probing whether typed input is complete,
#: which would report the syntax errors of a whole cell as "incomplete input".
_FUTURE_FLAGS = functools.reduce(
    operator.or_,
    (getattr(__future__, name).compiler_flag for name in __future__.all_feature_names),
)


def _is_async(code: CodeType) -> bool:
    return bool(code.co_flags & inspect.CO_COROUTINE)


@dataclass(frozen=True)
class CellCode:
    """A compiled cell: its statements, and its trailing expression if any."""

    body: CodeType | None
    last: CodeType | None
    #: The ``__future__`` features the cell was compiled with: those it was
    #: given and those it imports, which later cells should get too.
    futures: int

    @property
    def awaits(self) -> bool:
        """Whether the cell awaits at the top level (await, async for/with)."""
        return any(
            code is not None and _is_async(code) for code in (self.body, self.last)
        )


def compile_cell(
    source: str, filename: str, *, first_line: int = 1, flags: int = 0
) -> CellCode:
    """Compile a cell body whose first line is line ``first_line`` of ``filename``.

    ``flags`` holds the ``__future__`` features in effect (any other flag
    is ignored).  A trailing expression becomes the cell's value unless a
    ``;`` follows it, which silences it as in any IPython cell.
    """
    # Blank lines in front number the lines as in the file (cheaper than
    # renumbering the tree afterwards).
    source = "\n" * (first_line - 1) + source
    futures = flags & _FUTURE_FLAGS
    # Parsed with the features in effect: barry_as_FLUFL changes the grammar.
    tree = compile(
        source, filename, "exec", futures | ast.PyCF_ONLY_AST, dont_inherit=True
    )
    trailing = tree.body[-1] if tree.body else None
    value = None
    if isinstance(trailing, ast.Expr) and not _silenced(source, trailing):
        tree.body.pop()
        value = ast.Expression(trailing.value)
    body = None
    if tree.body:
        body = compile(
            tree, filename, "exec", futures | _ASYNC_FLAGS, dont_inherit=True
        )
        futures = body.co_flags & _FUTURE_FLAGS  # now with the cell's own imports
    last = (
        None
        if value is None
        else compile(value, filename, "eval", futures | _ASYNC_FLAGS, dont_inherit=True)
    )
    return CellCode(body, last, futures)


def compile_expression(source: str, filename: str, *, flags: int = 0) -> CodeType:
    """Compile the expression of a ``%arun`` line; it may itself use ``await``.

    ``flags`` holds the ``__future__`` features in effect (any other flag
    is ignored).
    """
    code: CodeType = compile(
        source.strip(),
        filename,
        "eval",
        (flags & _FUTURE_FLAGS) | _ASYNC_FLAGS,
        dont_inherit=True,
    )
    return code


def _silenced(source: str, statement: ast.Expr) -> bool:
    """Whether a ``;`` follows the statement on its last line."""
    if statement.end_lineno is None or statement.end_col_offset is None:
        return False
    line = source.splitlines()[statement.end_lineno - 1]
    rest = line.encode()[statement.end_col_offset :].decode()
    return rest.lstrip().startswith(";")


def execute_cell(
    code: CellCode, globals_: dict[str, Any], locals_: dict[str, Any]
) -> object:
    """Execute a compiled cell that does not await (``--sync``); return its value."""
    __tracebackhide__ = True
    assert not code.awaits
    if code.body is not None:
        eval(code.body, globals_, locals_)  # noqa: S307 - the user's cell
    if code.last is None:
        return None
    return eval(code.last, globals_, locals_)  # noqa: S307 - the user's cell


async def run_cell(
    code: CellCode, globals_: dict[str, Any], locals_: dict[str, Any]
) -> object:
    """Execute a compiled cell on the running loop; return its last value."""
    __tracebackhide__ = True
    if code.body is not None:
        executed = eval(code.body, globals_, locals_)  # noqa: S307 - the user's cell
        if _is_async(code.body):
            await executed
    if code.last is None:
        return None
    value = eval(code.last, globals_, locals_)  # noqa: S307 - the user's cell
    if _is_async(code.last):
        value = await value
    return value


async def run_expression(
    code: CodeType, source: str, globals_: dict[str, Any], locals_: dict[str, Any]
) -> object:
    """Evaluate a ``%arun`` expression on the running loop and await its value."""
    __tracebackhide__ = True
    value = eval(code, globals_, locals_)  # noqa: S307 - the user's expression
    if _is_async(code):  # `%arun await x`: the expression awaited already
        return await value
    if not inspect.isawaitable(value):
        raise TypeError(not_awaitable_message(source.strip(), value))
    if isinstance(value, asyncio.Future):
        check_same_loop(value, asyncio.get_running_loop())
    return await value


def not_awaitable_message(source: str, value: object) -> str:
    """Say what ``%arun EXPR`` got instead of an awaitable, and what to write."""
    if inspect.iscoroutinefunction(value):
        return (
            f"%arun {source}: {source!r} is a coroutine function, not a coroutine; "
            f"call it: %arun {source}()"
        )
    shown = reprlib.repr(value)
    return (
        f"%arun {source}: expected an awaitable (a coroutine, Task or Future) but "
        f"the expression gave {type(value).__name__} {shown}. Write an "
        "expression that returns a coroutine, such as '%arun fetch()', or use "
        "%%arun for a block of statements."
    )


async def in_cell(
    awaitable: Coroutine[Any, Any, Any],
    route: Callable[[], None] | None,
    timeout: float | None,
    exchange: Exchange | None = None,
) -> object:
    """Run a cell's coroutine with its output routed to the cell, within a timeout.

    ``route`` runs first, inside the task's context, so that everything the
    coroutine prints or displays, and every task it starts, reports to the
    cell that started it.  ``exchange`` brings in the ContextVars of the
    shell's context and, however the coroutine ends, notes the coroutine's
    own changes for the shell.
    """
    __tracebackhide__ = True
    if route is not None:
        route()
    baseline = None if exchange is None else exchange.enter()
    try:
        if timeout is None:
            return await awaitable
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                return await awaitable
        except TimeoutError as error:
            if not deadline.expired():
                raise
            # Shown where the coroutine was when the timeout cancelled it.
            raise TimeoutError(
                f"did not finish within --timeout {timeout:g} s and was cancelled"
            ).with_traceback(cancelled_at(error.__cause__)) from None
    finally:
        if exchange is not None and baseline is not None:
            exchange.leave(baseline)

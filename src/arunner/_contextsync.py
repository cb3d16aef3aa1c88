"""The context sync: plain cells and ``%arun`` cells share their ContextVars.

Plain cells (and ``--sync`` ones) run in the shell's context; ``%arun``
cells run on the runner's loop, in the runner's persistent context.  A
Context can be entered by one thread at a time, and the shell's thread
waits inside its own while the call runs, so the two cannot be one object.
To keep one notebook one program, each call from the shell mirrors one into
the other:

* on the way in, the call's context is made to hold what the shell's holds
  (whatever the call's context held before: the persistent context as the
  last call left it, or a copy of it when another run holds it);
* on the way out, however the call ends, what the call changed is made so
  in the shell's context, so that the next plain cell sees it; a call
  abandoned by a second stop has not ended, so what it changed until then
  is read from the runner's context, which it holds (the runner goes on in
  a copy of it).

Values are told apart by identity (``is not``), so a value put back as it
was is no change; a variable that is gone is a change too (a ``reset`` back
to no value).  Python can take a value away only by resetting a Token made
in the very Context that holds it, so each side keeps the Tokens of the
sync's own ``set`` calls that gave a variable its first value there; the
rare variable that got its value some other way (before the runner
started, say) keeps it, and the first cell to find that says so.  The
variables that route output and requests (ipykernel's parent headers, the
cell that started a task) belong to each side and are never carried.
Background tasks are not part of it: as in asyncio, each keeps the copy of
the context it was created with.
"""

from __future__ import annotations

import contextvars
import reprlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ContextSync", "Exchange", "own_context"]

Changes = list[tuple[contextvars.ContextVar[Any], Any]]

#: The value of a variable that has none (the one a Token records).
MISSING = contextvars.Token.MISSING


def _changes(
    before: contextvars.Context,
    after: contextvars.Context,
    excluded: frozenset[contextvars.ContextVar[Any]],
) -> Changes:
    """What turns ``before`` into ``after``: a new value, or MISSING for none.

    The pass over ``before`` for what is gone is skipped when the counts
    say that nothing is, the common case: the comparison then costs one
    pass over ``after``.
    """
    changed = [
        (variable, value)
        for variable, value in after.items()
        if variable not in excluded
        and (variable not in before or before[variable] is not value)
    ]
    new = sum(1 for variable, _ in changed if variable not in before)
    if _carried(before, excluded) == _carried(after, excluded) - new:
        return changed
    gone = [v for v in before if v not in after and v not in excluded]
    return changed + [(variable, MISSING) for variable in gone]


def _carried(
    context: contextvars.Context, excluded: frozenset[contextvars.ContextVar[Any]]
) -> int:
    """How many of the variables of ``context`` the sync carries."""
    return len(context) - sum(1 for variable in excluded if variable in context)


class _Side:
    """One side's Tokens that take a value away: those of the sync's own
    ``set`` calls that gave a variable its first value on that side."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._unsetters: dict[contextvars.ContextVar[Any], list[Any]] = {}

    def apply(self, changes: Changes) -> list[tuple[contextvars.ContextVar[Any], Any]]:
        """Make ``changes`` in the current context; return the variables that
        could not lose their value, with the value they keep."""
        kept = []
        for variable, value in changes:
            if value is not MISSING:
                token = variable.set(value)
                if token.old_value is MISSING:
                    self._unsetters.setdefault(variable, []).append(token)
            elif (now := variable.get(MISSING)) is not MISSING and not self._unset(
                variable
            ):
                kept.append((variable, now))
        return kept

    def _unset(self, variable: contextvars.ContextVar[Any]) -> bool:
        # A Token of another Context (this is a copy a run got, or that
        # Token was made in one) raises ValueError and is kept for its own;
        # one already used raises RuntimeError and is of no more use.
        tokens = self._unsetters.get(variable, [])
        for token in list(tokens):
            try:
                variable.reset(token)
            except ValueError:
                continue
            except RuntimeError:
                tokens.remove(token)
                continue
            tokens.remove(token)
            return True
        return False


@dataclass
class Exchange:
    """One call's part of the sync: the shell's context in, the changes out."""

    shell: contextvars.Context
    excluded: frozenset[contextvars.ContextVar[Any]]
    runner_side: _Side
    #: the call's context once it has taken the shell's (call's task)
    baseline: contextvars.Context | None = None
    #: what the call changed, once it has ended (call's task)
    outbound: Changes | None = None
    #: variables the call's context could not unset, with the value they kept
    kept: list[tuple[contextvars.ContextVar[Any], Any]] = field(default_factory=list)

    def enter(self) -> contextvars.Context:
        """In the call's task: take what the shell's context holds; returns
        the baseline of the call's own changes."""
        inbound = _changes(contextvars.copy_context(), self.shell, self.excluded)
        self.kept = self.runner_side.apply(inbound)
        self.baseline = contextvars.copy_context()
        return self.baseline

    def leave(self, baseline: contextvars.Context) -> None:
        """In the call's task, as it ends: note what the call changed."""
        self.outbound = _changes(baseline, contextvars.copy_context(), self.excluded)


class ContextSync:
    """The two sides' Tokens, and the start and end of each call from the shell."""

    def __init__(self) -> None:
        self._shell_side = _Side("plain cells")
        self._runner_side = _Side("%arun cells")
        #: the variables whose value one side kept, said once
        self._told: set[contextvars.ContextVar[Any]] = set()

    def exchange(self, excluded: Iterable[contextvars.ContextVar[Any]]) -> Exchange:
        """Start a call from the shell's thread: take the shell's context."""
        shell = contextvars.copy_context()
        return Exchange(shell, frozenset(excluded), self._runner_side)

    def settle(
        self, exchange: Exchange, runner_context: contextvars.Context | None
    ) -> None:
        """End a call in the shell's thread: take the call's changes.

        A call that has not ended (abandoned) ran in ``runner_context``.
        """
        outbound = exchange.outbound
        if outbound is None:  # abandoned, or refused before it began
            baseline = exchange.baseline
            outbound = (
                []
                if baseline is None or runner_context is None
                else _changes(baseline, runner_context, exchange.excluded)
            )
        kept = self._shell_side.apply(outbound)
        for side, other, stuck in (
            (self._runner_side, self._shell_side, exchange.kept),
            (self._shell_side, self._runner_side, kept),
        ):
            for variable, value in stuck:
                if variable not in self._told:
                    self._told.add(variable)
                    print(_kept_message(variable, value, side, other), file=sys.stderr)


def _kept_message(
    variable: contextvars.ContextVar[Any], value: Any, side: _Side, other: _Side
) -> str:
    shown = reprlib.repr(value)
    return (
        f"arunner: ContextVar {variable.name!r} has no value in {other.name}, "
        f"but {side.name} still see {shown}, and the context sync cannot take "
        "it away there: it got that value in a way the sync cannot undo (before "
        "the runner started, in a run abandoned by a second stop, or in a "
        "Runner.run() call from code). To make both sides agree, set a value "
        f"instead of none, such as {variable.name}.set(None), or restart the "
        "runner with %arun --restart."
    )


def own_context(runner_context: contextvars.Context | None) -> contextvars.Context:
    """The context of a call from a thread other than the shell's.

    A copy of the runner's context as it is when the call starts (as the
    notebook's calls left it), so what the call sets stays its own, as in
    any thread, and as in a run that overlaps another.  Run in the runner's
    context itself, its changes would reach later ``%%arun`` cells but never
    plain cells, and only when it happened to overlap no other run.  Before
    the runner's first use, the runner's context would be a copy of this
    thread's, and so is this.
    """
    if runner_context is None:
        return contextvars.copy_context()
    return runner_context.copy()

"""The context sync: plain cells and ``%arun`` cells share their ContextVars.

The runner's persistent context and the context the shell runs plain cells
in start out alike and would drift apart.  To keep one notebook one program,
each call from the shell exchanges changes with the runner:

* on the way in, what plain cells changed since the last call is set in the
  call's own context (the persistent one) before the user's code runs;
* on the way out, however the call ends, what the call changed is set in the
  shell's context, so that the next plain cell sees it.

Changes are told apart by identity (``is not``), so a value put back as it
was is no change, and the cost is one pass over the variables per side.
The variables that route output and requests (ipykernel's parent headers,
sniffio's current library) belong to each side and are never carried.
Background tasks are not part of it: as in asyncio, each keeps the copy of
the context it was created with.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ContextSync", "Exchange", "own_context"]

Changes = list[tuple[contextvars.ContextVar[Any], Any]]


def _changes(
    before: contextvars.Context,
    after: contextvars.Context,
    excluded: frozenset[contextvars.ContextVar[Any]],
) -> Changes:
    """The variables whose value in ``after`` is not the one in ``before``."""
    return [
        (variable, value)
        for variable, value in after.items()
        if variable not in excluded
        and (variable not in before or before[variable] is not value)
    ]


@dataclass
class Exchange:
    """One call's part of the sync: the changes in, then the changes out."""

    inbound: Changes
    excluded: frozenset[contextvars.ContextVar[Any]]
    outbound: Changes = field(default_factory=list)

    def enter(self) -> contextvars.Context:
        """In the call's task: take the shell's changes; returns the baseline."""
        for variable, value in self.inbound:
            variable.set(value)
        return contextvars.copy_context()

    def leave(self, baseline: contextvars.Context) -> None:
        """In the call's task, as it ends: note what the call changed."""
        self.outbound = _changes(baseline, contextvars.copy_context(), self.excluded)


class ContextSync:
    """The shell's side: what its context was when the last call ended."""

    def __init__(self) -> None:
        self._seen: contextvars.Context | None = None

    def exchange(
        self,
        runner_context: contextvars.Context | None,
        excluded: Iterable[contextvars.ContextVar[Any]],
    ) -> Exchange:
        """Start a call from the shell's thread: collect the shell's changes.

        Before the first call the baseline is the runner's own context (a
        copy of the shell's, taken when the runner started).
        """
        skip = frozenset(excluded)
        now = contextvars.copy_context()
        baseline = self._seen if self._seen is not None else runner_context
        inbound = [] if baseline is None else _changes(baseline, now, skip)
        return Exchange(inbound, skip)

    def settle(self, exchange: Exchange) -> None:
        """End a call in the shell's thread: take the call's changes."""
        for variable, value in exchange.outbound:
            variable.set(value)
        self._seen = contextvars.copy_context()


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

"""What cannot be asked from code that the runner itself runs, and what to
write instead.

A ``%%arun`` body, a task, or an await cell routed with ``--auto on`` runs
on the runner's loop.  From there, some requests would wait for that very
loop or pull it from under the code asking: a blocking ``%arun``, a
``--sync`` call, closing or reconfiguring the runner, changing how the next
cells run.  Each is refused here with :class:`ActionError` (which the magic
shows as IPython's ``UsageError``, or as a setting's ``TraitError``), and
nothing is changed.  Nothing here imports IPython.
"""

from __future__ import annotations

from arunner._actions import ActionError
from arunner.runner import Runner

__all__ = [
    "refuse_changing_the_routing",
    "refuse_closing",
    "refuse_reconfiguring",
    "refuse_waiting_on_itself",
]

_WHERE = "(a %%arun cell, a task, or an await cell with --auto on)"


def _inside(runner: Runner | None) -> bool:
    return runner is not None and runner.in_runner()


def refuse_closing(runner: Runner | None, what: str) -> None:
    """Closing the loop under the running cell would end that cell half-way
    and lose the runner's state; the user meant a cell of its own."""
    if _inside(runner):
        raise ActionError(
            f"{what} cannot run inside code that runs on the runner {_WHERE}: it "
            "would close the loop under the very code asking. Run "
            f"{what} in a cell of its own."
        )


def refuse_reconfiguring(runner: Runner | None, name: str, value: object) -> None:
    """A new mode, loop factory or debug setting restarts the runner."""
    if _inside(runner):
        raise ActionError(
            f"ARunMagics.{name} cannot change from code that runs on the runner "
            f"{_WHERE}: the change restarts the runner, which would stop the very "
            "code asking. The setting is left as it was and the runner keeps "
            f"running. Run %config ARunMagics.{name} = {value!r} in a cell of "
            "its own."
        )


def refuse_changing_the_routing(runner: Runner | None, value: str) -> None:
    """``--auto`` decides how the next cells run: a cell of its own says so."""
    if _inside(runner):
        raise ActionError(
            "%arun --auto decides how the next cells run, so it cannot run inside "
            f"code that runs on the runner {_WHERE}: nothing changed. Run "
            f"%arun --auto {value} in a cell of its own."
        )


def refuse_waiting_on_itself(runner: Runner | None, code: str, sync: bool) -> None:
    """A line magic there would block the loop it runs on, for good (``%arun``)
    or for as long as the call takes (``--sync``), and every task with it."""
    if runner is None or runner.engine == "nest" or not runner.in_runner():
        return
    if sync:
        raise ActionError(
            f"%arun --sync cannot be used inside code that runs on the runner "
            f"{_WHERE}: it would block the runner's loop and every task on it. "
            f"Write 'await asyncio.to_thread(lambda: {code})' there."
        )
    raise ActionError(
        f"%arun cannot be used inside code that already runs on the runner "
        f"{_WHERE}: write 'await {code}' there, or "
        f"'asyncio.create_task({code})' for -b"
    )

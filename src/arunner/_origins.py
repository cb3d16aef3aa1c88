"""Which cell started each task: its ``In[N]``, carried in a ContextVar.

A notebook user decides what to cancel by the cell that started it, not by
asyncio's "Task-37".  The magic knows the number of the cell it runs; the
route that ``in_cell`` applies first, inside the main task's context, sets
it in :data:`origin` there.  Every task copies the context it was created
in, so a task started by the cell, and every task that one starts, keeps
the cell's number for its whole life, whatever cell runs later.

Nothing here knows about IPython: the magic passes the number in.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable

__all__ = ["cell_label", "from_cell", "origin", "parse_cell_label"]

#: The execution count of the cell that started the current task, if any.
origin: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "arunner_origin", default=None
)

_LABEL = re.compile(r"In\[(\d+)\]")


def cell_label(number: int) -> str:
    """How a cell is named to the user: ``In[4]``, as beside it in the notebook."""
    return f"In[{number}]"


def parse_cell_label(text: str) -> int | None:
    """The number of ``In[N]``, or None when ``text`` names no cell."""
    found = _LABEL.fullmatch(text.strip())
    return None if found is None else int(found.group(1))


def from_cell(number: int, route: Callable[[], None] | None) -> Callable[[], None]:
    """The route of a cell's main task: mark the cell as the origin, then route.

    ``route`` routes the cell's output (see ``_routing.capture_route``);
    both run inside the main task's context, which its tasks copy.
    """

    def route_from_cell() -> None:
        origin.set(number)
        if route is not None:
            route()

    return route_from_cell

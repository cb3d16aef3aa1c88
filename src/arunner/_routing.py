"""Routing output from the runner's thread to the notebook cell that caused it.

ipykernel attaches each output message to a cell through the "parent
header" of the request.  Its streams read that header from a ContextVar
first (both 6.29 and 7), so setting the ContextVar inside the runner's
context routes everything a cell's coroutine prints to that cell, and a
task started there copies the context and keeps reporting to it after the
cell has finished.  ipykernel 7 also keeps display and result hooks in
ContextVars and offers ``shell.set_thread_parent`` for exactly this; 6.29
keeps those hooks global, which points at the running cell anyway.

Outside ipykernel (terminal IPython, plain Python) there is nothing to do.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["capture_route"]


def capture_route(shell: Any) -> Callable[[], None] | None:
    """Take the running cell's parent header, in the kernel's thread.

    Returns a function to call inside the runner's context, or None where
    output needs no routing.
    """
    parent = getattr(shell, "parent_header", None)
    if not parent:
        return None
    set_thread_parent = getattr(shell, "set_thread_parent", None)
    if set_thread_parent is not None:  # ipykernel >= 7

        def route() -> None:
            set_thread_parent(parent)

        return route
    header = parent.get("header", parent)
    variables = [
        var
        for stream in (sys.stdout, sys.stderr)
        if isinstance(
            var := getattr(stream, "_parent_header", None), contextvars.ContextVar
        )
    ]
    if not variables:
        return None

    def route_streams() -> None:
        for var in variables:
            var.set(header)

    return route_streams

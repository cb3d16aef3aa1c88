"""Routing output and input from the runner's thread to the cell that caused it.

ipykernel attaches each message to a cell through the "parent header" of
the request.  Its output streams read that header from a ContextVar first
(both 6.29 and 7), so setting the ContextVar inside the runner's context
routes everything a cell's coroutine prints to that cell, and a task
started there copies the context and keeps reporting to it after the cell
has finished.  ipykernel 7 also keeps the display hooks and the kernel's
own record of the request (used by ``input()``, ``getpass()`` and comms
such as ipywidgets) in ContextVars; ``shell.set_thread_parent`` and the
kernel's ``_shell_parent`` variables cover those.  ipykernel 6.29 keeps
them global, which points at the running cell anyway.  Before 6.29 the
streams keep one parent header for every thread, the latest cell's: a
task's output goes there, and only replacing the kernel's streams would
change that, which arunner does not do.

Outside ipykernel (terminal IPython, plain Python) there is nothing to do.

This is the one module that touches ipykernel's internals, each behind a
check that it is there: the ContextVars above (read in a user's thread
through ipykernel 7's own fallback to the shell's), and the list of the
kernel's own files that ipykernel 7's debugger leaves out of the call
stacks it shows (``hide_from_debugger``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import glob
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["capture_route", "hide_from_debugger", "routing_variables"]

#: ipykernel 7's ContextVars on the kernel that say which request is running.
_KERNEL_VARIABLES = ("_shell_parent", "_shell_parent_ident")


def capture_route(shell: Any) -> Callable[[], None] | None:
    """Take the running cell's routing, in the kernel's thread.

    Returns a function to call inside the runner's context, or None where
    output needs no routing.
    """
    parent = getattr(shell, "parent_header", None)
    if not parent:
        return None
    steps: list[Callable[[], object]] = []
    set_thread_parent = getattr(shell, "set_thread_parent", None)
    if set_thread_parent is not None:  # ipykernel >= 7
        steps.append(functools.partial(set_thread_parent, parent))
    else:  # ipykernel 6.29: only the streams read a ContextVar
        header = parent.get("header", parent)
        steps += [
            functools.partial(var.set, header)
            for stream in (sys.stdout, sys.stderr)
            if isinstance(
                var := getattr(stream, "_parent_header", None), contextvars.ContextVar
            )
        ]
    kernel = getattr(shell, "kernel", None)
    for name in _KERNEL_VARIABLES:
        var = getattr(kernel, name, None)
        if isinstance(var, contextvars.ContextVar):
            with contextlib.suppress(LookupError):  # set in no context it knows
                steps.append(functools.partial(var.set, _shell_value(kernel, var)))
    if not steps:
        return None

    def route() -> None:
        for step in steps:
            step()

    return route


def _shell_value(kernel: Any, var: contextvars.ContextVar[Any]) -> Any:
    """The kernel variable's value in this thread's context or, in a thread
    of the user's, where it is not set, the shell's (ipykernel 7's own
    fallback for such threads, which makes the latest cell their parent)."""
    lookup = getattr(kernel, "_get_shell_context_var", None)
    return var.get() if lookup is None else lookup(var)


def routing_variables(shell: Any) -> frozenset[contextvars.ContextVar[Any]]:
    """The ContextVars that say which request output and input belong to.

    ipykernel's parent headers (the streams', the display hook's, the
    display publisher's, the kernel's own record of the request) and
    sniffio's current async library: each side of the context sync keeps
    its own (see ``_contextsync``).
    """
    owners = [sys.stdout, sys.stderr, shell]
    owners += [getattr(shell, name, None) for name in ("displayhook", "display_pub")]
    found = [getattr(owner, "_parent_header", None) for owner in owners]
    kernel = getattr(shell, "kernel", None)
    found += [getattr(kernel, name, None) for name in _KERNEL_VARIABLES]
    sniffio = sys.modules.get("sniffio._impl")
    found.append(getattr(sniffio, "current_async_library_cvar", None))
    return frozenset(v for v in found if isinstance(v, contextvars.ContextVar))


def hide_from_debugger(shell: Any) -> None:
    """Leave arunner's frames out of the call stacks ipykernel's debugger shows.

    A breakpoint in a cell stops on the runner's loop thread, under the
    frames that run the cell there, arunner's; ipykernel 7 leaves its own
    frames out by passing the files of the modules it had loaded at start
    (``Debugger.kernel_modules``) to debugpy as rules when a frontend
    attaches, so arunner's files join that list.  ipykernel 6 keeps no such
    list, and cuts every stack below the cell's frame instead.
    """
    debugger = getattr(getattr(shell, "kernel", None), "debugger", None)
    hidden = getattr(debugger, "kernel_modules", None)
    if isinstance(hidden, list):
        package = os.path.dirname(os.path.abspath(__file__))
        hidden += sorted(set(glob.glob(os.path.join(package, "*.py"))) - set(hidden))

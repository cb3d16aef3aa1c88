"""The line said after a failed cell when arunner knows what to write instead.

Two mistakes have a known way out:

* a plain cell ran code that runs its own event loop (``asyncio.run()``, or
  a library's sync API: asgiref, Playwright, anyio, gql) inside the
  kernel's running loop.  Each says so in its own words, so the rule is not
  a list of messages: an error whose message speaks of an event loop or of
  asyncio running, raised while the kernel's loop ran, in a cell that did
  not use ``%arun``.  The way out is script parity: ``%%arun --sync`` for
  the cell, ``%arun --auto sync`` for the notebook;
* script code (``--sync``, ``--auto sync``) reached for the kernel's loop,
  which it hides (``asyncio.create_task``, ``get_running_loop``): the way
  out is ``%arun -b`` or an ``await`` in the cell;
* a ContextVar Token was reset in a cell of the other kind than the one
  that made it: its Context is not that cell's (see ``_contextsync``), and
  Python resets a Token only in its own.
"""

from __future__ import annotations

import re

from arunner._loopstate import running_loop

__all__ = ["CROSSED_CONTEXT_HINT", "LOOP_IN_A_LOOP_HINT", "NO_LOOP_HINT", "hint_after"]

LOOP_IN_A_LOOP_HINT = (
    "arunner: this cell ran code that runs its own event loop (asyncio.run(), "
    "or a library's synchronous API) inside the kernel's running loop. To run "
    "it as a script would, re-run it with %%arun --sync as its first line, or "
    "run %arun --auto sync once to run every plain cell that way; where the "
    "cell itself calls asyncio.run(main()), a %%arun cell that does "
    "'await main()' works too."
)

NO_LOOP_HINT = (
    "arunner: this code ran as a script (--sync, or a plain cell with "
    "%arun --auto sync), where the kernel's event loop is hidden and cannot be "
    "used. To start a task on arunner's loop, write %arun -b coro() in a line "
    "of its own; to await, put the await in the cell (with --auto sync it then "
    "runs on the runner), or start the cell with %%arun."
)

CROSSED_CONTEXT_HINT = (
    "arunner: a ContextVar Token can be reset only in the Context that made "
    "it. Plain and --sync cells run in the kernel's context, %arun and %%arun "
    "cells in the runner's: the values are kept the same in both, but a Token "
    "made in one cannot reset in the other (nor one made in a %%arun cell "
    "before a run was abandoned with a second stop). Reset it in a cell of "
    "the kind that set it, or set the earlier value back in this one: "
    "var.set(token.old_value), unless that is Token.MISSING."
)

#: What Python says when a Token is reset in another Context.
_OTHER_CONTEXT = "was created in a different Context"

#: An error that speaks of a running event loop or of an asyncio loop:
#: asyncio's "cannot be called from a running event loop", "This event loop
#: is already running", "... while another loop is running"; asgiref's "...
#: as an async event loop"; Playwright's "... inside the asyncio loop";
#: anyio's "Already running asyncio in this thread"; gql's "... if an asyncio
#: loop is running".  Not "Event loop is closed".
_SPEAKS_OF_A_RUNNING_LOOP = re.compile(
    r"running event loop|loop is (already )?running|async(io)? (event )?loop"
    r"|running asyncio",
    re.IGNORECASE,
)

#: What asyncio says to script code that reaches for the kernel's loop:
#: create_task and get_running_loop find none, ensure_future (on ipykernel 7)
#: no current one, and the kernel's loop itself is already running.
_NO_LOOP = re.compile(
    r"no running event loop|no current event loop|This event loop is already running",
    re.IGNORECASE,
)


def hint_after(
    error: BaseException | None, raw_cell: str, script_failure: BaseException | None
) -> str | None:
    """The hint for a cell that ended with ``error``, if there is one.

    ``script_failure`` is what the last script call (``--sync``) raised:
    that code ran with the kernel's loop hidden.  Called as the cell ends,
    while a kernel's loop (if any) runs the cell.
    """
    if error is None or not isinstance(error, Exception):
        return None
    if isinstance(error, ValueError) and _OTHER_CONTEXT in str(error):
        return CROSSED_CONTEXT_HINT
    if error is script_failure:
        return NO_LOOP_HINT if _NO_LOOP.search(str(error)) else None
    if (
        "%arun" not in raw_cell
        and running_loop() is not None
        and _SPEAKS_OF_A_RUNNING_LOOP.search(str(error))
    ):
        return LOOP_IN_A_LOOP_HINT
    return None

"""Driving a cell as a notebook frontend does while it runs: comm messages
(widget clicks and drags) and other requests sent at the right moment.

Shared by tests/kernel/test_widget_events.py and the click benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from tests.kernel.conftest import PATIENCE, Kernel, Reply

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


#: When a step of :func:`drive` is due: once its text has been printed, or
#: once the predicate holds for what the cell has output so far.
Ready = str | Callable[[Reply], bool]


def drive(
    kernel: Kernel, code: str, steps: Sequence[tuple[Ready, Callable[[Reply], object]]]
) -> Reply:
    """Run ``code``; as soon as the next step is ready, do it (send a message,
    interrupt) with the output so far.  Returns once the cell is idle.

    Its execute_reply is left on the shell channel for :func:`shell_replies`.
    """
    reply = Reply(kernel.client.execute(code))
    todo = list(steps)
    deadline = time.monotonic() + PATIENCE
    while True:
        msg = kernel._next_iopub(deadline, code)
        assert msg is not None
        parent = msg["parent_header"].get("msg_id")
        if parent != reply.msg_id:
            kernel.elsewhere.setdefault(parent, []).append(msg)
        elif msg["msg_type"] == "status":
            if msg["content"]["execution_state"] == "idle":
                reply.idle_at = time.monotonic()
                return reply
        elif msg["msg_type"] in {"stream", "error", "execute_result", "display_data"}:
            reply.outputs.append(msg)
            while todo and _ready(todo[0][0], reply):
                todo.pop(0)[1](reply)


def _ready(ready: Ready, reply: Reply) -> bool:
    return ready in reply.stdout if isinstance(ready, str) else ready(reply)


def widget_views(reply: Reply) -> list[str]:
    """The model_ids of the widgets a cell has displayed, in order."""
    return [
        m["content"]["data"][WIDGET_VIEW]["model_id"]
        for m in reply.outputs
        if WIDGET_VIEW in m["content"].get("data", {})
    ]


def shell_replies(kernel: Kernel, msg_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The shell replies to ``msg_ids``, in the order the kernel sent them."""
    replies: list[dict[str, Any]] = []
    while len(replies) < len(msg_ids):
        msg = kernel.client.get_shell_msg(timeout=PATIENCE)
        if msg["parent_header"].get("msg_id") in msg_ids:
            replies.append(msg)
    return replies


def comm_msg(kernel: Kernel, comm_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Send a comm_msg as a frontend does; return it (its header names it)."""
    msg = kernel.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    kernel.client.shell_channel.send(msg)
    return msg  # type: ignore[no-any-return]


def click(kernel: Kernel, button_id: str) -> dict[str, Any]:
    """What JupyterLab sends when the button is clicked (ipywidgets 8)."""
    return comm_msg(
        kernel, button_id, {"method": "custom", "content": {"event": "click"}}
    )


def numbered(kernel: Kernel, model_id: str, numbers: Sequence[int]) -> None:
    """Send a widget a custom message ``{"n": n}`` for each of ``numbers``, in
    order: clicks that say which one they are (``Widget.on_msg`` gets them)."""
    for n in numbers:
        comm_msg(kernel, model_id, {"method": "custom", "content": {"n": n}})


def send(kernel: Kernel, msg_type: str, content: dict[str, Any]) -> str:
    msg = kernel.client.session.msg(msg_type, content)
    kernel.client.shell_channel.send(msg)
    return str(msg["header"]["msg_id"])

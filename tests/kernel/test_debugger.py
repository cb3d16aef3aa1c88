"""Debugging %%arun cells, typed or autoawait-routed, as a notebook user does.

JupyterLab's visual debugger names a cell's file after the text it sends
(``ipykernel.compiler.get_file_name``) and sets breakpoints in that file; a
cell must run under that name, its lines numbered as sent, for them to hit.
"""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.kernel.cells import cell_lines
from tests.kernel.conftest import PATIENCE, Kernel

pytestmark = pytest.mark.kernel

#: The cells of each test: as typed with %%arun, as routed by --auto on
#: (leading blank lines too, which IPython drops before it reads a cell).
SENT = {
    "typed": "%%arun\n{body}",
    "options": "\n\n%%arun --timeout 30\n{body}",
    "routed": "{body}",
    "routed-after-blank-lines": "\n\n{body}",
}


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.fixture(scope="module")
def nb(kernel: Kernel) -> Kernel:
    kernel.ok("import asyncio, sys\nfrom ipykernel.compiler import get_file_name")
    return kernel


@pytest.fixture
def routed(nb: Kernel) -> Iterator[Kernel]:
    nb.ok("%arun --auto on")
    yield nb
    nb.ok("%arun --auto off")


def _sent(nb: Kernel, request: pytest.FixtureRequest, kind: str, body: str) -> str:
    if kind.startswith("routed"):
        request.getfixturevalue("routed")
    return SENT[kind].format(body=body)


@pytest.mark.parametrize("kind", SENT)
def test_the_cell_runs_under_the_file_the_debugger_names_for_the_sent_text(
    nb: Kernel, request: pytest.FixtureRequest, kind: str
) -> None:
    sent = _sent(
        nb,
        request,
        kind,
        "await asyncio.sleep(0)\n"
        "where = sys._getframe().f_code.co_filename, sys._getframe().f_lineno\n"
        "await asyncio.sleep(0)",
    )
    nb.ok(sent)
    line = next(i for i, text in enumerate(sent.splitlines(), 1) if "where" in text)
    assert nb.value(f"where == (get_file_name({sent!r}), {line})") == "True"


@pytest.mark.parametrize("kind", ["typed", "routed"])
def test_the_error_shows_and_debugs_the_cell_as_typed(
    nb: Kernel, request: pytest.FixtureRequest, kind: str
) -> None:
    sent = _sent(nb, request, kind, "import asyncio\nawait asyncio.sleep(0)\n1/0")
    line = len(sent.splitlines())
    failing = nb.execute(sent)
    assert failing.ename == "ZeroDivisionError"
    assert failing.status == "error"
    assert failing.error is not None
    shown = _plain("\n".join(failing.error["traceback"]))
    # The traceback starts at the cell's own line, numbered as typed, not
    # at a run_cell_magic('arun', ...) line that nobody wrote.
    assert "run_cell_magic" not in shown
    assert cell_lines(shown) == [line], shown
    assert f"----> {line} 1/0" in shown
    debug = nb.execute("%debug", answers=["ll", "q"])
    listed = _plain(debug.stdout)
    assert f"----> {line} 1/0" in listed
    assert f"      {line - 2} import asyncio" in listed
    assert ("%%arun" in listed) == (kind == "typed")


# -- the visual debugger's own protocol ------------------------------------------


class Debugger:
    """A DAP client on the kernel's control channel, as JupyterLab's debugger is."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.seq = 0

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        self.seq += 1
        client = self.kernel.client
        msg = client.session.msg(
            "debug_request",
            {
                "type": "request",
                "seq": self.seq,
                "command": command,
                "arguments": arguments,
            },
        )
        client.control_channel.send(msg)
        while True:
            reply = client.get_control_msg(timeout=PATIENCE)
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                content: dict[str, Any] = reply["content"]
                assert content["success"], content
                return content.get("body", {})

    def start(self) -> None:
        """initialize and attach, as JupyterLab does when the debugger is on."""
        self.request(
            "initialize",
            clientID="arunner-tests",
            clientName="arunner-tests",
            adapterID="python",
            pathFormat="path",
            linesStartAt1=True,
            columnsStartAt1=True,
            supportsVariableType=True,
            supportsVariablePaging=True,
            supportsRunInTerminalRequest=True,
            locale="en",
        )
        self.request("attach")

    def wait_event(self, name: str) -> dict[str, Any]:
        """The next debug_event ``name`` on iopub; other messages are kept."""
        deadline = time.monotonic() + PATIENCE
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self.kernel.client.get_iopub_msg(timeout=left)
            except queue.Empty:
                break
            if msg["msg_type"] == "debug_event":
                if msg["content"]["event"] == name:
                    return msg["content"]  # type: ignore[no-any-return]
            else:
                parent = msg["parent_header"].get("msg_id")
                self.kernel.elsewhere.setdefault(parent, []).append(msg)
        raise TimeoutError(f"no {name!r} debug event within {PATIENCE} s")


@pytest.fixture
def debugged(start_kernel: Callable[..., Kernel]) -> Iterator[Debugger]:
    """A fresh kernel whose runner's loop thread exists before the debugger
    attaches, as when the debugger is switched on in the middle of work."""
    kernel = start_kernel()
    kernel.ok("import asyncio")
    kernel.ok("%arun asyncio.sleep(0)")
    debugger = Debugger(kernel)
    debugger.start()
    yield debugger
    kernel.stop()  # no kernel is shared with a debugger still attached


@pytest.mark.parametrize("kind", ["typed", "routed"])
def test_a_breakpoint_in_the_cell_stops_on_the_runner_thread_at_its_line(
    debugged: Debugger, kind: str
) -> None:
    kernel = debugged.kernel
    if kind == "routed":
        kernel.ok("%arun --auto on")
    body = "x = 20\nawait asyncio.sleep(0)\ny = x + 1\nprint('after', y * 2)"
    sent = SENT[kind].format(body=body)
    line = sent.splitlines().index("y = x + 1") + 1
    path = debugged.request("dumpCell", code=sent)["sourcePath"]
    breakpoints = debugged.request(
        "setBreakpoints",
        source={"path": path},
        breakpoints=[{"line": line}],
        sourceModified=False,
    )["breakpoints"]
    assert breakpoints[0]["verified"], breakpoints
    debugged.request("configurationDone")

    msg_id = kernel.send(sent)
    stopped = debugged.wait_event("stopped")["body"]
    assert stopped["reason"] == "breakpoint"
    thread = stopped["threadId"]
    names = {t["id"]: t["name"] for t in debugged.request("threads")["threads"]}
    assert names[thread].startswith("arunner-loop-")
    frames = debugged.request("stackTrace", threadId=thread)["stackFrames"]
    assert (frames[0]["source"]["path"], frames[0]["line"]) == (path, line)
    # arunner's frames below the cell's are left out, as ipykernel's are
    assert [frame["source"].get("path") for frame in frames] == [path]
    assert "after" not in "".join(
        m["content"].get("text", "") for m in kernel.elsewhere.get(msg_id, [])
    )
    debugged.request("continue", threadId=thread)
    kernel.wait_elsewhere(msg_id, "after 42")
    kernel.wait_idle_elsewhere(msg_id)

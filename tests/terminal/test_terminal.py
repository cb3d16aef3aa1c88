"""Terminal IPython under a pty, with a real Ctrl-C typed at the keyboard."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator

import pexpect
import pytest

pytestmark = pytest.mark.terminal

# Printed by concatenation so that the echo of the typed line cannot match.
INTERRUPTIBLE_CELL = [
    "%%arun",
    "var.set('kept')",
    "try:",
    "    print('star' + 'ted', flush=True)",
    "    await asyncio.sleep(30)",
    "    print('res' + 'umed')",
    "finally:",
    "    print('clean' + 'up', flush=True)",
    "",
    "",  # a cell magic ends at a blank line
]


#: A plain terminal's environment; PYTHONPATH kept, so that IPython imports
#: the arunner the tests were run against (a checkout's src/), not whichever
#: one the environment has installed.
_ENV = {"TERM": "dumb", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"} | (
    {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
)


class Terminal:
    def __init__(self) -> None:
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "IPython", "--no-banner", "--simple-prompt"],
            encoding="utf-8",
            timeout=30,
            env=_ENV,
            dimensions=(40, 200),
        )
        self.count = 1
        self.prompt()

    def prompt(self) -> str:
        self.child.expect(rf"In \[{self.count}\]: ")
        self.count += 1
        return str(self.child.before)

    def run(self, *lines: str) -> str:
        for line in lines:
            self.child.sendline(line)
        return self.prompt()


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal()
    term.run("%load_ext arunner")
    term.run("import asyncio, contextvars; var = contextvars.ContextVar('var')")
    yield term
    term.child.sendline("exit")
    term.child.expect(pexpect.EOF)


def ctrl_c_once_started(terminal: Terminal, cell: list[str]) -> str:
    """Type ``cell``, which prints "started" and then waits, and press Ctrl-C
    once it has started: it must stop at once, with its cleanup run and
    without resuming.  Returns what the cell printed."""
    for line in cell:
        terminal.child.sendline(line)
    terminal.child.expect("started")
    begin = time.monotonic()
    terminal.child.sendintr()  # the terminal's Ctrl-C: SIGINT to the foreground group
    output = terminal.prompt()
    assert time.monotonic() - begin < 10  # not the 30 s of the wait
    assert "cleanup" in output
    assert "KeyboardInterrupt" in output
    assert "resumed" not in output
    return output


@pytest.mark.parametrize("mode", ["auto", "thread"])
def test_ctrl_c_cancels_runs_cleanup_and_context_survives(
    terminal: Terminal, mode: str
) -> None:
    terminal.run(f"%config ARunMagics.mode = {mode!r}")
    output = ctrl_c_once_started(terminal, INTERRUPTIBLE_CELL)
    # the traceback's arrow points at the line that was interrupted
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    assert re.search(r"----> \d+\s+await asyncio\.sleep\(30\)", plain)
    assert "'kept'" in terminal.run("%arun asyncio.sleep(0, var.get())")
    engine = terminal.run("%arun --status")
    assert (
        "engine:           inline" if mode == "auto" else "engine:           thread"
    ) in engine


def test_ctrl_c_that_another_thread_takes_still_stops_the_cell(
    terminal: Terminal,
) -> None:
    """Linux gives a Ctrl-C to another thread (here IPython's history thread)
    when the main thread has a signal pending: seen once in CI, a cell that
    slept on for its whole 30 s.  The cell makes it certain by blocking
    SIGINT in the main thread while it waits."""
    ctrl_c_once_started(
        terminal,
        [
            "%%arun",
            "import signal",
            "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})",
            "try:",
            "    print('star' + 'ted', flush=True)",
            "    await asyncio.sleep(30)",
            "    print('res' + 'umed')",
            "finally:",
            "    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})",
            "    print('clean' + 'up', flush=True)",
            "",
            "",
        ],
    )
    assert "'ok'" in terminal.run("%arun asyncio.sleep(0, 'ok')")


def test_input_getpass_and_tqdm_text_bar_in_the_terminal(terminal: Terminal) -> None:
    pytest.importorskip("tqdm")
    for line in [
        "%%arun",
        "from tqdm.auto import tqdm",
        "import getpass",
        "name = input('your ' + 'name? ')",
        "secret = getpass.getpass('your ' + 'secret? ')",
        "for i in tqdm(range(3), desc='bar', ncols=60):",
        "    await asyncio.sleep(0.01)",
        "print('hello ' + name, len(secret))",
        "",
        "",
    ]:
        terminal.child.sendline(line)
    terminal.child.expect("your name\\? ")  # the prompt, not the echoed line
    terminal.child.sendline("ada")
    terminal.child.expect("your secret\\? ")
    terminal.child.sendline("hunter2")
    output = terminal.prompt()
    assert "bar: 100%" in output
    assert "3/3" in output
    assert "hello ada 7" in output
    assert "hunter2" not in output  # getpass did not echo it


@pytest.mark.parametrize("mode", ["auto", "thread"])
def test_ctrl_c_during_restart_lets_cleanup_finish_and_does_not_say_restarted(
    terminal: Terminal, mode: str
) -> None:
    terminal.run(f"%config ARunMagics.mode = {mode!r}")
    for line in [
        "%%arun",
        "async def worker():",
        "    try:",
        "        await asyncio.sleep(60)",
        "    finally:",
        "        print('clean' + 'ing', flush=True)",
        "        await asyncio.sleep(1)",
        "        print('clean' + 'ed', flush=True)",
        "task = asyncio.create_task(worker())",
        "await asyncio.sleep(0)",
        "",
        "",
    ]:
        terminal.child.sendline(line)
    terminal.prompt()
    terminal.child.sendline("%arun --restart")
    terminal.child.expect("cleaning")  # closing has begun: the cleanup runs
    terminal.child.sendintr()
    output = terminal.prompt()
    assert "cleaned" in output  # the interrupt waited for the cleanup
    assert "KeyboardInterrupt" in output
    assert "the old runner is closed" in output
    assert not re.search(r"^restarted the runner", output, re.MULTILINE)
    assert "'fresh'" in terminal.run("%arun asyncio.sleep(0, 'fresh')")


def test_ctrl_c_in_a_sync_cell_cancels_the_loop_the_library_started(
    terminal: Terminal,
) -> None:
    terminal.run(
        "async def slow():\n"
        "    try:\n"
        "        print('in the ' + 'loop', flush=True)\n"
        "        await asyncio.sleep(30)\n"
        "        print('res' + 'umed')\n"
        "    finally:\n"
        "        print('library ' + 'cleanup', flush=True)\n"
        "\n"
    )
    for line in [
        "%%arun --sync",
        "asyncio.run(slow())",
        "",
        "",
    ]:
        terminal.child.sendline(line)
    terminal.child.expect("in the loop")  # asyncio.run() has started its loop
    begin = time.monotonic()
    terminal.child.sendintr()
    output = terminal.prompt()
    assert time.monotonic() - begin < 10  # not the 30 s of the sleep
    assert "library cleanup" in output
    assert "KeyboardInterrupt" in output
    assert "resumed" not in output
    assert "'ok'" in terminal.run("%arun --sync asyncio.run(asyncio.sleep(0, 'ok'))")


@pytest.mark.parametrize(
    "waits",
    [["    while True:", "        pass"], ["    import time", "    time.sleep(30)"]],
    ids=["busy-loop", "time.sleep"],
)
def test_ctrl_c_in_a_sync_cell_stops_plain_python_at_once(
    terminal: Terminal, waits: list[str]
) -> None:
    ctrl_c_once_started(
        terminal,
        [
            "%%arun --sync",
            "try:",
            "    print('star' + 'ted', flush=True)",
            *waits,
            "    print('res' + 'umed')",
            "finally:",
            "    print('clean' + 'up', flush=True)",
            "",
            "",
        ],
    )
    assert "'ok'" in terminal.run("%arun --sync asyncio.run(asyncio.sleep(0, 'ok'))")

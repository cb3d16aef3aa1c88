"""``jupyter console`` in a real terminal (tmux), with Ctrl-C typed at the keyboard.

pexpect cannot send Ctrl-C to a prompt_toolkit application (it turns the
terminal's signal keys off while it reads); tmux types the key as a user
does.  tmux comes from ``apt-get install tmux`` (scripts/dev.py test
installs it as root); without it these tests skip and say why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernel.cells import cell_lines
from tests.kernel.conftest import KERNEL_NAME, PATIENCE

pytestmark = pytest.mark.terminal

# Printed by concatenation so that the echo of the typed cell cannot match.
INTERRUPTIBLE = """%%arun
var.set('kept')
try:
    print('star' + 'ted', flush=True)
    await asyncio.sleep(30)
    print('res' + 'umed')
finally:
    print('clean' + 'up', flush=True)

"""


class Console:
    """jupyter console on a kernel of its own, in a tmux server of the test's own."""

    def __init__(self, jupyter_path: Path, home: Path) -> None:
        self.server = f"arunner-tests-{os.getpid()}-{id(self)}"
        console = Path(sys.executable).parent / "jupyter-console"
        env = {
            "JUPYTER_PATH": str(jupyter_path),
            "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "IPYTHONDIR": str(home / "ipython"),
        }
        if "PYTHONPATH" in os.environ:  # the kernel imports this checkout's arunner
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        self._tmux(
            "-f",
            os.devnull,  # no user tmux configuration
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            "env",
            *[f"{name}={value}" for name, value in env.items()],
            str(console),
            f"--kernel={KERNEL_NAME}",
            "--ZMQTerminalInteractiveShell.confirm_exit=False",
        )
        self.count = 1
        self.prompt()

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.server, *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        ).stdout

    def screen(self) -> str:
        """Everything the terminal has shown, wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-")

    def wait_for(self, pattern: str) -> str:
        """Wait until the screen shows ``pattern`` (a regex); return the screen."""
        deadline = time.monotonic() + PATIENCE
        while not re.search(pattern, shown := self.screen(), re.MULTILINE):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pattern!r} never appeared:\n{shown}")
            time.sleep(0.05)
        return shown

    def prompt(self) -> str:
        """Wait for the next In [N] prompt; return what came since the last one."""
        shown = self.wait_for(rf"^In \[{self.count}\]: ")
        self.count += 1
        return shown.rsplit(f"In [{self.count - 2}]: ", 1)[-1]

    def type(self, cell: str) -> None:
        """Paste ``cell`` as a terminal pastes (bracketed), then press Enter."""
        self._tmux("set-buffer", "-b", "cell", cell)
        self._tmux("paste-buffer", "-p", "-d", "-b", "cell")
        self._tmux("send-keys", "Enter")

    def run(self, cell: str) -> str:
        self.type(cell)
        return self.prompt()

    def press(self, key: str) -> None:
        self._tmux("send-keys", key)

    def close(self) -> None:
        self._tmux("kill-server")


@pytest.fixture
def console(jupyter_path: Path, tmp_path: Path) -> Iterator[Console]:
    if shutil.which("tmux") is None:
        pytest.skip(
            "tmux is not installed: run 'sudo apt-get install tmux' "
            "(scripts/dev.py test does it as root)"
        )
    terminal = Console(jupyter_path, tmp_path)
    try:
        terminal.run("%load_ext arunner")
        terminal.run("import asyncio, contextvars; var = contextvars.ContextVar('v')")
        yield terminal
    finally:
        terminal.close()


def test_ctrl_c_cancels_the_cell_runs_its_cleanup_and_the_context_survives(
    console: Console,
) -> None:
    console.type(INTERRUPTIBLE)
    console.wait_for("^started$")
    begin = time.monotonic()
    console.press("C-c")
    shown = console.prompt()
    assert time.monotonic() - begin < 10  # not the 30 s of the sleep
    # after the ^C the terminal echoes
    assert re.search(r"^(\^C)?cleanup$", shown, re.MULTILINE), shown
    assert "KeyboardInterrupt" in shown
    assert "resumed" not in shown
    assert "Out[4]: 'kept'" in console.run("%arun asyncio.sleep(0, var.get())")


def test_an_autoawait_routed_cell_shows_its_error_as_typed(console: Console) -> None:
    console.run("%arun --auto on")
    shown = console.run("await asyncio.sleep(0)\nx = 1\n1/0\n\n")
    assert "ZeroDivisionError" in shown
    assert cell_lines(shown) == [3], shown
    assert "----> 3 1/0" in shown
    assert "run_cell_magic" not in shown

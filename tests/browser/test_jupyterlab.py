"""What a JupyterLab user sees: the stop button, kernel restart, background output.

``ARUNNER_SCREENSHOTS=docs/images nox -s browser`` refreshes the picture of
an interrupted cell used by the docs; otherwise it goes to a temporary
directory, so that running the tests leaves the work tree as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="needs the 'browser' extra: pip install -e .[browser]"
)

from playwright.sync_api import expect

from tests.browser.notebook import Notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SETUP = """%load_ext arunner
import asyncio, contextvars, pathlib, time
user = contextvars.ContextVar("user")
seen = contextvars.ContextVar("seen")"""

#: The first traceback a kernel formats imports IPython's traceback machinery
#: (stack_data, pygments): a one-off cost of a tenth of a second on an idle
#: machine and several times that on a busy one.  Paying it up front keeps
#: the one-second bound about the interrupt path itself.
FORMAT_A_TRACEBACK = """import sys
try:
    raise RuntimeError("warm-up")
except RuntimeError:
    get_ipython().InteractiveTB.structured_traceback(*sys.exc_info())"""

INTERRUPTIBLE = """%%arun
seen.set("set in the interrupted cell")
try:
    print("started", flush=True)
    await asyncio.sleep(30)
    print("resumed")
finally:
    print("cleanup", flush=True)"""

CLEANUP_WRITES = """async def writes_on_exit(path):
    try:
        print("waiting", flush=True)
        await asyncio.sleep(3600)
    finally:
        pathlib.Path(path).write_text("cleanup ran")"""

TICKER = """async def tick():
    i = 0
    while True:
        print(f"tick {i}", flush=True)
        i += 1
        await asyncio.sleep(0.2)"""

#: A plain cell that holds the kernel's main thread until the test lets go.
BLOCKS_UNTIL = """print("blocking", flush=True)
deadline = time.monotonic() + 30
while not pathlib.Path({path!r}).exists() and time.monotonic() < deadline:
    time.sleep(0.05)
print("released")"""


def _screenshot_path(tmp_path: Path) -> Path:
    directory = os.environ.get("ARUNNER_SCREENSHOTS")
    return Path(directory or tmp_path) / "interrupted-cell.png"


def test_stop_button_cancels_the_cell_and_restart_runs_pending_cleanup(
    notebook: Notebook, tmp_path: Path
) -> None:
    notebook.ok(SETUP)
    notebook.ok('%%arun\nawait asyncio.sleep(0)\nuser.set("ada")')
    notebook.ok(FORMAT_A_TRACEBACK)

    sleeper = notebook.run(INTERRUPTIBLE)
    sleeper.wait_printed("started")
    assert sleeper.is_running()
    clicked = notebook.interrupt()
    idle = notebook.wait_status("idle", since=clicked)
    assert notebook.status_at(clicked) == "busy"
    sleeper.wait_finished()
    expect(sleeper.errors).to_contain_text("KeyboardInterrupt")
    assert sleeper.stdout_lines() == ["started", "cleanup"]  # not "resumed"
    assert idle - clicked < 1000, f"idle {idle - clicked:.0f} ms after the click"
    sleeper.locator.screenshot(path=_screenshot_path(tmp_path))

    after = notebook.ok("%%arun\nprint(user.get(), '/', seen.get())")
    assert after.stdout_lines() == ["ada / set in the interrupted cell"]

    cleanup = tmp_path / "cleanup.txt"
    notebook.ok(CLEANUP_WRITES)
    starter = notebook.ok(f"%arun -b -n writer writes_on_exit({str(cleanup)!r})")
    starter.wait_printed("waiting")
    assert not cleanup.exists()
    restarting = notebook.wait_status("restarting", since=notebook.restart_from_menu())
    notebook.wait_status("idle", since=restarting)
    assert cleanup.read_text() == "cleanup ran"


def test_background_output_stays_under_its_cell_while_others_run(
    notebook: Notebook, tmp_path: Path
) -> None:
    notebook.ok(SETUP)
    notebook.ok(TICKER)
    ticking = notebook.ok("%arun -b -n ticker tick()")
    ticking.wait_printed("tick 0")

    release = tmp_path / "release"
    blocker = notebook.run(BLOCKS_UNTIL.format(path=str(release)))
    blocker.wait_printed("blocking")
    last = int(ticking.stdout_lines()[-1].removeprefix("tick "))
    ticking.wait_printed(f"tick {last + 3}")
    assert blocker.is_running(), "the ticks must arrive while the other cell runs"
    release.touch()
    blocker.wait_finished()
    assert blocker.stdout_lines() == ["blocking", "released"]

    notebook.ok("%arun --cancel ticker")
    ticks = ticking.stdout_lines()
    assert ticks[: last + 4] == [f"tick {i}" for i in range(last + 4)]


AWAITS_A_CLICK = """%%arun
import ipywidgets as widgets
from arunner.widgets import next_click
button = widgets.Button(description="Continue")
display(button)
print("waiting", flush=True)
await next_click(button, timeout=60)
print("clicked", flush=True)"""


def test_a_real_click_reaches_the_cell_that_awaits_it(notebook: Notebook) -> None:
    """JupyterLab's own widget manager sends the click while the cell runs."""
    pytest.importorskip("ipywidgets")
    notebook.ok(SETUP)
    cell = notebook.run(AWAITS_A_CLICK)
    cell.wait_printed("waiting")
    assert cell.is_running()
    cell.locator.get_by_role("button", name="Continue").click()
    cell.wait_printed("clicked")
    cell.wait_finished()
    expect(cell.errors).to_have_count(0)
    assert cell.stdout_lines() == ["waiting", "clicked"]

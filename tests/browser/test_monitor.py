"""What a JupyterLab user sees of ``%arun --monitor``: one output, kept current.

The monitor cell runs once; the tasks start in later cells, and every look
is at the monitor cell's own output in the page.  The tasks wait for files
the test creates, so each change the monitor must show happens when the
test says, and each wait is for the page to show it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="needs the 'browser' extra: pip install -e .[browser]"
)

from playwright.sync_api import Locator, expect

from tests.browser.notebook import PATIENCE_MS, Cell, Notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

#: The columns of arunner's task table, in order.
COLUMNS = ("name", "state", "age", "started in", "suspended at")

#: Waits at line 4 until ``first`` exists, then at line 6 until ``then`` does.
POLLER = """import asyncio, pathlib
async def poll(first, then):
    while not pathlib.Path(first).exists():
        await asyncio.sleep(0.05)
    while not pathlib.Path(then).exists():
        await asyncio.sleep(0.05)"""

#: Milliseconds the stopped monitor must stay as it is: more than twice the
#: monitor's one-second interval, so a monitor still running would have
#: looked at the new task at least twice.
STILL_FOR_MS = 2_500

#: The bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def column(cell: Cell, name: str) -> Locator:
    """The cells of one column of the task table shown under ``cell``."""
    index = COLUMNS.index(name) + 1
    return cell.html.locator(f"table.arunner-tasks tbody td:nth-child({index})")


def test_the_monitor_output_shows_a_later_task_come_move_on_and_go_until_stopped(
    notebook: Notebook, tmp_path: Path
) -> None:
    monitor = notebook.ok("%load_ext arunner\n%arun --monitor")
    number = monitor.number()
    expect(monitor.outputs).to_have_count(1)
    expect(monitor.html).to_contain_text(f"live task monitor of In[{number}]")
    expect(monitor.html).to_contain_text("no live tasks")
    expect(monitor.html.locator("table")).to_have_count(0)

    defined = notebook.ok(POLLER).number()
    first, then = tmp_path / "first", tmp_path / "then"
    starter = notebook.ok(f"%arun -b -n poller poll({str(first)!r}, {str(then)!r})")
    expect(column(monitor, "name")).to_have_text(["poller"], timeout=PATIENCE_MS)
    expect(column(monitor, "started in")).to_have_text([f"In[{starter.number()}]"])
    expect(column(monitor, "state")).to_have_text(["pending"])
    expect(column(monitor, "suspended at")).to_have_text(
        [f"poll (In[{defined}], line 4)"], timeout=PATIENCE_MS
    )
    # Nothing but its age changes now, and the monitor keeps showing that.
    age = column(monitor, "age").inner_text()
    expect(column(monitor, "age")).not_to_have_text([age], timeout=PATIENCE_MS)
    # JupyterLab's stylesheet right-aligns table cells; the text reads left.
    for name in ("name", "state", "started in", "suspended at"):
        expect(column(monitor, name)).to_have_css("text-align", "left")
    expect(monitor.html.locator("table.arunner-tasks th").first).to_have_css(
        "text-align", "left"
    )
    # Updated in place: still the one output of the cell run once, and the
    # table was not shown where the task started.
    expect(monitor.outputs).to_have_count(1)
    expect(monitor.prompt).to_have_text(f"[{number}]:")
    expect(starter.locator.locator("table")).to_have_count(0)
    screenshot = tmp_path / "monitor.png"
    monitor.locator.screenshot(path=screenshot)
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
    assert screenshot.stat().st_size > len(PNG_SIGNATURE)

    first.touch()
    expect(column(monitor, "suspended at")).to_have_text(
        [f"poll (In[{defined}], line 6)"], timeout=PATIENCE_MS
    )
    then.touch()
    expect(monitor.html.locator("table")).to_have_count(0, timeout=PATIENCE_MS)
    expect(monitor.html).to_contain_text("no live tasks")
    expect(monitor.outputs).to_have_count(1)

    off = notebook.ok("%arun --monitor off")
    assert off.stdout_lines() == ["task monitor stopped"]
    expect(monitor.html).to_contain_text(
        f"task monitor of In[{number}] stopped at", timeout=PATIENCE_MS
    )
    stopped = monitor.html.inner_text()
    never = tmp_path / "never"
    notebook.ok(f"%arun -b -n late poll({str(never)!r}, {str(never)!r})")
    listing = notebook.ok("%arun --tasks")
    expect(column(listing, "name")).to_have_text(["late"])  # live, yet not shown
    notebook.page.wait_for_timeout(STILL_FOR_MS)
    assert monitor.html.inner_text() == stopped
    expect(monitor.outputs).to_have_count(1)
    notebook.ok("%arun --cancel late")

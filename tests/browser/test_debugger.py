"""What a JupyterLab user sees of the visual debugger on a %%arun cell.

The debugger names a cell's file after the text the frontend sends
(``ipykernel.compiler.get_file_name``) and sets the breakpoints clicked in
its gutter in that file; a %%arun cell runs under that name, on the
runner's loop thread, so they stop there.  A plain cell is the control: if
its breakpoint does not stop either, the page or the kernel is at fault,
not arunner.
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="needs the 'browser' extra: pip install -e .[browser]"
)

from playwright.sync_api import Locator, Page, expect

from tests.browser.notebook import PATIENCE_MS, Cell, Notebook
from tests.paths import names_arunner_source

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

BODY = """import asyncio
await asyncio.sleep(0)
x = 41
x += 1
print('done', x)"""

#: The cell as typed, with %%arun or without.
CELLS = {"arun": f"%%arun\n{BODY}", "plain": BODY}

STOPS_AT = "x += 1"


class Sidebar:
    """The debugger's panels in the right sidebar: variables, call stack,
    breakpoints."""

    def __init__(self, page: Page) -> None:
        self.frames = page.locator(".jp-DebuggerCallstack .jp-DebuggerCallstackFrame")
        self.breakpoints = page.locator(
            ".jp-DebuggerBreakpoints .jp-DebuggerBreakpoint"
        )
        self.continue_button = page.locator(
            '.jp-DebuggerSidebar [data-command="debugger:continue"]'
        )
        self._variables = page.locator(".jp-DebuggerVariables-body:visible")

    def value(self, name: str) -> Locator:
        """What the Variables panel (as a tree) shows as the value of ``name``."""
        return self._variables.locator(
            f'.jp-TreeItem:has(> .jp-DebuggerVariables-name:text-is("{name}"))'
            " > .jp-DebuggerVariables-detail"
        )


def turn_on_the_debugger(notebook: Notebook) -> Sidebar:
    """Click the notebook toolbar's bug; the sidebar opens with the panels."""
    bug = notebook.panel.locator(".jp-DebuggerBugButton")
    expect(bug).to_have_attribute("aria-disabled", "false", timeout=PATIENCE_MS)
    bug.click()
    expect(bug).to_have_attribute("aria-pressed", "true", timeout=PATIENCE_MS)
    sidebar = Sidebar(notebook.page)
    expect(sidebar.continue_button).to_be_visible(timeout=PATIENCE_MS)
    return sidebar


def click_breakpoint_gutter(cell: Cell, line: int) -> None:
    """Click the debugger's gutter of ``cell``, left of the number of ``line``.

    The debugger shows the line numbers and adds that gutter; a click there
    (on mousedown) toggles a breakpoint on the line at that height.
    """
    number = cell.locator.locator(".cm-lineNumbers .cm-gutterElement:visible").filter(
        has_text=re.compile(rf"^{line}$")
    )
    gutter = cell.locator.locator(".cm-gutter.cm-breakpoint-gutter")
    at, box = number.bounding_box(), gutter.bounding_box()
    assert at is not None
    assert box is not None
    gutter.click(
        position={"x": box["width"] / 2, "y": at["y"] + at["height"] / 2 - box["y"]}
    )


def line_of(highlighted: Locator) -> int:
    """The number, in its editor, of one line of code."""
    return int(
        highlighted.evaluate("line => [...line.parentNode.children].indexOf(line) + 1")
    )


def titles(located: Locator) -> list[str]:
    """The tooltips of the elements found; a frame's is its file."""
    return [str(t) for t in located.evaluate_all("all => all.map(e => e.title)")]


@pytest.mark.parametrize("kind", CELLS)
def test_a_breakpoint_clicked_in_the_cell_pauses_there_until_continue(
    notebook: Notebook, kind: str
) -> None:
    notebook.ok("%load_ext arunner")
    sidebar = turn_on_the_debugger(notebook)
    code = CELLS[kind]
    line = code.splitlines().index(STOPS_AT) + 1
    cell = notebook.write(code)
    click_breakpoint_gutter(cell, line)
    expect(sidebar.breakpoints).to_have_count(1, timeout=PATIENCE_MS)
    expect(sidebar.breakpoints.locator(".jp-DebuggerBreakpoint-line")).to_have_text(
        str(line)
    )
    cell_file = sidebar.breakpoints.get_attribute("title")
    assert cell_file

    notebook.run_written(cell)
    # Paused, or run past the breakpoint: whichever shows first.
    expect(sidebar.frames.or_(cell.stdout).first).to_be_visible(timeout=PATIENCE_MS)
    assert cell.stdout_lines() == [], "the cell ran past its breakpoint"
    # One frame, the cell's, at the line: none of arunner's (or the kernel's)
    # frames that run it on the loop thread.
    files = sidebar.frames.locator(".jp-DebuggerCallstackFrame-location")
    assert [f for f in titles(files) if names_arunner_source(f)] == []
    expect(sidebar.frames).to_have_count(1)
    frame = sidebar.frames.first
    expect(frame.locator(".jp-DebuggerCallstackFrame-name")).to_have_text("<module>")
    location = frame.locator(".jp-DebuggerCallstackFrame-location")
    expect(location).to_have_text(f"Cell [*]:{line}")
    expect(location).to_have_attribute("title", cell_file)
    highlighted = cell.locator.locator(".cm-line.jp-DebuggerEditor-highlight")
    expect(highlighted).to_have_count(1, timeout=PATIENCE_MS)
    expect(highlighted).to_have_text(STOPS_AT)
    assert line_of(highlighted) == line
    expect(sidebar.value("x")).to_have_text("41", timeout=PATIENCE_MS)
    assert cell.is_running()
    assert cell.stdout_lines() == []

    paused = float(notebook.page.evaluate("performance.now()"))
    assert notebook.status_at(paused) == "busy"

    sidebar.continue_button.click()
    cell.wait_printed("done 42")
    cell.wait_finished()
    notebook.wait_status("idle", since=paused)
    expect(cell.errors).to_have_count(0)
    assert cell.stdout_lines() == ["done 42"]
    expect(sidebar.frames).to_have_count(0, timeout=PATIENCE_MS)
    expect(highlighted).to_have_count(0)

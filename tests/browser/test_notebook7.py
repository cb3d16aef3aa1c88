"""What a Notebook 7 user sees: the stop button on a %%arun cell."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="needs the 'browser' extra: pip install -e .[browser]"
)

from playwright.sync_api import expect

from tests.browser.notebook import Notebook
from tests.browser.test_jupyterlab import FORMAT_A_TRACEBACK, INTERRUPTIBLE, SETUP

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_stop_button_cancels_the_cell_runs_its_cleanup_and_keeps_the_context(
    notebook7: Notebook,
) -> None:
    notebook7.ok(SETUP)
    notebook7.ok(FORMAT_A_TRACEBACK)
    sleeper = notebook7.run(INTERRUPTIBLE)
    sleeper.wait_printed("started")
    assert sleeper.is_running()
    clicked = notebook7.interrupt()
    idle = notebook7.wait_status("idle", since=clicked)
    sleeper.wait_finished()
    expect(sleeper.errors).to_contain_text("KeyboardInterrupt")
    assert sleeper.stdout_lines() == ["started", "cleanup"]  # not "resumed"
    assert idle - clicked < 1000, f"idle {idle - clicked:.0f} ms after the click"
    after = notebook7.ok("%%arun\nprint(seen.get())")
    assert after.stdout_lines() == ["set in the interrupted cell"]

"""A JupyterLab notebook as a person uses it, through Playwright.

Selectors are JupyterLab's stable hooks: ``data-command`` of toolbar buttons
and menu items, ``data-status`` of the toolbar's kernel execution indicator,
``data-mime-type`` of outputs.  Every wait is on page state with a bound.
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

#: Milliseconds any one thing in the page may take; far beyond a passing run.
PATIENCE_MS = 30_000

#: Records each change of the kernel status shown in the notebook's toolbar,
#: stamped with performance.now(), and answers questions about that history.
_WATCH_STATUS = """panel => {
    const read = () =>
        panel.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status;
    let last = read();
    const log = [[performance.now(), last]];
    new MutationObserver(() => {
        const now = read();
        if (now !== last) {
            last = now;
            log.push([performance.now(), now]);
        }
    }).observe(panel, {
        subtree: true, childList: true, attributes: true,
        attributeFilter: ['data-status'],
    });
    // When the status first became `status` after `since`, or null.
    panel.statusAfter = (since, status) =>
        log.find(([at, s]) => at > since && s === status)?.[0] ?? null;
    panel.statusAt = at => log.filter(([when]) => when <= at).at(-1)[1];
}"""

#: JupyterLab's toolbar buttons act on mousedown: that is when the click counts.
_STAMP_PRESS = """button => button.addEventListener(
    'mousedown', () => { button.pressedAt = performance.now(); },
    {capture: true, once: true})"""

_FINISHED_PROMPT = re.compile(r"^\[\d+\]:$")
_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.{}"]'
_STDOUT = _OUTPUT.format("stdout")
_STDERR = _OUTPUT.format("stderr")
_HTML = '.jp-OutputArea-output[data-mime-type="text/html"]'


class Cell:
    """One code cell of the notebook."""

    def __init__(self, locator: Locator) -> None:
        self.locator = locator
        self.prompt = locator.locator(".jp-InputPrompt")
        self.editor = locator.locator(".cm-content")

    @property
    def stdout(self) -> Locator:
        return self.locator.locator(_STDOUT)

    @property
    def errors(self) -> Locator:
        """Tracebacks; JupyterLab renders them as stderr."""
        return self.locator.locator(_STDERR)

    @property
    def outputs(self) -> Locator:
        """Every output under this cell, whatever its type."""
        return self.locator.locator(".jp-OutputArea-output")

    @property
    def html(self) -> Locator:
        """Outputs rendered from HTML, such as displays with ``_repr_html_``."""
        return self.locator.locator(_HTML)

    def number(self) -> int:
        """The N of a finished cell's prompt ``[N]:``, its In[N]."""
        return int(self.prompt.inner_text().strip("[]:"))

    def stdout_lines(self) -> list[str]:
        """The non-blank lines printed under this cell, across stream outputs."""
        texts = self.stdout.all_inner_texts()
        return [line for text in texts for line in text.splitlines() if line.strip()]

    def wait_printed(self, line: str) -> None:
        """Wait until ``line`` was printed under this cell.

        A result displayed in between splits the stream into several outputs.
        """
        self.locator.page.wait_for_function(
            """([cell, selector, line]) => Array.from(cell.querySelectorAll(selector))
                .some(output => output.innerText.split('\\n').includes(line))""",
            arg=[self.locator.element_handle(), _STDOUT, line],
            timeout=PATIENCE_MS,
        )

    def wait_finished(self) -> None:
        expect(self.prompt).to_have_text(_FINISHED_PROMPT, timeout=PATIENCE_MS)

    def is_running(self) -> bool:
        return self.prompt.inner_text() == "[*]:"


class Notebook:
    """A new notebook on the test kernel, opened from JupyterLab's launcher.

    With ``from_launcher=False``, ``url`` opens the notebook itself, as
    Notebook 7 does; its notebook page is made of JupyterLab's parts.
    """

    def __init__(
        self,
        page: Page,
        url: str,
        kernel_display_name: str,
        *,
        from_launcher: bool = True,
    ) -> None:
        self.page = page
        page.goto(url)
        if from_launcher:
            page.locator(
                '.jp-LauncherCard[data-category="Notebook"]'
                f'[title="{kernel_display_name}"]'
            ).click()
        self.panel = page.locator(".jp-NotebookPanel:visible")
        self._cells = self.panel.locator(".jp-Notebook .jp-Cell")
        # The indicator says "idle" before any kernel exists: first the kernel's
        # name must show, then its status after connecting.
        expect(self.panel.locator(".jp-Toolbar-kernelName")).to_have_text(
            kernel_display_name, timeout=PATIENCE_MS
        )
        expect(self.panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
            "data-status", "idle", timeout=PATIENCE_MS
        )
        self.panel.evaluate(_WATCH_STATUS)

    # -- cells ----------------------------------------------------------------

    def write(self, code: str) -> Cell:
        """Type ``code`` into the last (empty) cell, without running it."""
        # By its index: ``last`` would move on to the cell that running adds.
        cell = Cell(self._cells.nth(self._cells.count() - 1))
        cell.editor.click()
        # One input event, as a paste: no auto-indent or bracket closing.
        self.page.keyboard.insert_text(code)
        return cell

    def run(self, code: str) -> Cell:
        """Type ``code`` into the last (empty) cell and run it with Shift+Enter.

        Returns at once: the cell may still be running.
        """
        cell = self.write(code)
        self._shift_enter()
        return cell

    def run_written(self, cell: Cell) -> None:
        """Run the last cell, written with write(), from its editor with
        Shift+Enter.  Returns at once: the cell may still be running."""
        cell.editor.click()
        self._shift_enter()

    def _shift_enter(self) -> None:
        """Shift+Enter in the last cell: it runs, and a new cell comes after it."""
        count = self._cells.count()
        self.page.keyboard.press("Shift+Enter")
        expect(self._cells).to_have_count(count + 1, timeout=PATIENCE_MS)

    def ok(self, code: str) -> Cell:
        """Run ``code`` and wait for it to finish without an error."""
        cell = self.run(code)
        cell.wait_finished()
        expect(cell.errors).to_have_count(0)
        return cell

    # -- the kernel -------------------------------------------------------------

    def wait_status(self, status: str, since: float = 0.0) -> float:
        """Wait until the toolbar's kernel status became ``status`` after ``since``.

        Returns when it did, in the page's performance.now() milliseconds.
        """
        self.page.wait_for_function(
            "([panel, since, status]) => panel.statusAfter(since, status) !== null",
            arg=[self.panel.element_handle(), since, status],
            timeout=PATIENCE_MS,
        )
        return float(
            self.panel.evaluate(
                "(panel, [since, status]) => panel.statusAfter(since, status)",
                [since, status],
            )
        )

    def status_at(self, at: float) -> str:
        return str(self.panel.evaluate("(panel, at) => panel.statusAt(at)", at))

    def interrupt(self) -> float:
        """Click the toolbar's stop button; return when, in page milliseconds."""
        button = self.panel.locator(
            '.jp-Toolbar [data-command="notebook:interrupt-kernel"]'
        )
        button.evaluate(_STAMP_PRESS)
        button.click()
        return float(button.evaluate("button => button.pressedAt"))

    def restart_from_menu(self) -> float:
        """Kernel > Restart Kernel…, then confirm; return when, in page ms."""
        since = float(self.page.evaluate("performance.now()"))
        self.page.locator(".lm-MenuBar-item", has_text="Kernel").click()
        self.page.locator('.lm-Menu-item[data-command="kernelmenu:restart"]').click()
        dialog = self.page.locator(".jp-Dialog")
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        expect(dialog).to_have_count(0, timeout=PATIENCE_MS)
        return since

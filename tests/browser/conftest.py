"""JupyterLab and Notebook 7 in headless Chromium: private servers, a browser.

Chromium is Debian's (``apt-get install chromium``), never a browser that
Playwright would download: without it these tests skip and say why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser.jupyterlab import JupyterLab, Notebook7
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_MISSING
from tests.kernel.conftest import KERNEL_NAME

if TYPE_CHECKING:  # Playwright is imported where used: the tests skip without it
    from playwright.sync_api import BrowserContext

    from tests.browser.notebook import Notebook


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    server = JupyterLab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def notebook7_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Notebook7]:
    server = Notebook7(tmp_path_factory.mktemp("notebook7"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Chromium with a fresh profile."""
    if not CHROMIUM.exists():
        pytest.skip(CHROMIUM_MISSING)
    from playwright.sync_api import sync_playwright

    from tests.browser.notebook import PATIENCE_MS

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(PATIENCE_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def notebook(browser: BrowserContext, lab: JupyterLab) -> Iterator[Notebook]:
    """A new notebook on the test kernel, in a tab of its own."""
    from tests.browser.notebook import Notebook

    page = browser.new_page()
    try:
        yield Notebook(page, lab.lab_url(), lab.kernel_display_name)
    finally:
        page.close()


@pytest.fixture
def notebook7(
    browser: BrowserContext, notebook7_server: Notebook7, request: pytest.FixtureRequest
) -> Iterator[Notebook]:
    """A new notebook on the test kernel in Notebook 7, in a tab of its own.

    Notebook 7 has no launcher: the notebook is a file, opened by its address.
    """
    import nbformat

    from tests.browser.notebook import Notebook

    name = f"{request.node.name}.ipynb"
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell("")],
            metadata={
                "kernelspec": {
                    "name": KERNEL_NAME,
                    "display_name": notebook7_server.kernel_display_name,
                    "language": "python",
                }
            },
        ),
        notebook7_server.root / name,
    )
    page = browser.new_page()
    try:
        yield Notebook(
            page,
            notebook7_server.notebook_url(name),
            notebook7_server.kernel_display_name,
            from_launcher=False,
        )
    finally:
        page.close()

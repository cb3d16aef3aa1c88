"""The conformance tests interrupt the process itself, as CPython's do.

``test_interrupt_*`` call ``_thread.interrupt_main()``, which runs the
SIGINT handler in the main thread.  arunner installs its handler only in the
main thread and only over Python's default one (as asyncio.Runner does), so
these tests mean something only where pytest leaves both so; pytest itself
installs no SIGINT handler, and pytest-timeout (method "signal") uses
SIGALRM.  Anything else would turn their failures into noise: say so first.
"""

from __future__ import annotations

import signal
import threading

import pytest


@pytest.fixture(autouse=True)
def _interrupts_reach_the_runner() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.fail("conformance tests must run in the main thread")
    handler = signal.getsignal(signal.SIGINT)
    if handler is not signal.default_int_handler:
        pytest.fail(
            f"SIGINT is handled by {handler!r}, not Python's default handler: "
            "arunner would leave it in place and the interrupt tests would fail"
        )

"""A kernelspec with ``"interrupt_mode": "message"``, as on hosts without signals.

jupyter_client then interrupts by an ``interrupt_request`` on the control
channel rather than a SIGINT from outside, and ipykernel signals itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernel.cells import interruptible
from tests.kernel.conftest import Kernel, kernel_spec_in, launch_kernel

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def by_message(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    specs = kernel_spec_in(tmp_path_factory.mktemp("message-mode"))
    spec_file = Path(specs.kernel_dirs[0]) / "arunner-test" / "kernel.json"
    spec = json.loads(spec_file.read_text())
    spec_file.write_text(json.dumps({**spec, "interrupt_mode": "message"}))
    kernel = launch_kernel(specs, tmp_path_factory.mktemp("log") / "kernel.log")
    try:
        assert kernel.manager.kernel_spec is not None
        assert kernel.manager.kernel_spec.interrupt_mode == "message"
        kernel.ok("import asyncio")
        yield kernel
    finally:
        kernel.stop()


def test_an_interrupt_request_cancels_the_cell_and_runs_its_cleanup(
    by_message: Kernel,
) -> None:
    reply = by_message.execute(interruptible(), interrupt_on="started")
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\ncleanup\n"  # not "resumed"
    assert reply.interrupt_to_idle < 5  # not the 30 s of the sleep
    assert by_message.value("%arun asyncio.sleep(0, 'usable')") == "'usable'"


def test_an_interrupt_request_reaches_an_autoawait_routed_cell(
    by_message: Kernel,
) -> None:
    by_message.ok("%arun --auto on")
    try:
        reply = by_message.execute(interruptible(magic=None), interrupt_on="started")
    finally:
        by_message.ok("%arun --auto off")
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\ncleanup\n"

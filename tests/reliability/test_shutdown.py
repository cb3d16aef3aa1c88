"""Shutdown and restart with work in flight: every ``finally`` runs, on time.

A kernel holds 100 pending tasks whose cleanup awaits, suspended async
generators and executor jobs, each of which appends a line to a file in its
``finally``.  Shutting the kernel down, restarting it, or restarting only
the runner must run every one of them, within ``shutdown_timeout``, with
the kernel exiting by itself (not killed) and without asyncio's "Task was
destroyed but it is pending".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.kernel.conftest import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.reliability]

TASKS, GENERATORS, JOBS = 100, 10, 10

#: Below the 2.5 s after which jupyter_client sends SIGTERM to a kernel that
#: has not exited, so that "exited by itself" and "within the timeout" agree.
SHUTDOWN_TIMEOUT = 2.0

IN_FLIGHT = """%%arun
import time
def note(what):
    with open({log!r}, "a") as log:  # one short append per line: no interleaving
        log.write(what + "\\n")

async def pending(i):
    try:
        await asyncio.sleep(3600)
    finally:
        await asyncio.sleep(0.01)  # cleanup that awaits
        note(f"task {{i}}")

async def numbers(i):
    try:
        while True:
            yield i
    finally:
        note(f"generator {{i}}")

def job(i):
    try:
        time.sleep(0.2)
    finally:
        note(f"job {{i}}")

tasks = [asyncio.create_task(pending(i)) for i in range({tasks})]
generators = [numbers(i) for i in range({generators})]
for generator in generators:
    await generator.__anext__()
loop = asyncio.get_running_loop()
jobs = [loop.run_in_executor(None, job, i) for i in range({jobs})]
await asyncio.sleep(0.01)
print(len([t for t in tasks if not t.done()]), "pending", flush=True)
"""

EXPECTED = sorted(
    [f"task {i}" for i in range(TASKS)]
    + [f"generator {i}" for i in range(GENERATORS)]
    + [f"job {i}" for i in range(JOBS)]
)


def load(kernel: Kernel, log: Path) -> None:
    kernel.record_complaints(log.with_name("complaints.log"))
    kernel.ok(
        f"import asyncio\n%config ARunMagics.shutdown_timeout = {SHUTDOWN_TIMEOUT}"
    )
    reply = kernel.ok(
        IN_FLIGHT.format(log=str(log), tasks=TASKS, generators=GENERATORS, jobs=JOBS)
    )
    assert reply.stdout == f"{TASKS} pending\n"


def every_finally_ran(log: Path) -> None:
    assert sorted(log.read_text().splitlines()) == EXPECTED


def no_complaints(kernel: Kernel, log: Path) -> None:
    """No warning or error log in the kernel (arunner's close reports its
    problems as warnings) and no traceback on its own stderr."""
    assert log.with_name("complaints.log").read_text() == ""
    assert "Traceback" not in kernel.log.read_text()


def exits_by_itself_within_the_timeout(
    kernel: Kernel, stop: Callable[[], None]
) -> None:
    process = kernel.manager.provisioner.process  # type: ignore[union-attr]
    begin = time.monotonic()
    stop()
    process.wait(10)
    assert time.monotonic() - begin < SHUTDOWN_TIMEOUT
    assert process.returncode == 0  # not terminated or killed by jupyter_client


def test_kernel_shutdown(start_kernel: Callable[..., Kernel], tmp_path: Path) -> None:
    kernel = start_kernel()
    log = tmp_path / "finally.log"
    load(kernel, log)
    kernel.client.stop_channels()
    exits_by_itself_within_the_timeout(
        kernel, lambda: kernel.manager.shutdown_kernel(now=False)
    )
    every_finally_ran(log)
    no_complaints(kernel, log)


def test_kernel_restart(start_kernel: Callable[..., Kernel], tmp_path: Path) -> None:
    kernel = start_kernel()
    log = tmp_path / "finally.log"
    load(kernel, log)
    exits_by_itself_within_the_timeout(
        kernel, lambda: kernel.manager.restart_kernel(now=False)
    )
    every_finally_ran(log)
    kernel.client.wait_for_ready(timeout=60)
    fresh = "import asyncio\n%load_ext arunner\n%arun asyncio.sleep(0, 'fresh')"
    assert kernel.value(fresh) == "'fresh'"
    no_complaints(kernel, log)


def test_runner_restart(start_kernel: Callable[..., Kernel], tmp_path: Path) -> None:
    kernel = start_kernel()
    log = tmp_path / "finally.log"
    load(kernel, log)
    begin = time.monotonic()
    restarted = kernel.ok("%arun --restart")
    assert time.monotonic() - begin < SHUTDOWN_TIMEOUT
    assert f"cancelled {TASKS} pending task(s)" in restarted.stdout
    every_finally_ran(log)
    assert restarted.stderr == ""
    assert kernel.value("%arun asyncio.sleep(0, 'fresh')") == "'fresh'"
    no_complaints(kernel, log)

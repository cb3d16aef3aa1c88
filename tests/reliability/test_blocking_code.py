"""Code that ignores cancellation inside ``%%arun``: tight loops, blocking calls.

Two interrupts always end the cell.  A pure-Python loop is stopped inside
the loop thread and the runner recovers by itself; a call blocked in C
(``time.sleep``, a socket read) cannot be stopped, so the next call says
so and points at ``%arun --restart``, which always works.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.kernel.conftest import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.reliability]

ALIVE = "%arun asyncio.sleep(0, 'alive')"

STUBBORN = """%%arun
try:
    print("started", flush=True)
    {body}
    print("resumed")
finally:
    print("cleanup", flush=True)
"""


@pytest.fixture(scope="module")
def nb(start_kernel: Callable[..., Kernel]) -> Kernel:
    kernel = start_kernel()
    # A short shutdown timeout: a restart waits that long for a blocked thread.
    kernel.ok("import asyncio, socket, time\n%config ARunMagics.shutdown_timeout = 1.0")
    return kernel


#: A loopback socket pair per test: a read abandoned by one test must not
#: take the byte another test sends.
FRESH_SOCKETS = "reader, writer = socket.socketpair()"


def interrupt_twice(nb: Kernel, body: str) -> str:
    """Run ``body`` in %%arun, interrupt it twice; return what it printed."""
    reply = nb.execute(STUBBORN.format(body=body), interrupt_on="started", interrupts=2)
    assert reply.ename == "KeyboardInterrupt"
    assert reply.interrupt_to_idle < 5  # the two interrupts ended it, not the body
    assert "resumed" not in reply.stdout
    return reply.stdout


def restart_works(nb: Kernel) -> None:
    assert "restarted the runner" in nb.ok("%arun --restart").stdout
    assert nb.value(ALIVE) == "'alive'"


def test_a_tight_loop_is_stopped_its_cleanup_runs_and_the_runner_recovers(
    nb: Kernel,
) -> None:
    assert interrupt_twice(nb, "while True: pass") == "started\ncleanup\n"
    assert nb.value(ALIVE) == "'alive'"
    restart_works(nb)


@pytest.mark.parametrize(
    "body", ["time.sleep(60)", "reader.recv(1)"], ids=["time.sleep", "socket-read"]
)
def test_a_call_blocked_in_c_is_reported_and_restart_gets_a_fresh_runner(
    nb: Kernel, body: str
) -> None:
    nb.ok(FRESH_SOCKETS)
    assert interrupt_twice(nb, body) == "started\n"
    stuck = nb.execute(ALIVE)
    assert stuck.ename == "RuntimeError"
    said = stuck.error["evalue"]
    assert "still blocked" in said
    assert "%arun --restart" in said
    # The cell's own line (its fourth: the body), not arunner's wrapper.
    assert re.search(r"by task '[^']*' at <module> \([^()]*:4\)", said), said
    assert "in_cell" not in said
    assert "<coroutine object" not in said
    restart_works(nb)
    nb.ok("writer.send(b'x')")  # lets an abandoned read end


def test_the_abandoned_thread_finishes_its_cleanup_once_the_read_returns(
    nb: Kernel,
) -> None:
    """A blocked read that gets its data ends in CancelledError, cleanup included."""
    nb.ok(FRESH_SOCKETS)
    reply = nb.execute(
        STUBBORN.format(body="reader.recv(1)"), interrupt_on="started", interrupts=2
    )
    assert reply.ename == "KeyboardInterrupt"
    nb.ok("writer.send(b'x')")
    late = nb.wait_elsewhere(reply.msg_id, "cleanup")
    assert "resumed" not in "".join(m["content"].get("text", "") for m in late)
    assert nb.value(ALIVE) == "'alive'"

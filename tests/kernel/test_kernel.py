"""What a notebook user sees, in a real kernel driven through jupyter_client."""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kernel.cells import (
    SLOW_CLEANUP,
    cell_lines,
    interruptible,
    needs_routing_by_context,
)
from tests.kernel.conftest import Kernel, Reply
from tests.paths import names_arunner_source

pytestmark = pytest.mark.kernel

SETUP = """
import asyncio, contextvars, threading, time
var = contextvars.ContextVar("var", default="unset")
"""

SLEEPER = f"""%%arun
try:
    print("started", flush=True)
    await asyncio.sleep(30)
    print("resumed")
except asyncio.CancelledError:
    print("except CancelledError", flush=True)
    raise
finally:
{textwrap.indent(SLOW_CLEANUP, "    ")}
"""


@pytest.fixture(scope="module")
def nb(kernel: Kernel) -> Kernel:
    kernel.ok(SETUP)
    return kernel


def test_asyncio_run_fails_in_a_kernel_and_arun_does_the_job(nb: Kernel) -> None:
    plain = nb.execute("asyncio.run(asyncio.sleep(0))")
    assert plain.ename == "RuntimeError"
    assert "cannot be called from a running event loop" in plain.error["evalue"]
    assert nb.value("%arun asyncio.sleep(0, 'ran')") == "'ran'"
    assert nb.value("%arun --status") is None
    status = nb.ok("%arun --status").stdout
    assert "engine:           thread" in status
    assert "thread:           arunner-loop-" in status


def test_context_var_set_after_await_survives_to_the_next_cell(nb: Kernel) -> None:
    nb.ok("%%arun\nawait asyncio.sleep(0.01)\nvar.set('kept')")
    assert nb.value("%%arun\nawait asyncio.sleep(0)\nvar.get()") == "'kept'"
    assert nb.value("%arun asyncio.sleep(0, var.get())") == "'kept'"


def test_first_interrupt_cancels_cleanup_runs_then_keyboard_interrupt(
    nb: Kernel,
) -> None:
    nb.ok("%%arun\nvar.set('before the interrupt')")
    reply = nb.execute(SLEEPER, interrupt_on="started")
    assert reply.ename == "KeyboardInterrupt"
    assert reply.status == "error"
    assert reply.stdout == "started\nexcept CancelledError\ncleanup\n"
    assert reply.printed_before_error("cleanup"), "the cell ended before its cleanup"
    assert "resumed" not in reply.stdout
    assert reply.interrupt_to_idle < 5  # not the 30 s of the sleep
    assert nb.value("%arun asyncio.sleep(0, var.get())") == "'before the interrupt'"


def test_second_interrupt_ends_the_cell_during_a_stubborn_cleanup(nb: Kernel) -> None:
    reply = nb.execute(
        interruptible(
            cleanup="print('cleanup started', flush=True)\n"
            "await asyncio.sleep(30)\n"
            "print('cleanup finished')"
        ),
        interrupt_on="started",
        interrupts=2,
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\ncleanup started\n"
    assert reply.interrupt_to_idle < 5
    assert nb.value("%arun asyncio.sleep(0, 'usable')") == "'usable'"


def test_tight_loop_is_stopped_by_two_interrupts_and_the_runner_recovers(
    nb: Kernel,
) -> None:
    reply = nb.execute(
        interruptible("while True:\n    pass"),
        interrupt_on="started",
        interrupts=2,
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.interrupt_to_idle < 5
    assert "cleanup" in reply.stdout
    # The traceback goes on into the user's cell as the loop thread ran it
    # (a frame of the cell's body, below the "%%arun" line 1), and not into
    # arunner's interrupt handler (the line: tests/kernel/test_tracebacks.py).
    assert reply.error is not None
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(reply.error["traceback"]))
    assert "_interrupt.py" not in shown
    assert any(line >= 2 for line in cell_lines(shown)), shown
    assert nb.value("%arun asyncio.sleep(0, 'recovered')") == "'recovered'"


def test_prints_displays_results_and_errors_land_in_their_cell(nb: Kernel) -> None:
    reply = nb.execute(
        "%%arun\n"
        "from IPython.display import display\n"
        "print('to stdout')\n"
        "import sys; print('to stderr', file=sys.stderr)\n"
        "await asyncio.sleep(0)\n"
        "display('displayed')\n"
        "40 + 2\n"
    )
    assert reply.stdout == "to stdout\n"
    assert reply.stderr == "to stderr\n"
    assert reply.displays == ["'displayed'"]
    assert reply.result == "42"
    failing = nb.execute(
        "%%arun\nawait asyncio.sleep(0)\nraise ValueError('in the cell')"
    )
    assert failing.ename == "ValueError"
    traceback = "\n".join(failing.error["traceback"])
    assert "in the cell" in traceback
    assert not names_arunner_source(traceback)
    assert reply.msg_id not in nb.elsewhere
    assert failing.msg_id not in nb.elsewhere


def test_syntax_error_in_the_cell_shows_as_in_a_plain_cell(nb: Kernel) -> None:
    """Raised from a magic, IPython shows a SyntaxError under a "Traceback"
    of IPython's, arunner's and ast's frames; a plain cell shows only the
    line (numbered as in the cell: line 3 in both) and the caret."""

    def shown(reply: Reply) -> str:
        errors = [m for m in reply.outputs if m["msg_type"] == "error"]
        assert len(errors) == 1
        # IPython 8+ names the cell, IPython 7 the file of its code
        return re.sub(
            r"In\[\d+\]|ipykernel_\d+/\d+\.py|\x1b\[[0-9;]*m",
            lambda name: "" if name[0].startswith("\x1b") else "CELL",
            "\n".join(errors[0]["content"]["traceback"]),
        )

    plain = nb.execute("x = 1\n\ndef broken(:\n    pass")
    magic = nb.execute("%%arun\nawait asyncio.sleep(0)\ndef broken(:\n    pass")
    assert magic.status == plain.status == "error"
    assert magic.ename == plain.ename == "SyntaxError"
    assert shown(magic) == shown(plain)
    assert "line 3" in shown(magic)
    assert "def broken(:" in shown(magic)
    assert nb.value("%arun asyncio.sleep(0, 'usable')") == "'usable'"


def test_result_is_stored_in_out_like_a_normal_cell(nb: Kernel) -> None:
    reply = nb.ok("%%arun\nawait asyncio.sleep(0)\n'stored'")
    count = reply.outputs[-1]["content"]["execution_count"]
    assert nb.value(f"Out[{count}]") == "'stored'"
    assert nb.ok("%%arun\nawait asyncio.sleep(0)\n'quiet';").result is None


@needs_routing_by_context
def test_background_task_prints_under_its_cell_while_other_cells_block(
    nb: Kernel,
) -> None:
    starter = nb.ok(
        "%%arun\n"
        "ticked = threading.Event()\n"
        "async def ticker():\n"
        "    for i in range(5):\n"
        "        print(f'tick {i}', flush=True)\n"
        "        await asyncio.sleep(0.1)\n"
        "    ticked.set()\n"
        "ticking = asyncio.create_task(ticker())\n"
    )
    # This cell holds the kernel's thread until the ticker has finished.
    blocker = nb.ok("assert ticked.wait(20)\nprint('plain cell done')")
    assert blocker.stdout == "plain cell done\n"
    assert "tick" not in blocker.stdout
    late = nb.wait_elsewhere(starter.msg_id, "tick 4")
    assert all(m["parent_header"]["msg_id"] == starter.msg_id for m in late)


def test_background_handle_from_the_notebook_thread(nb: Kernel) -> None:
    nb.ok("gate = threading.Event()")
    nb.ok("h = %arun -b -n slow asyncio.to_thread(lambda: gate.wait(20) and 'done')")
    assert nb.value("h.done()") == "False"  # it waits for the gate
    nb.ok("gate.set()")
    assert nb.value("h.result(timeout=10)") == "'done'"
    assert nb.value("%%arun\nawait h") == "'done'"
    tasks = nb.ok("%arun -b -n listed asyncio.sleep(60)\n%arun --tasks")
    assert "listed" in tasks.result
    assert "text/html" in tasks.outputs[-1]["content"]["data"]
    nb.ok("%arun --cancel listed")


def test_inline_mode_in_a_kernel_gives_the_documented_error(nb: Kernel) -> None:
    nb.ok("%config ARunMagics.mode = 'inline'")
    try:
        reply = nb.execute("%arun asyncio.sleep(0)")
        assert reply.ename == "RuntimeError"
        assert "cannot be called from a running event loop" in reply.error["evalue"]
        assert "mode='thread'" in reply.error["evalue"]
    finally:
        nb.ok("%config ARunMagics.mode = 'auto'")
    assert nb.value("%arun asyncio.sleep(0, 'auto again')") == "'auto again'"


def test_a_setting_that_restarts_the_runner_warns_in_the_cells_name(
    nb: Kernel,
) -> None:
    nb.ok("%arun -b -n cancelled_by_config asyncio.sleep(60)")
    try:
        said = nb.ok("%config ARunMagics.debug = True").stderr
    finally:
        nb.ok("%config ARunMagics.debug = None")
    # The cell's file and line, as for a warning its own code raises; it
    # named a line of traitlets, which runs the setting's observer.
    assert re.match(
        r"\S+\.py:1: RuntimeWarning: arunner: ARunMagics.debug changed to True; "
        r"the runner was restarted and 1 pending task\(s\) were cancelled: "
        r"cancelled_by_config\n",
        said,
    ), said
    assert "traitlets" not in said


def test_reload_ext_leaves_one_loop_thread(nb: Kernel) -> None:
    nb.ok("%arun asyncio.sleep(0)")
    nb.ok("%reload_ext arunner")
    nb.ok("%arun asyncio.sleep(0)")
    count = nb.value(
        "len([t for t in threading.enumerate() if t.name.startswith('arunner-loop-')])"
    )
    assert count == "1"


# -- shutdown and restart: a kernel of their own ------------------------------------

PENDING_WITH_CLEANUP = """%%arun
import pathlib
async def pending():
    try:
        await asyncio.sleep(60)
    finally:
        await asyncio.sleep(1.5)   # a slow cleanup, well within the default timeout
        pathlib.Path({path!r}).write_text("cleanup ran")
async def numbers():
    try:
        while True:
            yield 1
    finally:
        pathlib.Path({agen!r}).write_text("agen finalised")
t = asyncio.create_task(pending())
gen = numbers()
await gen.__anext__()
"""


@dataclass
class PendingWork:
    """A kernel with a pending task and a suspended async generator, each of
    which writes a file in its ``finally``."""

    kernel: Kernel
    cleanup: Path
    agen: Path
    complaints: Path

    def was_cleaned_up(self) -> bool:
        return (
            self.cleanup.read_text() == "cleanup ran"
            and self.agen.read_text() == "agen finalised"
        )


@pytest.fixture
def pending_work(start_kernel: Callable[..., Kernel], tmp_path: Path) -> PendingWork:
    kernel = start_kernel()
    complaints = kernel.record_complaints(tmp_path / "complaints.log")
    kernel.ok("import asyncio")
    work = PendingWork(
        kernel, tmp_path / "cleanup.txt", tmp_path / "agen.txt", complaints
    )
    kernel.ok(PENDING_WITH_CLEANUP.format(path=str(work.cleanup), agen=str(work.agen)))
    return work


def test_kernel_shutdown_runs_pending_cleanup_without_warnings(
    pending_work: PendingWork,
) -> None:
    kernel = pending_work.kernel
    begin = time.monotonic()
    kernel.client.stop_channels()
    kernel.manager.shutdown_kernel(now=False)
    assert time.monotonic() - begin < 5  # within shutdown_timeout, no kill needed
    assert pending_work.was_cleaned_up()
    assert pending_work.complaints.read_text() == ""  # no warning, no asyncio error
    assert "Traceback" not in kernel.log.read_text()


def test_kernel_restart_runs_pending_cleanup(pending_work: PendingWork) -> None:
    pending_work.kernel.manager.restart_kernel(now=False)
    assert pending_work.was_cleaned_up()
    assert pending_work.complaints.read_text() == ""


def test_unload_ext_closes_the_runner_and_cleanup_runs(
    pending_work: PendingWork,
) -> None:
    reply = pending_work.kernel.ok("%unload_ext arunner")
    assert "cancelled 1 pending task(s)" in reply.stdout
    assert pending_work.was_cleaned_up()


def test_kernel_shutdown_gives_up_on_an_endless_cleanup_before_jupyter_kills_it(
    start_kernel: Callable[..., Kernel], tmp_path: Path
) -> None:
    """jupyter_client sends SIGTERM 2.5 s after the shutdown request; the
    runner must have given up by then, so that the kernel exits by itself,
    and say which task it gave up on."""
    kernel = start_kernel()
    complaints = kernel.record_complaints(tmp_path / "complaints.log")
    kernel.ok("import asyncio")
    kernel.ok(
        "%%arun\n"
        "async def endless():\n"
        "    try:\n"
        "        await asyncio.sleep(3600)\n"
        "    finally:\n"
        "        await asyncio.sleep(3600)\n"
        "t = asyncio.create_task(endless(), name='endless-cleanup')\n"
        "await asyncio.sleep(0)\n"
    )
    process = kernel.manager.provisioner.process  # type: ignore[union-attr]
    kernel.client.stop_channels()
    kernel.manager.shutdown_kernel(now=False)
    assert process.wait(timeout=10) == 0  # not -15: no SIGTERM was needed
    assert "task 'endless-cleanup' did not finish its cleanup" in complaints.read_text()

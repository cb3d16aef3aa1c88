"""Calls that meet each other in a real kernel: a restart cut short by an
interrupt, magics called from inside the runner, runs from other threads and
subshells, and output from executor threads.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.cells import interruptible, needs_routing_by_context
from tests.kernel.comms import shell_replies
from tests.kernel.conftest import Kernel, Reply

pytestmark = pytest.mark.kernel

IPYKERNEL_VERSION = importlib.metadata.version("ipykernel")

#: Kernel subshells (JEP 91) are new in ipykernel 7.
needs_subshells = pytest.mark.skipif(
    int(IPYKERNEL_VERSION.split(".")[0]) < 7,
    reason=f"kernel subshells (JEP 91) are new in ipykernel 7; "
    f"this is ipykernel {IPYKERNEL_VERSION}",
)

#: What a refused restart, reconfiguration or unload must tell the user to do.
OWN_CELL = "in a cell of its own"

SETUP = """
import asyncio, contextvars, threading, time
import arunner
"""


@pytest.fixture(scope="module")
def nb(kernel: Kernel) -> Kernel:
    """The module's kernel, its runner started from the shell's own thread."""
    kernel.ok(SETUP)
    kernel.ok("%arun asyncio.sleep(0)")
    return kernel


@pytest.fixture
def fresh(start_kernel: Callable[..., Kernel]) -> Iterator[Kernel]:
    """A kernel of the test's own, arunner loaded and no runner started yet."""
    kernel = start_kernel()
    kernel.ok(SETUP)
    yield kernel
    kernel.stop()


def status(kernel: Kernel) -> str:
    reply = kernel.execute("%arun --status")
    assert reply.error is None, raised(reply)
    return reply.stdout


def loop_thread(status_text: str) -> str:
    """The runner's loop thread name in a ``%arun --status`` text."""
    found = re.search(r"^thread: +(\S.*)$", status_text, re.MULTILINE)
    assert found is not None, status_text
    return found.group(1)


def printed(reply: Reply) -> str:
    return reply.stdout + reply.stderr


def raised(reply: Reply) -> str:
    """What the cell raised, in one line, for an assertion message."""
    if reply.error is None:
        return "nothing"
    return f"{reply.ename}: {reply.error['evalue']}"


# -- 1. a restart interrupted while it closes the runner ----------------------------

BUSY_RUNNER = """%%arun
import pathlib
async def worker():
    try:
        while True:
            await asyncio.sleep(0.5)
    finally:
        pathlib.Path({path!r}).write_text("worker cleaned up")
async def hog():
    await asyncio.sleep(0.2)
    print("hogging", flush=True)
    time.sleep(2.5)   # blocks the loop: the close has to wait for it
working = asyncio.create_task(worker())
hogging = asyncio.create_task(hog())
print("started", flush=True)
"""


def test_restart_interrupted_mid_close_finishes_the_close_then_interrupts(
    fresh: Kernel, tmp_path: Path
) -> None:
    cleanup = tmp_path / "worker-cleanup.txt"
    fresh.ok("%config ARunMagics.shutdown_timeout = 5")
    fresh.ok("%arun asyncio.sleep(0)")
    old_thread = loop_thread(status(fresh))  # asked now: it waits for the loop
    busy = fresh.ok(BUSY_RUNNER.format(path=str(cleanup)))
    fresh.wait_elsewhere(busy.msg_id, "hogging")  # the loop is blocked now
    reply = fresh.execute(
        interruptible(
            "get_ipython().run_line_magic('arun', '--restart')\nprint('resumed')",
            magic=None,
        ),
        interrupt_on="started",
        delay=0.5,  # the close is waiting for the hog by then
    )
    assert reply.ename == "KeyboardInterrupt", "the interrupt came after the close"
    assert "cleanup" in reply.stdout  # the cell's own finally
    assert "resumed" not in reply.stdout
    # The close finished (the worker's cleanup ran) before the interrupt
    # propagated, and said so, without claiming a restart that went well.
    assert cleanup.exists(), "the cell ended before the close ran the cleanup"
    assert cleanup.read_text() == "worker cleaned up"
    assert "restarted the runner" not in printed(reply)
    assert "closed" in printed(reply)
    assert fresh.value("%arun asyncio.sleep(0, 'ok')") == "'ok'"
    after = status(fresh)
    assert "engine:           thread" in after
    assert loop_thread(after) != old_thread
    count = fresh.value(
        "len([t for t in threading.enumerate() if t.name.startswith('arunner-loop-')])"
    )
    assert count == "1"  # the old loop thread is gone


# -- 2. restart, reconfigure, unload from inside the runner: refused ------------------


@pytest.mark.parametrize(
    ("call", "named"),
    [
        pytest.param(
            "get_ipython().run_line_magic('arun', '--restart')",
            "--restart",
            id="restart",
        ),
        pytest.param(
            "get_ipython().run_line_magic('config', 'ARunMagics.mode = \"thread\"')",
            "ARunMagics.mode",
            id="config",
        ),
        pytest.param(
            "get_ipython().run_line_magic('unload_ext', 'arunner')",
            "unload_ext",
            id="unload",
        ),
    ],
)
def test_closing_the_runner_from_inside_it_is_refused_and_keeps_it(
    fresh: Kernel, call: str, named: str
) -> None:
    fresh.ok("v = contextvars.ContextVar('v', default='unset')")
    fresh.ok("%%arun\nawait asyncio.sleep(0)\nv.set('kept')")
    before = loop_thread(status(fresh))
    reply = fresh.execute(f"%%arun\nawait asyncio.sleep(0)\n{call}\n")
    # IPython shows a UsageError on stderr, not as an error message; and
    # %config catches whatever setting a trait raises and logs it, which
    # also lands on the cell's stderr.
    assert reply.error is None, raised(reply)
    if named == "ARunMagics.mode":
        # What was wrong, that nothing changed, and the line to write instead.
        assert "cannot change from code that runs on the runner" in reply.stderr
        assert "left as it was and the runner keeps running" in reply.stderr
        assert (
            "Run %config ARunMagics.mode = 'thread' in a cell of its own"
            in reply.stderr
        )
    else:
        assert "UsageError" in reply.stderr
    assert named in reply.stderr
    assert OWN_CELL in reply.stderr
    assert fresh.value("%arun asyncio.sleep(0, v.get())") == "'kept'"
    after = status(fresh)
    assert loop_thread(after) == before
    assert "mode:             auto" in after  # the refused setting did not stick


# -- 3. --tasks, --status and --cancel from inside a %%arun cell ---------------------

LONG_TASK = """
async def parked():
    try:
        await asyncio.sleep(60)
    finally:
        print({name!r}, "cleanup", flush=True)
parked_task = asyncio.create_task(parked(), name={name!r})
await asyncio.sleep(0)
"""


def test_tasks_inside_a_cell_lists_a_task_it_started(nb: Kernel) -> None:
    try:
        reply = nb.execute(
            "%%arun"
            + LONG_TASK.format(name="listed-inside")
            + "get_ipython().run_line_magic('arun', '--tasks')\n"
        )
        assert reply.error is None, raised(reply)
        assert reply.result is not None
        assert "listed-inside" in reply.result
    finally:
        nb.execute("%arun --cancel listed-inside")


def test_status_inside_a_cell_describes_the_runner(nb: Kernel) -> None:
    reply = nb.execute(
        "%%arun\n"
        "await asyncio.sleep(0)\n"
        "get_ipython().run_line_magic('arun', '--status')\n"
    )
    assert reply.error is None, raised(reply)
    assert "engine:           thread" in reply.stdout
    assert "thread:           arunner-loop-" in reply.stdout


def test_cancel_inside_a_cell_cancels_the_named_task(nb: Kernel) -> None:
    try:
        reply = nb.execute(
            "%%arun"
            + LONG_TASK.format(name="cancelled-inside")
            + "get_ipython().run_line_magic('arun', '--cancel cancelled-inside')\n"
            "await asyncio.wait([parked_task], timeout=5)\n"
            "parked_task.cancelled()\n"
        )
        assert reply.error is None, raised(reply)
        assert "cancelled-inside cleanup" in reply.stdout
        assert reply.result == "True"
    finally:
        nb.execute("%arun --cancel cancelled-inside")


# -- 4. the first use from another thread ---------------------------------------------

FIRST_USE_FROM_A_THREAD = """
got = []
def first_use():
    try:
        got.append(arunner.get_runner().run(asyncio.sleep(0, 1)))
    except BaseException as exc:
        got.append(repr(exc))
user = threading.Thread(target=first_use)
user.start()
user.join()
got
"""


def test_runner_first_used_from_another_thread_suits_the_shell(
    fresh: Kernel,
) -> None:
    assert fresh.value(FIRST_USE_FROM_A_THREAD) == "[1]"
    assert "engine:           thread" in status(fresh)
    assert fresh.value("%arun asyncio.sleep(0, 'ok')") == "'ok'"


# -- 5. concurrent runs: threads, subshells -------------------------------------------

TWO_THREADS = """
who = contextvars.ContextVar('who', default='nobody')
ready = {'first': threading.Event(), 'second': threading.Event()}
async def job(name, other):
    who.set(name)
    ready[name].set()
    # Both runs are in progress, each having set its value, before either reads.
    met = await asyncio.to_thread(ready[other].wait, 30)
    return who.get() if met else 'the other run never overlapped'
results = {}
def call(name, other):
    try:
        results[name] = arunner.get_runner().run(job(name, other))
    except BaseException as exc:
        results[name] = repr(exc)
callers = [
    threading.Thread(target=call, args=pair)
    for pair in (('first', 'second'), ('second', 'first'))
]
for caller in callers:
    caller.start()
for caller in callers:
    caller.join()
sorted(results.items())
"""


def test_concurrent_runs_from_two_threads_each_get_their_own_context(
    nb: Kernel,
) -> None:
    """The runs overlap for sure: each waits, inside, for the other to have begun."""
    assert nb.value(TWO_THREADS) == "[('first', 'first'), ('second', 'second')]"


MEET_AND_PRINT = """%%arun
met.add({marker!r})
for _ in range(500):
    if len(met) == 2:
        break
    await asyncio.sleep(0.01)
else:
    raise RuntimeError("the other cell never started")
for i in range(5):
    print({marker!r}, i, flush=True)
    await asyncio.sleep(0.02)
"""


def _lines_by_parent(
    messages: list[dict[str, Any]], marker: str
) -> set[tuple[str, str]]:
    """(line, parent msg_id) of every stream line that starts with ``marker``."""
    return {
        (line, m["parent_header"].get("msg_id"))
        for m in messages
        if m["msg_type"] == "stream"
        for line in m["content"]["text"].splitlines()
        if line.startswith(marker + " ")
    }


@needs_subshells
def test_cells_in_the_main_shell_and_a_subshell_print_to_their_own_request(
    nb: Kernel,
) -> None:
    nb.ok("met = set()")
    subshell = nb.create_subshell()
    in_subshell = nb.send(
        MEET_AND_PRINT.format(marker="from-subshell"), subshell_id=subshell
    )
    in_main = nb.execute(MEET_AND_PRINT.format(marker="from-main"))
    sub_messages = nb.wait_idle_elsewhere(in_subshell)
    assert in_main.error is None, raised(in_main)
    assert not [m for m in sub_messages if m["msg_type"] == "error"]
    everything = in_main.outputs + [m for ms in nb.elsewhere.values() for m in ms]
    for marker, own in (("from-main", in_main.msg_id), ("from-subshell", in_subshell)):
        assert _lines_by_parent(everything, marker) == {
            (f"{marker} {i}", own) for i in range(5)
        }


# -- 6. executor threads print under the cell that started the work ----------------

EXECUTOR_WORK = """%%arun
loop = asyncio.get_running_loop()
go = asyncio.Event()
announced = threading.Event()
def trigger():
    loop.call_soon_threadsafe(go.set)
def announce():
    print("from call_soon_threadsafe", flush=True)
    announced.set()
def in_executor():
    print("from executor", flush=True)
    loop.call_soon_threadsafe(announce)
async def later():
    await go.wait()
    await loop.run_in_executor(None, in_executor)
waiting = asyncio.create_task(later())
print("waiting", flush=True)
"""


@needs_routing_by_context
def test_executor_output_lands_under_the_cell_that_started_the_work(
    nb: Kernel,
) -> None:
    starter = nb.ok(EXECUTOR_WORK)
    assert starter.stdout == "waiting\n"
    other = nb.ok("trigger()\nannounced.wait(10)")  # busy while the work prints
    assert other.result == "True"
    assert "from executor" not in other.stdout
    assert "from call_soon_threadsafe" not in other.stdout
    for line in ("from executor", "from call_soon_threadsafe"):
        nb.wait_elsewhere(starter.msg_id, line, timeout=5)


# -- 7. a cell's error is its own, with a subshell's cell running at once ----------

SUBSHELL_RAISES = """%%arun --sync
print('subshell waiting', flush=True)
try:
    main_started.wait(10)
    raise ValueError('in the subshell')
finally:
    subshell_done.set()
"""

MAIN_WAITS = """%%arun --sync
main_started.set()
subshell_done.wait(10)
'main went on'
"""


@needs_subshells
def test_an_error_in_a_subshells_cell_is_its_own_not_the_cell_started_after_it(
    nb: Kernel,
) -> None:
    """IPython's displayhook keeps the result of the cell started last, here
    the main shell's; the subshell's error must still be the subshell's."""
    nb.ok("main_started, subshell_done = threading.Event(), threading.Event()")
    subshell = nb.create_subshell()
    in_subshell = nb.send(SUBSHELL_RAISES, subshell_id=subshell)
    nb.wait_elsewhere(in_subshell, "subshell waiting")
    in_main = nb.execute(MAIN_WAITS)  # started after the subshell's cell
    assert in_main.error is None, raised(in_main)
    assert in_main.result == "'main went on'"
    sub_messages = nb.wait_idle_elsewhere(in_subshell)
    errors = [m["content"] for m in sub_messages if m["msg_type"] == "error"]
    assert [e["evalue"] for e in errors] == ["in the subshell"]
    (reply,) = shell_replies(nb, [in_subshell])
    assert reply["content"]["status"] == "error"

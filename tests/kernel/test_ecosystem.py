"""The async ecosystem inside %%arun, each driven in a real kernel."""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.kernel.cells import SLOW_CLEANUP, interruptible
from tests.kernel.conftest import PATIENCE, Kernel

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def eco(kernel: Kernel) -> Kernel:
    kernel.ok("import asyncio, threading, time")
    return kernel


def test_uvloop_through_loop_factory(start_kernel: Callable[..., Kernel]) -> None:
    pytest.importorskip("uvloop")
    kernel = start_kernel()
    kernel.ok("import asyncio")
    kernel.ok("%config ARunMagics.loop_factory = 'uvloop.new_event_loop'")
    loop_type = kernel.value("%arun asyncio.sleep(0, type(asyncio.get_running_loop()))")
    assert loop_type == "uvloop.Loop"
    reply = kernel.execute(
        interruptible(cleanup=SLOW_CLEANUP),
        interrupt_on="started",
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\ncleanup\n"
    assert reply.printed_before_error("cleanup"), "the cell ended before its cleanup"


def test_anyio_and_sniffio_detect_asyncio_and_threads_work(eco: Kernel) -> None:
    reply = eco.ok(
        "%%arun\n"
        "import anyio, sniffio\n"
        "print(sniffio.current_async_library())\n"
        "await anyio.sleep(0)\n"
        "where = lambda: threading.current_thread().name\n"
        "print(await anyio.to_thread.run_sync(where))\n"
        "loop = asyncio.get_running_loop()\n"
        "print(await loop.run_in_executor(None, lambda: 'executor ran'))\n"
        "print(await asyncio.to_thread(lambda: 'to_thread ran'))\n"
    )
    lines = reply.stdout.splitlines()
    assert lines[0] == "asyncio"
    assert lines[1] != "MainThread"
    assert lines[2:] == ["executor ran", "to_thread ran"]


def test_executor_jobs_finish_before_the_runner_closes(
    eco: Kernel, tmp_path: Path
) -> None:
    marker = tmp_path / "job.txt"
    eco.ok(
        "%%arun\n"
        "import pathlib\n"
        "def job():\n"
        "    time.sleep(0.3)\n"
        f"    pathlib.Path({str(marker)!r}).write_text('job finished')\n"
        "asyncio.get_running_loop().run_in_executor(None, job)\n"
    )
    eco.ok("%arun --restart")
    assert marker.read_text() == "job finished"


def test_logging_from_the_runner_thread_reaches_the_cell(eco: Kernel) -> None:
    eco.ok("import logging\nlogging.basicConfig(format='%(levelname)s %(message)s')")
    # Started by an earlier cell, so that its context does not already point
    # at the cell below: the routing of each cell must do that.
    eco.ok("%arun asyncio.sleep(0)")
    reply = eco.ok(
        "%%arun\n"
        "await asyncio.sleep(0)\n"
        "where = threading.current_thread().name\n"
        "logging.getLogger('demo').warning('logged from %s', where)\n"
    )
    assert reply.stderr.startswith("WARNING logged from arunner-loop-")
    assert reply.msg_id not in eco.elsewhere


def test_input_and_getpass_prompt_in_the_notebook(eco: Kernel) -> None:
    eco.ok("%arun asyncio.sleep(0)")  # the runner exists since an earlier cell
    reply = eco.execute(
        "%%arun\n"
        "import getpass\n"
        "await asyncio.sleep(0)\n"
        "name = input('name? ')\n"
        "secret = getpass.getpass('secret? ')\n"
        "print(f'{name}:{len(secret)}')\n",
        answers=["ada", "hunter2"],
    )
    assert reply.error is None
    assert reply.prompts == ["name? ", "secret? "]
    assert reply.input_parents == [reply.msg_id, reply.msg_id]
    assert reply.stdout.endswith("ada:7\n")


def test_debug_opens_post_mortem_at_the_failing_line(eco: Kernel) -> None:
    failing = eco.execute(
        "%%arun\n"
        "async def compute(x):\n"
        "    await asyncio.sleep(0)\n"
        "    local_value = x * 2\n"
        "    return local_value / 0\n"
        "await compute(21)\n"
    )
    assert failing.ename == "ZeroDivisionError"
    debug = eco.execute("%debug", answers=["p local_value", "q"])
    shown = re.sub(r"\x1b\[[0-9;]*m", "", debug.stdout)  # without colours
    assert "compute()" in shown
    assert "----> 5     return local_value / 0" in shown
    assert shown.rstrip().endswith("42")


def test_timeit_and_time_around_arun(eco: Kernel) -> None:
    timeit = eco.ok("%timeit -n 3 -r 1 %arun asyncio.sleep(0)")
    assert "per loop" in timeit.stdout
    timed = eco.ok("%%time\n%%arun\nawait asyncio.sleep(0.01)\n'timed'")
    assert "Wall time" in timed.stdout
    assert timed.result == "'timed'"


# -- progress bars and widgets ------------------------------------------------------


def test_tqdm_bars_render_in_the_running_cell(eco: Kernel) -> None:
    pytest.importorskip("ipywidgets")
    pytest.importorskip("tqdm")
    reply = eco.execute(
        "%%arun\n"
        "from tqdm.auto import tqdm\n"
        "from tqdm.asyncio import tqdm as tqdm_asyncio\n"
        "async def tick(i):\n"
        "    await asyncio.sleep(0.01)\n"
        "    return i\n"
        "async def numbers():\n"
        "    for i in range(3):\n"
        "        yield await tick(i)\n"
        "seen = [i async for i in tqdm(numbers(), total=3, desc='widget bar')]\n"
        "import sys\n"
        "ticks = (tick(i) for i in range(3))\n"
        "await tqdm_asyncio.gather(*ticks, desc='gather bar', file=sys.stderr)\n"
    )
    assert reply.error is None
    widgets = [
        m
        for m in reply.outputs
        if "application/vnd.jupyter.widget-view+json" in m["content"].get("data", {})
    ]
    assert widgets, "tqdm.auto did not display an ipywidgets bar in the cell"
    assert "gather bar" in reply.stderr
    assert "3/3" in reply.stderr
    assert eco.value("seen") == "[0, 1, 2]"


def test_widget_button_hands_work_to_the_runner_without_blocking(eco: Kernel) -> None:
    pytest.importorskip("ipywidgets")
    setup = eco.ok(
        "import ipywidgets as widgets, arunner\n"
        "out = widgets.Output()\n"
        "button = widgets.Button(description='go')\n"
        "async def compute():\n"
        "    await asyncio.sleep(0.3)\n"
        "    out.append_stdout('result: 42')\n"
        "def on_click(_):\n"
        "    arunner.get_runner().start(compute(), name='clicked')\n"
        "button.on_click(on_click)\n"
        "print(button.model_id, out.model_id)\n"
    )
    button_id, output_id = setup.stdout.split()
    click = eco.client.session.msg(
        "comm_msg",
        {
            "comm_id": button_id,
            "data": {"method": "custom", "content": {"event": "click"}},
        },
    )
    eco.client.shell_channel.send(click)
    idle_at = result_at = None
    deadline = time.monotonic() + PATIENCE
    while result_at is None and time.monotonic() < deadline:
        try:
            msg = eco.client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if (
            msg["msg_type"] == "status"
            and msg["parent_header"].get("msg_id") == click["header"]["msg_id"]
            and msg["content"]["execution_state"] == "idle"
        ):
            idle_at = time.monotonic()
        if (
            msg["msg_type"] == "comm_msg"
            and msg["content"]["comm_id"] == output_id
            and "result: 42" in str(msg["content"]["data"])
        ):
            result_at = time.monotonic()
    assert idle_at is not None, "the kernel never went idle after the click"
    assert result_at is not None, "the Output widget never got the result"
    assert idle_at < result_at  # the click handler returned before the work finished

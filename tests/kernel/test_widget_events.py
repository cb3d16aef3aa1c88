"""Widget and comm events reach Python while a %%arun cell waits (issue 12).

The client sends what a frontend sends for a click or a slider drag (an
ipywidgets 8 ``comm_msg`` to the widget's ``model_id``) while the cell
runs; the cell awaits it through ``arunner.widgets``.  Without arunner's
pump ipykernel would keep those messages until the cell ends, so each cell
awaits with a timeout and a test whose event never arrives fails instead of
hanging.
"""

from __future__ import annotations

import ast
import importlib.metadata
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.comms import (
    click,
    comm_msg,
    drive,
    numbered,
    send,
    shell_replies,
    widget_views,
)
from tests.kernel.conftest import Kernel, Reply
from tests.unit.test_docs_examples import DOCS, parse

#: The checkout, for the kernel to import tests/faults.py from.
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.kernel

pytest.importorskip("ipywidgets")

IPYKERNEL_VERSION = importlib.metadata.version("ipykernel")
IPYKERNEL_MAJOR = int(IPYKERNEL_VERSION.split(".")[0])

#: The ipykernel versions where arunner handles comm messages during a cell.
PUMPS = tuple(map(int, IPYKERNEL_VERSION.split(".")[:2])) >= (6, 29)


def on_every_ipykernel(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a test that also runs before ipykernel 6.29, where the pump is off."""
    test.on_every_ipykernel = True  # type: ignore[attr-defined]
    return test


@pytest.fixture(autouse=True)
def _needs_the_pump(request: pytest.FixtureRequest) -> None:
    if not PUMPS and not getattr(request.function, "on_every_ipykernel", False):
        pytest.skip(
            f"ipykernel {IPYKERNEL_VERSION} is before 6.29: widget events wait "
            "for the cell (test_a_kernel_before_6_29_...)"
        )


#: How long a cell awaits an event that the pump should deliver at once
#: (about one 50 ms wait slice); only a failing test waits this long.
EVENT_TIMEOUT = 10

#: How long a cell waits for an event that must *not* arrive while it runs.
NO_EVENT_WAIT = 1.0

SETUP = """
import asyncio, threading
import arunner
import ipywidgets as widgets
from arunner.widgets import next_change, next_click
"""

#: A button whose clicks a plain handler also records, under the click.
BUTTON = """
button = widgets.Button(description='go')
clicks = []
button.on_click(lambda b: (clicks.append(b), print('handler ran', flush=True)))
print(button.model_id)
"""

AWAIT_CLICK = f"""%%arun
print('waiting', flush=True)
clicked = await next_click(button, timeout={EVENT_TIMEOUT})
print('clicked', clicked is button, flush=True)
"""


def setup_kernel(kernel: Kernel) -> str:
    """Import the helpers and make a fresh ``button``; return its model_id."""
    kernel.ok(SETUP)
    return kernel.ok(BUTTON).stdout.strip()


@pytest.fixture(scope="module")
def nb(kernel: Kernel) -> Kernel:
    kernel.ok(SETUP)
    return kernel


@pytest.fixture
def button_id(nb: Kernel) -> str:
    return nb.ok(BUTTON).stdout.strip()


# -- events reach the waiting cell ---------------------------------------------------


def test_a_cell_awaits_a_button_click(nb: Kernel, button_id: str) -> None:
    sent: list[dict[str, Any]] = []
    reply = drive(
        nb,
        AWAIT_CLICK + "display('after the click')\n",
        [("waiting", lambda _: sent.append(click(nb, button_id)))],
    )
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "waiting\nclicked True\n"
    # The cell's own output still goes to the cell once the click is handled...
    assert reply.displays == ["'after the click'"]
    # ...and the plain handler's went under the click.
    nb.wait_elsewhere(sent[0]["header"]["msg_id"], "handler ran")
    assert nb.value("len(clicks)") == "1"
    # The callback is gone once the await is over.
    assert nb.value("len(button._click_handlers.callbacks)") == "1"


DISPLAY_THEN_AWAIT = f"""%%arun
import time
print('waiting', flush=True)
time.sleep(0.3)   # the click arrives while this step has not reached its await
clicked = await next_click(button, timeout={EVENT_TIMEOUT})
print('clicked', clicked is button, flush=True)
"""


def test_a_click_before_the_step_reaches_its_await_is_not_lost(
    nb: Kernel, button_id: str
) -> None:
    # The frontend answers as soon as it has seen the cell's output; the
    # click must wait for the step that printed to reach next_click().
    reply = drive(nb, DISPLAY_THEN_AWAIT, [("waiting", lambda _: click(nb, button_id))])
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "waiting\nclicked True\n"


SLOW_CALLBACK = f"""%%arun
import time
slow = lambda b: time.sleep(0.5)   # still running when the cell goes on
waiter = asyncio.ensure_future(next_click(button, timeout={EVENT_TIMEOUT}))
await asyncio.sleep(0)             # next_click's handler is on, then the slow one
button.on_click(slow)
print('waiting', flush=True)
await waiter
display('after the click')
button.on_click(slow, remove=True)
"""


def test_the_cell_displays_into_its_own_output_while_a_callback_runs(
    nb: Kernel, button_id: str
) -> None:
    # ipykernel 6.29 keeps the display publisher's parent in a global: the
    # click's parent must not reach it while the cell displays meanwhile.
    reply = drive(nb, SLOW_CALLBACK, [("waiting", lambda _: click(nb, button_id))])
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.displays == ["'after the click'"]


SLIDER = f"""%%arun
print('waiting', flush=True)
value = await next_change(slider, timeout={EVENT_TIMEOUT})
print('value', value, flush=True)
"""


def test_a_cell_awaits_a_slider_value(nb: Kernel) -> None:
    slider_id = nb.ok("slider = widgets.IntSlider()\nprint(slider.model_id)").stdout
    drag = {"method": "update", "state": {"value": 5}, "buffer_paths": []}
    reply = drive(
        nb, SLIDER, [("waiting", lambda _: comm_msg(nb, slider_id.strip(), drag))]
    )
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "waiting\nvalue 5\n"
    assert nb.value("slider.value") == "5"


COMM_TARGET = f"""%%arun
loop = asyncio.get_running_loop()
opened = loop.create_future()
def on_open(comm, msg):
    loop.call_soon_threadsafe(opened.set_result, msg['content']['data'])
get_ipython().kernel.comm_manager.register_target('arunner-test', on_open)
print('waiting', flush=True)
print('opened with', await asyncio.wait_for(opened, {EVENT_TIMEOUT}), flush=True)
"""


def test_a_comm_target_registered_in_the_cell_is_opened_while_it_waits(
    nb: Kernel,
) -> None:
    def open_comm(_: Reply) -> None:
        send(
            nb,
            "comm_open",
            {
                "comm_id": uuid.uuid4().hex,
                "target_name": "arunner-test",
                "data": {"hello": "world"},
            },
        )

    reply = drive(nb, COMM_TARGET, [("waiting", open_comm)])
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "waiting\nopened with {'hello': 'world'}\n"


COMM_CLOSED = f"""%%arun
loop = asyncio.get_running_loop()
closed = loop.create_future()
def on_open(comm, msg):
    comm.on_close(lambda msg: loop.call_soon_threadsafe(closed.set_result, 'closed'))
    print('opened', flush=True)
get_ipython().kernel.comm_manager.register_target('arunner-close-test', on_open)
print('waiting', flush=True)
print(await asyncio.wait_for(closed, {EVENT_TIMEOUT}), flush=True)
"""


def test_a_comm_closed_by_the_frontend_is_closed_while_the_cell_waits(
    nb: Kernel,
) -> None:
    comm_id = uuid.uuid4().hex

    def open_comm(_: Reply) -> None:
        content = {"comm_id": comm_id, "target_name": "arunner-close-test", "data": {}}
        send(nb, "comm_open", content)

    def close_comm(_: Reply) -> None:
        send(nb, "comm_close", {"comm_id": comm_id, "data": {}})

    # The target prints 'opened' under the comm_open message, not the cell.
    reply = drive(
        nb, COMM_CLOSED, [("waiting", lambda r: (open_comm(r), close_comm(r)))]
    )
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "waiting\nclosed\n"


def test_an_arun_line_awaits_a_click_and_returns_the_button(
    nb: Kernel, button_id: str
) -> None:
    code = (
        "print('waiting', flush=True)\n"
        f"clicked = %arun next_click(button, timeout={EVENT_TIMEOUT})\n"
        "print('clicked', clicked is button)"
    )
    reply = drive(nb, code, [("waiting", lambda _: click(nb, button_id))])
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "waiting\nclicked True\n"


def test_a_change_that_does_not_come_is_a_timeout_error_saying_what(
    nb: Kernel,
) -> None:
    nb.ok("quiet = widgets.IntSlider()")
    reply = nb.execute("%arun next_change(quiet, timeout=0.2)")
    assert reply.ename == "TimeoutError"
    assert "'value' of IntSlider" in reply.error["evalue"]
    assert "did not change within 0.2 s" in reply.error["evalue"]


HAND_OFF = f"""%%arun
done = asyncio.Event()
async def work():
    await asyncio.sleep(0)
    done.set()
def hand_off(b):
    arunner.get_runner().start(work(), name='from-the-click')
button.on_click(hand_off)
print('waiting', flush=True)
await asyncio.wait_for(done.wait(), {EVENT_TIMEOUT})
print('work done', flush=True)
"""


def test_a_callback_hands_work_to_runner_start_that_the_cell_awaits(
    nb: Kernel, button_id: str
) -> None:
    reply = drive(nb, HAND_OFF, [("waiting", lambda _: click(nb, button_id))])
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "waiting\nwork done\n"


#: The wizard of docs/ecosystem/progress-and-widgets.md, exactly as shown there.
WIZARD = next(
    block.code
    for block in parse(DOCS / "ecosystem" / "progress-and-widgets.md")
    if "await next_click(confirm)" in block.code
)


def test_the_docs_wizard_awaits_three_inputs_one_after_another(
    start_kernel: Callable[..., Kernel],
) -> None:
    # A kernel of its own: the wizard awaits its first input without a
    # timeout, so a failing run would leave a shared kernel busy for good.
    nb = start_kernel()
    nb.ok(SETUP)

    def shown(count: int) -> Callable[[Reply], bool]:
        return lambda reply: len(widget_views(reply)) >= count

    def answer(index: int, data: dict[str, Any]) -> Callable[[Reply], object]:
        return lambda reply: comm_msg(nb, widget_views(reply)[index], data)

    def update(**state: Any) -> dict[str, Any]:
        return {"method": "update", "state": state, "buffer_paths": []}

    reply = drive(
        nb,
        WIZARD,
        [
            (shown(1), answer(0, update(index=1))),  # picks "large"
            (shown(2), answer(1, update(value=250))),  # drags and lets go
            (shown(3), answer(2, {"method": "custom", "content": {"event": "click"}})),
        ],
    )
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "loading 250 rows of the large data set\n"


SYNC_CELL = f"""%%arun --sync
got = threading.Event()
button.on_click(lambda b: got.set())
print('waiting', flush=True)
print('clicked' if got.wait({NO_EVENT_WAIT}) else 'no click during the cell')
"""


def test_a_sync_cell_is_a_script_its_clicks_wait_for_its_end_and_are_not_lost(
    nb: Kernel, button_id: str
) -> None:
    """--sync code runs in the kernel's own thread, as a plain cell's does, so
    a click is handled once the cell is over (to await one, use %%arun)."""
    sent: list[dict[str, Any]] = []
    reply = drive(
        nb, SYNC_CELL, [("waiting", lambda _: sent.append(click(nb, button_id)))]
    )
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "waiting\nno click during the cell\n"
    nb.wait_elsewhere(sent[0]["header"]["msg_id"], "handler ran")
    assert nb.value("got.is_set()") == "True"  # handled after the cell


# -- everything else stays queued, in order -----------------------------------------


def test_requests_queued_before_the_click_run_after_the_cell_in_order(
    nb: Kernel, button_id: str
) -> None:
    queued: list[str] = []

    def queue_then_click(_: Reply) -> None:
        queued.append(nb.send("print('second')"))
        queued.append(send(nb, "kernel_info_request", {}))
        click(nb, button_id)

    reply = drive(nb, AWAIT_CLICK, [("waiting", queue_then_click)])
    assert reply.stdout == "waiting\nclicked True\n"
    order = shell_replies(nb, [reply.msg_id, *queued])
    assert [m["msg_type"] for m in order] == [
        "execute_reply",
        "execute_reply",
        "kernel_info_reply",
    ]
    assert [m["parent_header"]["msg_id"] for m in order] == [reply.msg_id, *queued]
    assert order[1]["content"]["status"] == "ok"
    nb.wait_elsewhere(queued[0], "second")


def test_a_failing_cell_still_aborts_the_requests_queued_behind_it(
    nb: Kernel, button_id: str
) -> None:
    queued: list[str] = []

    def queue_then_click(_: Reply) -> None:
        queued.append(nb.send("print('never runs')"))
        queued.append(send(nb, "kernel_info_request", {}))
        click(nb, button_id)

    reply = drive(
        nb,
        AWAIT_CLICK + "raise ValueError('after the click')\n",
        [("waiting", queue_then_click)],
    )
    assert reply.stdout == "waiting\nclicked True\n"
    assert reply.ename == "ValueError"
    order = shell_replies(nb, [reply.msg_id, *queued])
    assert [m["parent_header"]["msg_id"] for m in order] == [reply.msg_id, *queued]
    assert [m["content"]["status"] for m in order] == ["error", "aborted", "ok"]
    nb.wait_idle_elsewhere(queued[0])
    assert "never runs" not in str(nb.elsewhere[queued[0]])


# -- interrupts -----------------------------------------------------------------------

STUCK_CALLBACK = f"""%%arun
loop = asyncio.get_running_loop()
clicked = asyncio.Event()
cell_over = threading.Event()
def stuck(b):
    loop.call_soon_threadsafe(clicked.set)
    cell_over.wait({EVENT_TIMEOUT})  # holds the kernel's thread
button.on_click(stuck)
try:
    print('waiting', flush=True)
    await asyncio.wait_for(clicked.wait(), {EVENT_TIMEOUT})
    print('clicked', flush=True)
    await asyncio.sleep(30)
finally:
    print('cleanup', flush=True)
    cell_over.set()
"""


def test_an_interrupt_during_a_callback_cancels_the_cells_coroutine(
    nb: Kernel, button_id: str
) -> None:
    interrupted: list[float] = []

    def interrupt(_: Reply) -> None:
        interrupted.append(time.monotonic())
        nb.manager.interrupt_kernel()

    reply = drive(
        nb,
        STUCK_CALLBACK,
        [("waiting", lambda _: click(nb, button_id)), ("clicked", interrupt)],
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "waiting\nclicked\ncleanup\n"
    # Well before the callback would have let go by itself.
    assert reply.idle_at - interrupted[0] < EVENT_TIMEOUT / 2
    assert nb.value("%arun asyncio.sleep(0, 'still usable')") == "'still usable'"
    # An interrupt is not a failure of the pump: it stays on, without a word.
    assert "arunner:" not in reply.stderr
    fresh = nb.ok(BUTTON).stdout.strip()
    reply = drive(nb, AWAIT_CLICK, [("waiting", lambda _: click(nb, fresh))])
    assert reply.stdout == "waiting\nclicked True\n"


WAIT_THEN_CLEAN_UP = f"""%%arun
try:
    print('waiting', flush=True)
    await next_click(button, timeout={EVENT_TIMEOUT})
    print('clicked', flush=True)
finally:
    print('cleanup', flush=True)
"""


def test_an_interrupt_while_waiting_for_a_click_cancels_the_cell(
    nb: Kernel, button_id: str
) -> None:
    reply = drive(
        nb, WAIT_THEN_CLEAN_UP, [("waiting", lambda _: nb.manager.interrupt_kernel())]
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "waiting\ncleanup\n"  # not clicked: it did not resume
    assert reply.stderr == ""  # the pump did not turn itself off
    # The next cell still gets its click while it waits.
    reply = drive(nb, AWAIT_CLICK, [("waiting", lambda _: click(nb, button_id))])
    assert reply.stdout == "waiting\nclicked True\n"


#: A widget whose numbered messages (comms.numbered) are recorded in
#: ``received`` as the kernel's comm handler is called with them, before
#: anything else runs: "reached the kernel's handlers".
RECORD_RECEIVED = """
kernel = get_ipython().kernel
received = []
real_comm_msg = kernel.shell_handlers['comm_msg']
def recorded(stream, idents, msg):
    received.append(msg['content']['data']['content']['n'])
    return real_comm_msg(stream, idents, msg)
kernel.shell_handlers['comm_msg'] = recorded
counted = widgets.Button()
print(counted.model_id)
"""

#: Swallows the first stop and waits on, as cleanup that takes a while does.
STOPPED_TWICE = """%%arun
print('waiting', flush=True)
try:
    await asyncio.sleep(30)
except asyncio.CancelledError:
    print('stopped once', flush=True)
    await asyncio.sleep(5)
"""


def received(kernel: Kernel) -> list[int]:
    """What the kernel's comm handler received, once it has handled everything
    sent so far (a request is handled after the messages sent before it)."""
    return list(ast.literal_eval(kernel.ok("print(received)").stdout))


def test_a_double_stop_during_a_burst_of_clicks_loses_none(
    start_kernel: Callable[..., Kernel],
) -> None:
    """Issue 23: stop pressed twice, 10 ms apart, while 3,000 clicks arrive."""
    kernel = start_kernel()
    kernel.ok(SETUP)
    widget = kernel.ok(RECORD_RECEIVED).stdout.strip()
    burst = 3000

    def stop_twice_amid_the_clicks(_: Reply) -> None:
        numbered(kernel, widget, range(burst))
        kernel.manager.interrupt_kernel()
        time.sleep(0.01)
        kernel.manager.interrupt_kernel()

    reply = drive(kernel, STOPPED_TWICE, [("waiting", stop_twice_amid_the_clicks)])
    assert reply.ename == "KeyboardInterrupt"
    got = received(kernel)
    lost = sorted(set(range(burst)) - set(got))
    assert got == list(range(burst)), f"{len(lost)} lost: {lost[:20]}"
    log = kernel.log.read_text()
    assert "DELIM" not in log, log  # no message torn between its frames
    assert "Invalid Message" not in log, log


#: The first message's callback takes a moment, and the next three are sent
#: once it runs ('first running'), so they arrive meanwhile and are read
#: together (sent with the first, the first two could be read alone, and
#: the last two then never held); the second's callback holds the kernel's
#: thread until it is stopped, with the last two read and not yet handled.
HOLD_THE_SECOND = """
loop = arunner.get_runner().get_loop()
first_running, second_running = asyncio.Event(), asyncio.Event()
def hold(widget, content, buffers):
    if content['n'] == 0:
        loop.call_soon_threadsafe(first_running.set)
        time.sleep(2)
    elif content['n'] == 1:
        loop.call_soon_threadsafe(second_running.set)
        threading.Event().wait(10)
counted.on_msg(hold)

async def stopped_twice_in_a_callback():
    print('waiting', flush=True)
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        print('stopped once', flush=True)
        await asyncio.wait_for(first_running.wait(), 10)
        print('first running', flush=True)
        await asyncio.wait_for(second_running.wait(), 10)
        print('second running', flush=True)
        await asyncio.sleep(5)
"""

STOPPED_THEN_AGAIN = """
import time
try:
    %arun stopped_twice_in_a_callback()
except KeyboardInterrupt:
    print('interrupted', flush=True)
print('waiting again', flush=True)
%arun asyncio.sleep(1)
"""


def test_after_a_stop_with_messages_held_none_overtakes_them(
    start_kernel: Callable[..., Kernel],
) -> None:
    """The messages read but not handled when a stop ends the wait go to the
    kernel, to run after the cell; a later wait in the same cell must not
    handle a newer one before them."""
    kernel = start_kernel()
    kernel.ok(SETUP)
    widget = kernel.ok("import time" + RECORD_RECEIVED).stdout.strip()
    kernel.ok(HOLD_THE_SECOND)
    reply = drive(
        kernel,
        STOPPED_THEN_AGAIN,
        [
            ("waiting", lambda _: kernel.manager.interrupt_kernel()),
            ("stopped once", lambda _: numbered(kernel, widget, [0])),
            ("first running", lambda _: numbered(kernel, widget, [1, 2, 3])),
            ("second running", lambda _: kernel.manager.interrupt_kernel()),
            ("waiting again", lambda _: numbered(kernel, widget, [4])),
        ],
    )
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert "interrupted" in reply.stdout
    assert received(kernel) == [0, 1, 2, 3, 4]


#: The widget's callback, in a cell (a file) of its own.
ON_COUNTED = """
def on_counted(widget, content, buffers):
    handled = content['n']
    return handled

counted.on_msg(on_counted)
"""

#: An interrupt at one step of the pump (tests/faults.py), in the kernel:
#: ``attempt(step, count)`` runs a cell that swallows the first stop and
#: waits, armed from then on, until ``count`` numbered messages have been
#: received; the injected SIGINT is the second stop.  Watched besides
#: arunner: pyzmq's reading (between the frames of a message, before and
#: after each receive) and the widget's callback (inside a handler).
INJECT_IN_THE_PUMP = """
import sys
sys.path.insert(0, {root!r})
import zmq.eventloop.zmqstream, zmq.sugar.socket
from tests.faults import Injector
from arunner import _commpump

PUMP_FILES = (
    _commpump.__file__,
    zmq.sugar.socket.__file__,
    zmq.eventloop.zmqstream.__file__,
    on_counted.__code__.co_filename,
)

async def stopped_twice(injector, count, step):
    try:
        print('waiting', flush=True)
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        injector.armed = True
        print('stopped once', flush=True)
        # Also once abandoned: until the kernel has all, and the step was
        # reached (ending first, the run could leave it unreached).
        for _ in range(300):
            if len(received) >= count and (step is None or injector.fired):
                break
            await asyncio.sleep(0.01)

def attempt(step, count):
    global injector, expected, target
    received.clear()
    injector, expected = Injector(step, also_watch=PUMP_FILES[1:]), count
    target = step
    try:
        with injector:
            try:
                %arun stopped_twice(injector, expected, target)
            finally:
                injector.armed = False
    except KeyboardInterrupt:
        print('interrupted', flush=True)
    if step is None:
        print([s for s in injector.steps if s[0] in PUMP_FILES])
    elif injector.fired:
        print('fired', flush=True)
"""


def test_an_interrupt_at_every_step_of_the_pump_loses_no_message(
    start_kernel: Callable[..., Kernel],
) -> None:
    """Issue 23: after an interrupt at any step of reading and handling,
    every message read has reached the kernel's handler once, in order."""
    kernel = start_kernel()
    kernel.ok(SETUP)
    widget = kernel.ok(RECORD_RECEIVED).stdout.strip()
    kernel.ok(ON_COUNTED)
    kernel.ok(INJECT_IN_THE_PUMP.format(root=str(ROOT)))
    # The pump's first call does once what later calls find cached (the
    # kernel's version).  Made here, not in the dry run: a dry run whose stop
    # lands before its first wait begins would record a step never run again.
    kernel.ok("%arun asyncio.sleep(0.1)")
    count = 3

    def under_interrupt(step: tuple[str, int] | None) -> Reply:
        reply = drive(
            kernel,
            f"attempt({step!r}, {count})",
            [
                ("waiting", lambda _: kernel.manager.interrupt_kernel()),
                ("stopped once", lambda _: numbered(kernel, widget, range(count))),
            ],
        )
        assert reply.error is None, "\n".join(reply.error["traceback"])
        return reply

    dry = under_interrupt(None)
    assert "interrupted" not in dry.stdout
    steps = ast.literal_eval(dry.stdout.splitlines()[-1])
    assert any("_commpump" in path for path, _ in steps), steps
    for step in steps:
        reply = under_interrupt(step)
        where = f"interrupt at {Path(step[0]).name}:{step[1]}"
        assert received(kernel) == list(range(count)), where
        # Not reached: the messages waited for the cell's end.
        assert "fired" in reply.stdout, f"{where}: the pump did not run again"
    log = kernel.log.read_text()
    assert "DELIM" not in log, log
    assert "Invalid Message" not in log, log


REENTERING_CALLBACK = """
import time
log = []
def reenter(widget, content, buffers):
    log.append(('enter', content['n']))
    print('entered', content['n'], flush=True)
    runner = arunner.get_runner()
    runner.get_loop().call_soon_threadsafe(time.sleep, 1.0)  # busy for a moment
    runner.start(asyncio.sleep(0))  # so this waits for the loop
    log.append(('exit', content['n']))
reentrant = widgets.Button()
reentrant.on_msg(reenter)
print(reentrant.model_id)
"""


def test_a_click_handled_between_cells_is_not_entered_by_the_next(nb: Kernel) -> None:
    """Issue 23: ipykernel never runs a handler inside another, nor may the pump.

    The first click's callback waits for the runner; the second click
    arrives meanwhile, and must wait for the first to return.
    """
    widget = nb.ok(REENTERING_CALLBACK).stdout.strip()
    first = comm_msg(nb, widget, {"method": "custom", "content": {"n": 1}})
    nb.wait_elsewhere(first["header"]["msg_id"], "entered 1")
    second = comm_msg(nb, widget, {"method": "custom", "content": {"n": 2}})
    nb.wait_elsewhere(second["header"]["msg_id"], "entered 2")
    assert nb.value("log") == repr(
        [("enter", 1), ("exit", 1), ("enter", 2), ("exit", 2)]
    )


#: Holds the pump inside its next flush of the shell queue, after the
#: stream's last read and before the stream looks at the socket's state once
#: more, which consumes the edge of the socket's descriptor.
HOLD_THE_NEXT_FLUSH = """
import time
from zmq.eventloop.zmqstream import ZMQStream
pump = get_ipython().magics_manager.registry['ARunMagics']._comm_pump
stream = pump._feed()[0]  # the stream that feeds this thread's shell queue
armed = []
def _held_rebuild():
    if armed:
        armed.clear()
        print('flushed', flush=True)
        time.sleep(0.5)  # the click arrives now
    return ZMQStream._rebuild_io_state(stream)
stream._rebuild_io_state = _held_rebuild
"""

ARMED_AWAIT_CLICK = AWAIT_CLICK.replace("%%arun\n", "%%arun\narmed.append(1)\n", 1)


def test_a_click_that_arrives_as_a_flush_ends_is_not_left_for_the_cells_end(
    start_kernel: Callable[..., Kernel],
) -> None:
    kernel = start_kernel()
    button_id = setup_kernel(kernel)
    kernel.ok(HOLD_THE_NEXT_FLUSH)
    reply = drive(
        kernel,
        ARMED_AWAIT_CLICK,
        [
            ("waiting", lambda _: send(kernel, "kernel_info_request", {})),
            ("flushed", lambda _: click(kernel, button_id)),
        ],
    )
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "waiting\nflushed\nclicked True\n"


def test_a_click_is_handled_when_it_arrives_not_at_the_next_wait_slice(
    start_kernel: Callable[..., Kernel],
) -> None:
    # With hour-long slices, only a wait that watches the shell queue (and
    # wakes when the run ends, or on an interrupt) lets these cells finish.
    kernel = start_kernel()
    button_id = setup_kernel(kernel)
    kernel.ok("import arunner._thread\narunner._thread.WAIT_SLICE = 3600.0")

    def click_once_it_waits(_: Reply) -> None:
        # A click that arrives before the shell's thread has begun its wait is
        # handled by the flush that begins it, watched socket or not: the
        # mutation check saw this test pass so once, under load.
        time.sleep(0.3)
        click(kernel, button_id)

    reply = drive(kernel, AWAIT_CLICK, [("waiting", click_once_it_waits)])
    assert reply.stdout == "waiting\nclicked True\n"
    assert kernel.value("%arun asyncio.sleep(0, 'the end woke it')") == (
        "'the end woke it'"
    )
    reply = drive(
        kernel,
        WAIT_THEN_CLEAN_UP,
        [("waiting", lambda _: kernel.manager.interrupt_kernel())],
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "waiting\ncleanup\n"


# -- the off switch and the fallback --------------------------------------------------

MISSES_THE_CLICK = f"""%%arun
print('waiting', flush=True)
try:
    await next_click(button, timeout={NO_EVENT_WAIT})
    print('clicked during the cell', flush=True)
except TimeoutError:
    print('no click during the cell', flush=True)
"""


def assert_click_waits_for_the_cell(kernel: Kernel, button_id: str) -> Reply:
    """Today's behaviour: the click is handled only once the cell is over."""
    sent: list[dict[str, Any]] = []
    reply = drive(
        kernel,
        MISSES_THE_CLICK,
        [("waiting", lambda _: sent.append(click(kernel, button_id)))],
    )
    assert reply.stdout == "waiting\nno click during the cell\n"
    kernel.wait_elsewhere(sent[0]["header"]["msg_id"], "handler ran")
    assert kernel.value("len(clicks)") == "1"
    return reply


def test_widget_events_off_leaves_the_click_until_the_cell_ends(
    start_kernel: Callable[..., Kernel],
) -> None:
    kernel = start_kernel()
    button_id = setup_kernel(kernel)
    kernel.ok("%config ARunMagics.widget_events = False")
    assert_click_waits_for_the_cell(kernel, button_id)
    # And on again, on the same runner.
    kernel.ok("%config ARunMagics.widget_events = True")
    reply = drive(
        kernel, AWAIT_CLICK, [("waiting", lambda _: click(kernel, button_id))]
    )
    assert reply.stdout == "waiting\nclicked True\n"


#: Per flavour, a kernel whose queues are not where arunner looks for them:
#: what it reads and ipykernel itself never does (the %subshell magic aside).
UNKNOWN_LAYOUT = (
    "get_ipython().kernel.shell_channel_thread.manager.subshell_id_from_thread_id"
    " = None"
    if IPYKERNEL_MAJOR >= 7
    else "get_ipython().kernel.shell_channel_thread = object()"
)


@pytest.mark.parametrize(
    "unknown",
    [
        pytest.param("import ipykernel\nipykernel.__version__ = '8.0.0'", id="version"),
        pytest.param(UNKNOWN_LAYOUT, id="layout"),
    ],
)
def test_an_unknown_kernel_turns_the_pump_off_with_one_warning(
    start_kernel: Callable[..., Kernel], unknown: str
) -> None:
    kernel = start_kernel()
    button_id = setup_kernel(kernel)
    kernel.ok(unknown)
    first = assert_click_waits_for_the_cell(kernel, button_id)
    assert first.stderr.count("RuntimeWarning: arunner:") == 1, first.stderr
    assert "widget and comm events now wait until the cell ends" in first.stderr
    kernel.ok("clicks.clear()")
    second = assert_click_waits_for_the_cell(kernel, button_id)
    assert "arunner:" not in second.stderr


@on_every_ipykernel
def test_a_kernel_before_6_29_leaves_the_click_until_the_cell_ends_without_a_word(
    start_kernel: Callable[..., Kernel],
) -> None:
    kernel = start_kernel()
    button_id = setup_kernel(kernel)
    if PUMPS:  # a newer kernel that says it is older
        kernel.ok("import ipykernel\nipykernel.__version__ = '6.17.1'")
    reply = assert_click_waits_for_the_cell(kernel, button_id)
    assert reply.stderr == ""  # not a word: no warning of any kind


FROM_A_USERS_THREAD = f"""
outcome = []
def wait_in_a_thread():
    try:
        arunner.get_runner().run(next_click(button, timeout={NO_EVENT_WAIT}))
        outcome.append('clicked')
    except TimeoutError:
        outcome.append('timed out')
waiter = threading.Thread(target=wait_in_a_thread)
waiter.start()
print('waiting', flush=True)
waiter.join()
print(outcome)
"""


def test_a_run_from_a_users_thread_leaves_the_kernels_queue_alone(
    nb: Kernel, button_id: str
) -> None:
    """That thread waits for the runner too, but the shell queue is not its own."""
    sent: list[dict[str, Any]] = []
    reply = drive(
        nb,
        FROM_A_USERS_THREAD,
        [("waiting", lambda _: sent.append(click(nb, button_id)))],
    )
    assert reply.stdout == "waiting\n['timed out']\n"
    nb.wait_elsewhere(sent[0]["header"]["msg_id"], "handler ran")


BREAK_THE_HANDLER_ONCE = """
kernel = get_ipython().kernel
real_handler = kernel.shell_handlers['comm_msg']
def broken_once(*args):
    kernel.shell_handlers['comm_msg'] = real_handler
    raise RuntimeError('simulated failure')
kernel.shell_handlers['comm_msg'] = broken_once
"""


def test_a_failure_while_handling_turns_the_pump_off_with_one_warning(
    start_kernel: Callable[..., Kernel],
) -> None:
    kernel = start_kernel()
    button_id = setup_kernel(kernel)
    kernel.ok(BREAK_THE_HANDLER_ONCE)
    failed = drive(
        kernel, MISSES_THE_CLICK, [("waiting", lambda _: click(kernel, button_id))]
    )
    assert failed.stdout == "waiting\nno click during the cell\n"
    assert failed.stderr.count("RuntimeWarning: arunner:") == 1, failed.stderr
    assert "RuntimeError('simulated failure')" in failed.stderr
    # Off from now on: the next click waits for the cell, as without arunner.
    later = assert_click_waits_for_the_cell(kernel, button_id)
    assert "arunner:" not in later.stderr


# -- subshells -----------------------------------------------------------------------


#: A %%arun cell for a subshell: its button's comm last spoke from the
#: subshell, so ipykernel 7 routes the button's clicks there.
IN_A_SUBSHELL = f"""%%arun
sub_button = widgets.Button(description='in a subshell')
print('waiting', sub_button.model_id, flush=True)
try:
    await next_click(sub_button, timeout={EVENT_TIMEOUT})
    print('clicked', flush=True)
finally:
    main_may_go.set()
"""


@pytest.mark.skipif(
    IPYKERNEL_MAJOR < 7, reason="kernel subshells (JEP 91) are new in ipykernel 7"
)
def test_a_cell_in_a_subshell_handles_the_clicks_routed_to_it(nb: Kernel) -> None:
    nb.ok("main_may_go = threading.Event()")
    subshell = nb.create_subshell()
    # The main shell is busy meanwhile, in a plain cell that handles nothing.
    main = nb.send(f"print('main busy', flush=True)\nmain_may_go.wait({EVENT_TIMEOUT})")
    nb.wait_elsewhere(main, "main busy")
    cell = nb.send(IN_A_SUBSHELL, subshell_id=subshell)
    printed = nb.wait_elsewhere(cell, "waiting")
    waiting = next(m for m in printed if "waiting" in m["content"].get("text", ""))
    click(nb, waiting["content"]["text"].split()[1])
    nb.wait_elsewhere(cell, "clicked")
    nb.wait_idle_elsewhere(cell)
    nb.wait_idle_elsewhere(main)

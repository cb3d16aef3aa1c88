"""``%%arun --sync``: library code that calls asyncio.run() works in a kernel cell.

The library here is a plain function defined in a cell, as a user's import
would be: it calls ``asyncio.run()`` (or a private loop's
``run_until_complete``) inside, which a plain kernel cell refuses because
the kernel's loop is running.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.kernel.cells import cell_lines, interruptible
from tests.kernel.conftest import Kernel, Reply
from tests.paths import names_arunner_source

pytestmark = pytest.mark.kernel

LIBRARY = """\
import asyncio, contextvars, time
user = contextvars.ContextVar("user", default="nobody")

async def _fetch(x):
    await asyncio.sleep(0.01)
    return x * 2

def fetch_all(x):
    "A library's synchronous API, with asyncio.run() inside."
    return asyncio.run(_fetch(x))

async def _slow():
    try:
        print("in the loop", flush=True)
        await asyncio.sleep(30)
        print("resumed")
    finally:
        print("library cleanup", flush=True)

def slow_call():
    return asyncio.run(_slow())

def runner_call(x):
    "A library that keeps an asyncio.Runner of its own."
    with asyncio.Runner() as runner:
        return runner.run(_fetch(x))

def slow_runner_call():
    with asyncio.Runner() as runner:
        return runner.run(_slow())

def slow_uvloop_call():
    "uvloop's loop runs in C: no run_until_complete frame, only Runner.run's."
    import uvloop
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_slow())

def anyio_call(x):
    import anyio
    return anyio.run(_fetch, x)

def slow_anyio_call():
    import anyio
    return anyio.run(_slow)

import threading
release = threading.Event()

def stubborn_call():
    "A library call blocked in C that swallows KeyboardInterrupt."
    while not release.is_set():
        try:
            print("stuck in C", flush=True)
            release.wait()
        except KeyboardInterrupt:
            print("ignored the interrupt", flush=True)
"""


@pytest.fixture(scope="module")
def lib(kernel: Kernel) -> Kernel:
    kernel.ok(LIBRARY)
    return kernel


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_a_library_calling_asyncio_run_works_and_the_cell_behaves_as_a_cell(
    lib: Kernel,
) -> None:
    reply = lib.ok(
        "%%arun --sync\n"
        "value = fetch_all(21)\n"
        "loop = asyncio.new_event_loop()\n"
        "private = loop.run_until_complete(_fetch(5))\n"
        "loop.close()\n"
        "print('printed', flush=True)\n"
        "value + private\n"
    )
    assert reply.stdout == "printed\n"
    assert reply.result == "52"  # the last expression, displayed
    assert lib.value("Out[max(Out)]") == "52"  # and stored
    assert lib.value("value, private") == "(42, 10)"  # names landed
    silenced = lib.ok("%%arun --sync\nfetch_all(1);\n")
    assert silenced.result is None


def test_the_line_form_returns_the_value(lib: Kernel) -> None:
    lib.ok("x = %arun --sync fetch_all(4)")
    assert lib.value("x") == "8"


def test_ipython_syntax_and_the_timeout_work_in_a_sync_body(lib: Kernel) -> None:
    reply = lib.ok("%%arun --sync\nshown = !echo from-the-shell\nshown[0]\n")
    assert reply.result == "'from-the-shell'"
    timed_out = lib.execute("%%arun --sync -t 0.5\nslow_call()\n")
    assert timed_out.ename == "TimeoutError"
    assert "library cleanup" in timed_out.stdout  # the loop's task was cancelled
    assert "resumed" not in timed_out.stdout


def test_a_contextvar_set_in_a_sync_cell_reaches_later_cells(lib: Kernel) -> None:
    lib.ok("%%arun --sync\nuser.set('ada')\n")
    assert lib.value("%arun asyncio.sleep(0, user.get())") == "'ada'"
    assert lib.value("%%arun\nuser.get()") == "'ada'"


def test_asyncio_runner_and_anyio_run_inside_a_library_work(lib: Kernel) -> None:
    pytest.importorskip("anyio")
    reply = lib.ok("%%arun --sync\n(runner_call(3), anyio_call(4))\n")
    assert reply.result == "(6, 8)"


@pytest.mark.parametrize(
    ("call", "needs"),
    [
        ("slow_call()", None),  # asyncio.run()
        ("slow_runner_call()", None),  # asyncio.Runner().run()
        ("slow_uvloop_call()", "uvloop"),  # a loop without Python frames
        ("slow_anyio_call()", "anyio"),
    ],
    ids=["asyncio.run", "asyncio.Runner", "uvloop-Runner", "anyio.run"],
)
def test_an_interrupt_cancels_the_loop_the_library_started(
    lib: Kernel, call: str, needs: str | None
) -> None:
    if needs is not None:
        pytest.importorskip(needs)
    reply = lib.execute(
        interruptible(f"{call}\nprint('after the call')", magic="%%arun --sync"),
        interrupt_on="in the loop",  # the library's loop has started
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\nin the loop\nlibrary cleanup\ncleanup\n"
    assert reply.interrupt_to_idle < 5  # not the 30 s sleep

    assert lib.value("%arun --sync fetch_all(2)") == "4"  # the next one works


def test_an_interrupted_library_call_shows_where_it_stopped_as_typed(
    lib: Kernel,
) -> None:
    reply = lib.execute(
        "%%arun --sync\nprint('started', flush=True)\nslow_call()\n",
        interrupt_on="in the loop",
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.error is not None
    shown = _plain("\n".join(reply.error["traceback"]))
    # The cell's slow_call() line, then the library's asyncio.run() line
    # (then the library's coroutine, at the line IPython takes from its
    # finished frame); none of arunner's frames.
    assert cell_lines(shown)[:2] == [3, 21], shown
    assert not names_arunner_source(shown), shown


def test_an_interrupt_stops_a_pure_python_busy_loop(lib: Kernel) -> None:
    reply = lib.execute(
        interruptible("while True:\n    pass", magic="%%arun --sync"),
        interrupt_on="started",
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\ncleanup\n"
    assert reply.interrupt_to_idle < 5
    assert lib.value("%arun --sync fetch_all(3)") == "6"


@pytest.mark.parametrize(
    "blocking",
    [
        "time.sleep(30)",
        "threading.Event().wait()",
        "concurrent.futures.Future().result()",
    ],
    ids=["time.sleep", "Event.wait", "Future.result"],
)
def test_a_blocking_call_stops_at_once(lib: Kernel, blocking: str) -> None:
    """A stop reaches a call blocked in C at once, as Ctrl-C does in a script
    (in a worker thread it waited for the call to return)."""
    reply = lib.execute(
        interruptible(
            f"import concurrent.futures\n{blocking}\nprint('resumed')",
            magic="%%arun --sync",
        ),
        interrupt_on="started",
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\ncleanup\n"
    assert reply.interrupt_to_idle < 5  # not the 30 s sleep
    assert lib.value("%arun --sync fetch_all(3)") == "6"


@pytest.mark.parametrize(
    "code",
    ["%%arun --sync\nawait asyncio.sleep(0)\n", "%arun --sync await asyncio.sleep(0)"],
    ids=["cell", "line"],
)
def test_await_in_a_sync_body_says_to_drop_sync(lib: Kernel, code: str) -> None:
    reply = lib.execute(code)
    assert "UsageError" in reply.stderr
    assert "drop --sync" in reply.stderr
    assert lib.value("%arun --sync fetch_all(5)") == "10"


def test_errors_show_the_users_lines_only(lib: Kernel) -> None:
    reply = lib.execute("%%arun --sync\nfetch_all(None)\n")
    assert reply.ename == "TypeError"
    assert reply.error is not None
    shown = _plain("\n".join(reply.error["traceback"]))
    assert "fetch_all(None)" in shown
    assert "_sync.py" not in shown
    assert "_cell.py" not in shown


def test_input_in_a_sync_cell_is_answered_in_the_cell(lib: Kernel) -> None:
    reply = lib.execute(
        "%%arun --sync\nname = input('your name? ')\nprint('hello', name)\n",
        answers=["ada"],
    )
    assert reply.error is None
    assert reply.prompts == ["your name? "]
    assert reply.input_parents == [reply.msg_id]
    assert "hello ada" in reply.stdout


def test_a_plain_cell_with_the_running_loop_error_ends_with_a_hint(
    lib: Kernel,
) -> None:
    reply = lib.execute("fetch_all(1)")
    assert reply.ename == "RuntimeError"
    assert reply.error is not None
    assert "cannot be called from a running event loop" in reply.error["evalue"]
    hint = reply.stderr.strip().splitlines()[-1]
    assert "%%arun --sync" in hint
    assert "%%arun" in hint.replace("%%arun --sync", "")
    # A %%arun cell that fails otherwise gets no hint.
    other = lib.execute("%%arun\nraise RuntimeError('something else')")
    assert other.ename == "RuntimeError"
    assert "--sync" not in other.stderr


def _first(reply: Reply, text: str, msg_type: str = "stream") -> int:
    """The position, in iopub order, of the cell's first output of ``msg_type``
    with ``text`` in it (in its traceback, for an error)."""
    for i, m in enumerate(reply.outputs):
        content = m["content"]
        shown = content.get("text", "") + "".join(content.get("traceback", []))
        if m["msg_type"] == msg_type and text in shown:
            return i
    raise AssertionError(f"no {msg_type} with {text!r} in {reply.outputs}")


HINT = "re-run it with %%arun --sync"


@pytest.mark.parametrize(
    "cell",
    [
        "fetch_all(1)",  # asyncio.run()
        "asyncio.get_event_loop().run_until_complete(_fetch(1))",  # the kernel's
        "asyncio.new_event_loop().run_until_complete(_fetch(1))",  # a private one
    ],
    ids=["asyncio.run", "kernel-loop", "private-loop"],
)
def test_the_hint_follows_the_error_of_each_running_loop_refusal(
    lib: Kernel, cell: str
) -> None:
    reply = lib.execute(cell)
    assert reply.ename == "RuntimeError"
    assert _first(reply, "RuntimeError", "error") < _first(reply, HINT)


def test_the_hint_leaves_another_extensions_exception_handler_in_place(
    lib: Kernel,
) -> None:
    lib.ok(
        "def _their_handler(shell, etype, value, tb, tb_offset=None):\n"
        "    print('their handler saw', etype.__name__, flush=True)\n"
        "    return shell.InteractiveTB.structured_traceback(\n"
        "        etype, value, tb, tb_offset=tb_offset)\n"
        "get_ipython().set_custom_exc((RuntimeError,), _their_handler)\n"
    )
    try:
        reply = lib.execute("fetch_all(1)")
        # IPython shows nothing more than what their handler shows...
        assert reply.status == "error"
        assert reply.stdout == "their handler saw RuntimeError\n"
        # ...and the hint follows it.
        assert _first(reply, "their handler saw") < _first(reply, HINT)
        # Still theirs for the next error.
        again = lib.execute("raise RuntimeError('their kind of error')")
        assert again.stdout == "their handler saw RuntimeError\n"
        assert lib.value("get_ipython().custom_exceptions") == "(RuntimeError,)"
    finally:
        lib.ok("get_ipython().set_custom_exc((), None)")


def test_no_hint_once_arunner_is_unloaded(start_kernel: Callable[..., Kernel]) -> None:
    kernel = start_kernel()
    kernel.ok(LIBRARY)
    kernel.ok("%unload_ext arunner")
    reply = kernel.execute("fetch_all(1)")
    assert reply.ename == "RuntimeError"
    assert "--sync" not in reply.stderr


def test_display_and_logging_from_a_sync_body_land_in_the_cell(lib: Kernel) -> None:
    reply = lib.execute(
        "%%arun --sync\n"
        "import logging, sys\n"
        "from IPython.display import display\n"
        "display('shown by display')\n"
        "logging.basicConfig(stream=sys.stderr, force=True)\n"
        "logging.getLogger('library').warning('logged by the library')\n"
        "fetch_all(1)\n"
    )
    assert reply.error is None
    assert reply.displays == ["'shown by display'"]
    assert "logged by the library" in reply.stderr
    assert reply.result == "2"

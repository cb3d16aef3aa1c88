"""``%%arun --sync``: library code that calls asyncio.run() works in a kernel cell.

The library here is a plain function defined in a cell, as a user's import
would be: it calls ``asyncio.run()`` (or a private loop's
``run_until_complete``) inside, which a plain kernel cell refuses because
the kernel's loop is running.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator

import pytest

from tests.kernel.cells import cell_lines, interruptible
from tests.kernel.conftest import Kernel, Reply
from tests.paths import names_arunner_source
from tests.versions import needs_assigned_shell_escapes

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


@needs_assigned_shell_escapes
def test_ipython_syntax_works_in_a_sync_body(lib: Kernel) -> None:
    reply = lib.ok("%%arun --sync\nshown = !echo from-the-shell\nshown[0]\n")
    assert reply.result == "'from-the-shell'"


def test_the_timeout_cancels_the_librarys_loop(lib: Kernel) -> None:
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
    # Nor asyncio's, which say nothing and are slow to format.
    assert "base_events.py" not in shown, shown
    assert "runners.py" not in shown, shown


@pytest.mark.parametrize(
    "blocking",
    [
        "time.sleep(30)",
        "threading.Event().wait()",
        "concurrent.futures.Future().result()",
        "while True:\n    pass",
    ],
    ids=["time.sleep", "Event.wait", "Future.result", "busy-loop"],
)
def test_plain_python_and_blocking_calls_stop_at_once(
    lib: Kernel, blocking: str
) -> None:
    """A stop reaches a call blocked in C, or a pure-Python loop, at once, as
    Ctrl-C does in a script (in a worker thread it waited for a C call to
    return)."""
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
    ("call", "proof", "printed"),
    [
        (
            "slow_call()",
            "in the loop",
            "started\nin the loop\nlibrary cleanup\ncleanup\n",
        ),
        ("time.sleep(30)", "started", "started\ncleanup\n"),
    ],
    ids=["asyncio.run", "time.sleep"],
)
def test_a_stop_that_another_thread_of_the_kernel_takes_reaches_the_call_at_once(
    lib: Kernel, call: str, proof: str, printed: str
) -> None:
    """Linux gives a process's SIGINT to another of its threads when the main
    one has a signal pending, and a kernel has a dozen that take it.  Python
    then runs the handler only when the main thread next runs bytecode: a
    call blocked in C (a loop's epoll_wait, time.sleep) went on for its whole
    30 s, so the stop seemed lost (seen twice in full runs).  The stop here
    is sent to the kernel's IOPub thread, as the OS then does."""
    found = lib.value(
        "[t.native_id for t in threading.enumerate() if t.name == 'IOPub'][0]"
    )
    assert found is not None
    iopub = int(found)
    assert iopub > 0  # never os.kill(0), which is this process's own group
    reply = lib.execute(
        interruptible(f"{call}\nprint('resumed')", magic="%%arun --sync"),
        interrupt_on=proof,
        press=lambda: os.kill(iopub, signal.SIGINT),
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == printed  # cleanup ran, and nothing resumed
    assert reply.interrupt_to_idle < 5  # not the 30 s the call waits
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


# -- the kernel's own thread -----------------------------------------------------------


def test_an_object_bound_to_its_thread_works_in_the_next_sync_cell(lib: Kernel) -> None:
    """sqlite3 refuses a connection from another thread, as Playwright's sync
    API does: every --sync call runs in the kernel's main thread."""
    lib.ok(
        "%%arun --sync\n"
        "import sqlite3\n"
        "db = sqlite3.connect(':memory:')\n"
        "db.execute('create table t (x)')\n"
    )
    reply = lib.ok(
        "%%arun --sync\n"
        "db.execute('insert into t values (1)')\n"
        "threading.current_thread() is threading.main_thread()\n"
    )
    assert reply.result == "True"
    assert (
        lib.value("%arun --sync db.execute('select count(*) from t').fetchone()")
        == "(1,)"
    )
    assert lib.value("db.execute('select count(*) from t').fetchone()") == "(1,)"


def test_the_loop_state_a_sync_call_leaves_is_where_the_next_starts(
    lib: Kernel,
) -> None:
    """Playwright's sync API keeps its loop marked as running between calls:
    the next --sync call finds it, plain cells find the kernel's."""
    lib.ok(
        "%%arun --sync\n"
        "own = asyncio.new_event_loop()\n"
        "asyncio.events._set_running_loop(own)\n"
    )
    try:
        assert lib.value("%arun --sync asyncio.get_running_loop() is own") == "True"
        assert lib.value("asyncio.get_running_loop() is own") == "False"
        # The kernel's loop is fine: top-level await in a plain cell.
        assert lib.value("await asyncio.sleep(0, 'awaited')") == "'awaited'"
    finally:
        lib.ok("%%arun --sync\nasyncio.events._set_running_loop(None)\nown.close()\n")
    assert lib.value("%arun --sync fetch_all(6)") == "12"


def test_arun_inside_a_sync_cell_runs_on_the_runners_thread(
    start_kernel: Callable[..., Kernel],
) -> None:
    """The first use of the runner from a --sync cell, where the kernel's loop
    is hidden, still picks the thread engine that later plain cells need."""
    kernel = start_kernel()
    kernel.ok(LIBRARY)
    reply = kernel.ok(
        "%%arun --sync\n"
        "where = %arun asyncio.sleep(0, threading.current_thread().name)\n"
        "where\n"
    )
    assert reply.result is not None
    assert reply.result.startswith("'arunner-loop-")
    assert kernel.value("%arun asyncio.sleep(0, 'later')") == "'later'"


# -- %arun --auto sync ---------------------------------------------------------


@pytest.fixture
def auto_sync(lib: Kernel) -> Iterator[Kernel]:
    reply = lib.ok("%arun --auto sync")
    assert "plain cells run as scripts" in reply.stdout
    try:
        yield lib
    finally:
        lib.ok("%arun --auto off")


def test_auto_sync_runs_plain_cells_as_scripts_and_await_cells_on_the_runner(
    auto_sync: Kernel,
) -> None:
    assert auto_sync.value("fetch_all(10)") == "20"  # asyncio.run() inside
    assert auto_sync.value("asyncio.run(_fetch(2))") == "4"
    awaited = auto_sync.value("await asyncio.sleep(0)\nthreading.current_thread().name")
    assert awaited is not None
    assert awaited.startswith("'arunner-loop-")
    # A ContextVar set by a script cell reaches an await cell, and back.
    auto_sync.ok("user.set('grace')")
    assert auto_sync.value("await asyncio.sleep(0)\nuser.get()") == "'grace'"
    # What the hint offers works in such a plain cell: %arun, and %arun -b.
    assert auto_sync.value("%arun _fetch(4)") == "8"
    auto_sync.ok("handle = %arun -b _fetch(5)")
    assert auto_sync.value("handle.result(10)") == "10"


def test_auto_sync_stops_a_plain_cell_as_a_script(auto_sync: Kernel) -> None:
    reply = auto_sync.execute(
        interruptible("slow_call()\nprint('resumed')", magic=None),
        interrupt_on="in the loop",
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "started\nin the loop\nlibrary cleanup\ncleanup\n"
    assert auto_sync.value("fetch_all(1)") == "2"


def test_auto_sync_leaves_a_handled_stop_to_the_cell(auto_sync: Kernel) -> None:
    """As in a script (and pdb): a cell that handles KeyboardInterrupt goes
    on, does not fail, and the cell queued after it runs."""
    reply = auto_sync.execute(
        "try:\n"
        "    print('started', flush=True)\n"
        "    time.sleep(30)\n"
        "except KeyboardInterrupt:\n"
        "    print('stopped early')\n",
        interrupt_on="started",
    )
    assert reply.status == "ok", reply.outputs
    assert reply.stdout == "started\nstopped early\n"
    assert reply.interrupt_to_idle < 5
    assert auto_sync.value("fetch_all(3)") == "6"


@pytest.mark.parametrize(
    "idiom",
    [
        "asyncio.create_task(_fetch(1))",
        "asyncio.get_running_loop()",
    ],
    ids=["create_task", "get_running_loop"],
)
def test_auto_sync_kernel_loop_idioms_fail_saying_what_to_write(
    auto_sync: Kernel, idiom: str
) -> None:
    reply = auto_sync.execute(idiom)
    assert reply.ename == "RuntimeError"
    assert reply.error is not None
    assert "no running event loop" in reply.error["evalue"]
    hint = " ".join(reply.stderr.split())
    assert "%arun -b coro()" in hint
    assert "put the await in the cell" in hint
    assert auto_sync.value("fetch_all(2)") == "4"  # and the next cell is fine


def test_auto_off_after_sync_gives_plain_cells_back_to_ipython(lib: Kernel) -> None:
    lib.ok("%arun --auto sync")
    lib.ok("%arun --auto off")
    reply = lib.execute("fetch_all(1)")
    assert reply.ename == "RuntimeError"  # the kernel's loop is running again
    assert lib.value("asyncio.get_running_loop().is_running()") == "True"


# -- the hint, in every library's words ------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "You cannot use AsyncToSync in the same thread as an async event loop - "
        "just await the async function directly.",  # asgiref
        "It looks like you are using Playwright Sync API inside the asyncio loop.\n"
        "Please use the Async API instead.",  # Playwright
        "Already running asyncio in this thread",  # anyio
        "Cannot run client.execute(query) if an asyncio loop is running. "
        "Use 'await client.execute_async(query)' instead.",  # gql
    ],
    ids=["asgiref", "playwright", "anyio", "gql"],
)
def test_the_hint_follows_each_librarys_own_refusal(lib: Kernel, message: str) -> None:
    lib.ok(f"def library_call():\n    raise RuntimeError({message!r})\n")
    reply = lib.execute("library_call()")
    assert reply.ename == "RuntimeError"
    hint = " ".join(reply.stderr.split())
    assert "re-run it with %%arun --sync" in hint
    assert "%arun --auto sync" in hint
    assert _first(reply, "RuntimeError", "error") < _first(reply, "--auto sync")


def test_no_hint_for_an_error_that_is_not_about_a_running_loop(lib: Kernel) -> None:
    reply = lib.execute("raise RuntimeError('Event loop is closed')")
    assert reply.ename == "RuntimeError"
    assert "--sync" not in reply.stderr


# -- misuse ---------------------------------------------------------------------


def test_sync_in_the_background_is_refused_saying_what_to_write(lib: Kernel) -> None:
    reply = lib.execute("%arun -b --sync fetch_all(1)")
    assert "UsageError" in reply.stderr
    assert "'%arun -b asyncio.to_thread(function, args)'" in reply.stderr
    assert lib.value("%arun --sync fetch_all(1)") == "2"


def test_sync_inside_a_arun_cell_is_refused_and_blocks_nothing(lib: Kernel) -> None:
    reply = lib.execute("%%arun\nawait asyncio.sleep(0)\n%arun --sync fetch_all(1)\n")
    assert "UsageError" in reply.stderr
    assert "await asyncio.to_thread(lambda: fetch_all(1))" in reply.stderr
    assert lib.value("%arun asyncio.sleep(0, 'free')") == "'free'"


def test_a_second_stop_leaves_a_stubborn_cleanup_at_once(lib: Kernel) -> None:
    lib.ok(
        "async def _stubborn():\n"
        "    try:\n"
        "        print('in the loop', flush=True)\n"
        "        await asyncio.sleep(30)\n"
        "    finally:\n"
        "        print('slow cleanup', flush=True)\n"
        "        time.sleep(30)\n"
        "        print('cleanup finished')\n"
    )
    reply = lib.execute(
        "%%arun --sync\nasyncio.run(_stubborn())\nprint('resumed')\n",
        interrupt_on="in the loop",
        interrupts=2,
        gap=0.5,
    )
    assert reply.ename == "KeyboardInterrupt"
    assert reply.stdout == "in the loop\nslow cleanup\n"
    assert reply.interrupt_to_idle < 5  # not the 30 s cleanup
    assert lib.value("%arun --sync fetch_all(7)") == "14"


def test_the_timeout_stops_a_blocking_call(lib: Kernel) -> None:
    reply = lib.execute(
        interruptible("time.sleep(30)\nprint('resumed')", magic="%%arun --sync -t 0.3")
    )
    assert reply.ename == "TimeoutError"
    assert reply.error is not None
    assert "within --timeout 0.3 s" in reply.error["evalue"]
    assert reply.stdout == "started\ncleanup\n"


def test_autosync_from_the_configuration(lib: Kernel) -> None:
    lib.ok("%config ARunMagics.autosync = True")
    try:
        assert lib.value("fetch_all(21)") == "42"
    finally:
        lib.ok("%config ARunMagics.autosync = False")
    assert lib.execute("fetch_all(21)").ename == "RuntimeError"

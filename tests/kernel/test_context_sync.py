"""One context for the notebook: plain cells and %arun cells see each other's changes.

Each test starts the runner in a cell of its own first, so that what is
checked is the sync between two contexts that already exist, not the copy
the runner takes when it starts.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.kernel.cells import IPYKERNEL_VERSION, ROUTES_BY_CONTEXT, interruptible
from tests.kernel.conftest import Kernel

pytestmark = pytest.mark.kernel


@pytest.fixture
def nb(start_kernel: Callable[..., Kernel]) -> Kernel:
    kernel = start_kernel()
    kernel.ok(
        "import asyncio, contextvars, decimal\n"
        "v = contextvars.ContextVar('v', default='unset')\n"
        "%arun asyncio.sleep(0)  # the runner and its context exist from here"
    )
    return kernel


def test_a_plain_cells_change_reaches_later_arun_calls(nb: Kernel) -> None:
    nb.ok("v.set('from a plain cell')")
    assert nb.value("%arun asyncio.sleep(0, v.get())") == "'from a plain cell'"
    assert nb.value("%%arun\nawait asyncio.sleep(0)\nv.get()") == "'from a plain cell'"


def test_an_arun_cells_change_reaches_the_next_plain_cell(nb: Kernel) -> None:
    nb.ok("%%arun\nawait asyncio.sleep(0)\nv.set('from %%arun')")
    assert nb.value("v.get()") == "'from %%arun'"


def test_the_change_of_an_interrupted_cell_reaches_plain_cells(nb: Kernel) -> None:
    reply = nb.execute(
        interruptible("v.set('before the interrupt')\nawait asyncio.sleep(30)"),
        interrupt_on="started",
    )
    assert reply.ename == "KeyboardInterrupt"
    assert "cleanup" in reply.stdout
    assert nb.value("v.get()") == "'before the interrupt'"


def test_the_change_of_a_cell_that_raises_reaches_plain_cells(nb: Kernel) -> None:
    reply = nb.execute(
        "%%arun\nv.set('before the error')\nawait asyncio.sleep(0)\n"
        "raise ValueError('the cell failed')"
    )
    assert reply.ename == "ValueError"
    assert nb.value("v.get()") == "'before the error'"


def test_the_change_of_a_cell_that_times_out_reaches_plain_cells(nb: Kernel) -> None:
    reply = nb.execute(
        "%%arun -t 0.2\nv.set('before the timeout')\nawait asyncio.sleep(30)"
    )
    assert reply.ename == "TimeoutError"
    assert nb.value("v.get()") == "'before the timeout'"


def test_decimal_precision_set_in_a_plain_cell_applies_in_arun(nb: Kernel) -> None:
    nb.ok("decimal.getcontext().prec = 5")
    third = (
        "%%arun\nawait asyncio.sleep(0)\nstr(decimal.Decimal(1) / decimal.Decimal(3))"
    )
    assert nb.value(third) == "'0.33333'"


def test_a_background_task_keeps_the_copy_it_was_created_with(nb: Kernel) -> None:
    nb.ok(
        "import threading\n"
        "task_set, go = threading.Event(), threading.Event()\n"
        "async def watch():\n"
        "    seen = v.get()\n"
        "    v.set('inside the task')\n"
        "    task_set.set()\n"
        "    await asyncio.to_thread(go.wait, 10)\n"
        "    return seen, v.get()\n"
        "v.set('at creation')\n"
        "%arun asyncio.sleep(0)  # the runner's own context has it too\n"
        "handle = %arun -b watch()"
    )
    assert nb.value("task_set.wait(10)") == "True"
    # What the running task set reaches neither side: nothing is carried in
    # by these cells, so each shows what its own context holds.
    assert nb.value("v.get()") == "'at creation'"
    assert nb.value("%%arun\nawait asyncio.sleep(0)\nv.get()") == "'at creation'"
    # Later changes on either side do not reach the running task.
    nb.ok("v.set('from a later plain cell')")
    nb.ok("%%arun\nawait asyncio.sleep(0)\nv.set('from a later %%arun')")
    finished = nb.value("go.set()\nhandle.result(10)")
    assert finished == "('at creation', 'inside the task')"
    # Nor does the task's change once it has ended.
    assert nb.value("v.get()") == "'from a later %%arun'"
    assert nb.value("%arun asyncio.sleep(0, v.get())") == "'from a later %%arun'"


#: ``%arun LINE`` called from a thread of the user's, as a cell would.
FROM_A_THREAD = """
def from_a_thread(line):
    got = []
    def call():
        try:
            got.append(get_ipython().run_line_magic('arun', line))
        except BaseException as exc:
            got.append(repr(exc))
    caller = threading.Thread(target=call)
    caller.start()
    caller.join()
    return got[0]
"""


def test_an_arun_from_another_thread_keeps_its_own_context(nb: Kernel) -> None:
    nb.ok(
        "import threading\n"
        "w = contextvars.ContextVar('w', default='unset')\n"
        "async def in_the_thread():\n"
        "    seen = v.get()\n"
        "    v.set('from the thread')\n"
        "    w.set('from the thread')\n"
        "    return seen\n" + FROM_A_THREAD
    )
    nb.ok("v.set('from a plain cell')")
    # It runs in a copy of the runner's context as the last call left it:
    # no exchange brings in the plain cell's change ...
    assert nb.value("from_a_thread('in_the_thread()')") == "'unset'"
    # ... nor takes its changes anywhere: not to plain cells, not to the
    # runner's context (w, which plain cells never set, would show them).
    assert nb.value("v.get(), w.get()") == "('from a plain cell', 'unset')"
    both = "asyncio.sleep(0, (v.get(), w.get()))"
    assert nb.value(f"%arun {both}") == "('from a plain cell', 'unset')"
    # A later call from a thread sees what the notebook's calls carried over.
    assert nb.value(f"from_a_thread({both!r})") == "('from a plain cell', 'unset')"


def test_an_arun_from_another_thread_prints_and_prompts_in_the_running_cell(
    nb: Kernel,
) -> None:
    nb.ok("import threading\n" + FROM_A_THREAD)
    nb.ok("%arun asyncio.sleep(0)  # the runner's context holds this cell's request")
    reply = nb.execute(
        "from_a_thread(\"asyncio.to_thread(print, 'from the thread', flush=True)\")\n"
        "from_a_thread(\"asyncio.to_thread(input, 'name? ')\")",
        answers=["ada"],
    )
    assert reply.error is None, "\n".join(reply.error["traceback"])
    assert reply.stdout == "from the thread\n"
    assert reply.result == "'ada'"
    assert reply.input_parents == [reply.msg_id]


#: Code that points the output of the context it runs in at another cell's
#: request, as a helper that prints into an earlier cell's output does.  In
#: ordinary calls each side's routing variables hold the very objects the
#: other side would carry over, so only such a change shows whether they
#: are carried: within a cell, before or after its ``%arun`` line.
POINT_OUTPUT_AT = (
    "import sys\n"
    "earlier = get_ipython().parent_header  # this cell's request\n"
    "async def point_output_at(request):\n"
    "    sys.stdout.set_parent(request)"
)


#: Before ipykernel 6.29 a stream's parent is one global, not a ContextVar:
#: there is no routing variable that the sync could carry or leave alone.
routes_by_context_variables = pytest.mark.skipif(
    not ROUTES_BY_CONTEXT,
    reason=f"ipykernel {IPYKERNEL_VERSION} keeps the output parent in one global",
)


@routes_by_context_variables
def test_where_a_plain_cell_points_its_output_does_not_reach_an_arun_call(
    nb: Kernel,
) -> None:
    nb.ok(POINT_OUTPUT_AT)
    reply = nb.ok(
        "sys.stdout.set_parent(earlier)  # the plain cell's own prints go elsewhere\n"
        "%arun asyncio.to_thread(print, 'from the call', flush=True)"
    )
    assert reply.stdout == "from the call\n"  # the call prints to its own cell


@routes_by_context_variables
def test_where_an_arun_call_points_its_output_does_not_reach_the_plain_cell(
    nb: Kernel,
) -> None:
    nb.ok(POINT_OUTPUT_AT)
    reply = nb.ok("%arun point_output_at(earlier)\nprint('after the call', flush=True)")
    assert reply.stdout == "after the call\n"
    first = nb.ok("%%arun\nawait asyncio.sleep(0)\nprint('from arun', flush=True)")
    assert first.stdout == "from arun\n"
    plain = nb.ok("print('from a plain cell', flush=True)")
    assert plain.stdout == "from a plain cell\n"
    later = nb.ok("%arun asyncio.to_thread(print, 'from a later arun', flush=True)")
    assert later.stdout == "from a later arun\n"


# -- a reset back to no value ------------------------------------------------------

#: What a plain cell and an %arun call each see of ``v``.
BOTH_VIEWS = "seen = %arun asyncio.sleep(0, v.get())\nv.get(), seen"


def test_a_reset_in_a_plain_cell_reaches_arun_cells(nb: Kernel) -> None:
    nb.ok("t = v.set('set in a plain cell')")
    assert nb.value("%arun asyncio.sleep(0, v.get())") == "'set in a plain cell'"
    nb.ok("v.reset(t)")
    # A background task started first, in a copy of the runner's context,
    # cannot take the value away there (see how-it-works), nor keep the
    # runner's context from doing so.
    nb.ok("handle = %arun -b asyncio.sleep(0)\nhandle.result(10)")
    reply = nb.ok("%arun asyncio.sleep(0, v.get())")
    assert (reply.result, reply.stderr) == ("'unset'", "")
    assert nb.value("%%arun\nawait asyncio.sleep(0)\nv.get()") == "'unset'"


def test_a_reset_in_an_arun_cell_reaches_plain_cells(nb: Kernel) -> None:
    nb.ok("%%arun\nawait asyncio.sleep(0)\nt = v.set('set in %%arun')")
    assert nb.value("v.get()") == "'set in %%arun'"
    reply = nb.ok("%%arun\nawait asyncio.sleep(0)\nv.reset(t)")
    assert reply.stderr == ""
    assert nb.value("v.get()") == "'unset'"
    # and it stays so: the next call does not bring the old value back
    nb.ok("%arun asyncio.sleep(0)")
    assert nb.value("v.get()") == "'unset'"


def test_a_value_that_cannot_be_taken_away_is_reported(nb: Kernel) -> None:
    # w got its value before the runner started: only the plain cell's
    # Token can take it away, in the plain cells' context.
    nb.ok("%arun --restart")
    nb.ok("w = contextvars.ContextVar('w')\nt = w.set('before the runner')")
    nb.ok("%arun asyncio.sleep(0)  # the runner starts with a copy")
    nb.ok("w.reset(t)")
    reply = nb.ok("%arun asyncio.sleep(0, w.get('unset'))")
    assert reply.result == "'before the runner'"
    assert "ContextVar 'w' has no value in plain cells" in reply.stderr
    assert "w.set(None)" in reply.stderr
    # Said once: the next call says nothing more.
    assert nb.ok("%arun asyncio.sleep(0)").stderr == ""
    # Once a value is set, both sides agree again.
    nb.ok("w.set('set again')")
    assert nb.value("%arun asyncio.sleep(0, w.get('unset'))") == "'set again'"


# -- after an abandoned run --------------------------------------------------------

#: A coroutine that swallows cancellation until ``done`` is set: a second
#: stop abandons it, and it goes on running.
STUBBORN = """
done = False
async def stubborn():
    print('started', flush=True)
    v.set('set by the abandoned run')
    while not done:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            pass
"""


def test_after_an_abandoned_run_arun_cells_share_one_context_again(
    nb: Kernel,
) -> None:
    nb.ok(STUBBORN)
    reply = nb.execute("%arun stubborn()", interrupt_on="started", interrupts=2)
    assert reply.ename == "KeyboardInterrupt"
    # What the abandoned run had set reaches both kinds of cell.
    abandoned = "'set by the abandoned run'"
    assert nb.value(BOTH_VIEWS) == f"({abandoned}, {abandoned})"
    # One context for the notebook, whichever kind of cell sets or reads.
    nb.ok("%%arun\nawait asyncio.sleep(0)\nv.set('from %%arun')")
    assert nb.value("%%arun\nawait asyncio.sleep(0)\nv.get()") == "'from %%arun'"
    assert nb.value("v.get()") == "'from %%arun'"
    nb.ok("v.set('from a plain cell')")
    assert nb.value("%arun asyncio.sleep(0, v.get())") == "'from a plain cell'"
    # A Token made in a %%arun cell resets in the next %%arun cell.
    nb.ok("%%arun\nt = v.set('to be reset')")
    assert nb.value("%%arun\nv.reset(t)\nv.get()") == "'from a plain cell'"
    assert nb.value("v.get()") == "'from a plain cell'"
    nb.ok("done = True  # the abandoned run ends")


# -- Tokens across kinds of cell ---------------------------------------------------


@pytest.mark.parametrize(
    ("make", "reset"),
    [
        ("t = v.set('x')", "%%arun\nv.reset(t)"),
        ("%%arun\nt = v.set('x')", "v.reset(t)"),
        ("%%arun\nt = v.set('x')", "%%arun --sync\nv.reset(t)"),
    ],
    ids=["plain to %%arun", "%%arun to plain", "%%arun to --sync"],
)
def test_a_token_reset_in_the_other_kind_of_cell_says_what_to_write(
    nb: Kernel, make: str, reset: str
) -> None:
    nb.ok("v.set('before')")
    nb.ok(make)
    reply = nb.execute(reset)
    assert reply.ename == "ValueError"
    assert "can be reset only in the Context that made it" in reply.stderr
    assert "var.set(token.old_value)" in reply.stderr
    # What it says to write works.
    nb.ok(reset.replace("v.reset(t)", "v.set(t.old_value)"))
    assert nb.value(BOTH_VIEWS) == "('before', 'before')"


@pytest.mark.parametrize(
    ("make", "reset"),
    [
        ("t = v.set('x')", "%%arun --sync\nv.reset(t)"),
        ("%%arun --sync\nt = v.set('x')", "%%arun --sync\nv.reset(t)"),
        ("%%arun --sync\nt = v.set('x')", "v.reset(t)"),
        ("%%arun\nt = v.set('x')", "%%arun\nv.reset(t)"),
    ],
    ids=["plain to --sync", "--sync to --sync", "--sync to plain", "%%arun to %%arun"],
)
def test_a_token_resets_in_a_cell_of_the_same_context(
    nb: Kernel, make: str, reset: str
) -> None:
    nb.ok(make)
    nb.ok(reset)
    assert nb.value(BOTH_VIEWS) == "('unset', 'unset')"

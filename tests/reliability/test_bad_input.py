"""A catalogue of mistakes a notebook user makes, in one real kernel.

Each one must give an error that says what is wrong (and where it helps,
what to write instead), and must leave the runner usable: the next
``%arun`` answers.  Errors IPython shows as usage or configuration errors
(``UsageError``, a rejected ``%config``) arrive on stderr, not as an error
message, and are checked there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.kernel.conftest import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.reliability]

SETUP = """
import asyncio, time, arunner
async def agen():
    yield 1
async def failing():
    await asyncio.sleep(0)
    raise ValueError("from the background")
"""


@dataclass(frozen=True)
class Mistake:
    """A cell, the error it must give and what that error must say."""

    code: str
    #: The exception's name, or "stderr" for a usage or configuration error.
    error: str
    says: tuple[str, ...]
    #: The cell's displayed result, when the cell goes on to show one.
    result: str | None = None
    #: A cell that undoes a setting the mistake left behind, as a user would.
    undo: str = ""


CATALOGUE = {
    "not-awaitable": Mistake("%arun 42", "TypeError", ("expected an awaitable",)),
    "blocking-call-instead-of-coroutine": Mistake(
        "%arun time.sleep(0)", "TypeError", ("gave NoneType None", "%arun fetch()")
    ),
    "coroutine-function-not-called": Mistake(
        "%arun asyncio.sleep",
        "TypeError",
        ("coroutine function, not a coroutine", "%arun asyncio.sleep()"),
    ),
    "async-generator": Mistake(
        "%arun agen()", "TypeError", ("expected an awaitable", "async_generator")
    ),
    "future-of-another-loop": pytest.param(
        Mistake(
            "other = asyncio.new_event_loop()\n%arun other.create_future()",
            "ValueError",
            ("different event loop than the runner's",),
            undo="other.close()",
        ),
    ),
    "already-awaited-coroutine": Mistake(
        "once = asyncio.sleep(0)\n%arun once\n%arun once",
        "RuntimeError",
        ("cannot reuse already awaited coroutine",),
    ),
    "syntax-error": Mistake(
        "%%arun\nawait asyncio.sleep(0\n", "SyntaxError", ("was never closed",)
    ),
    "return-outside-function": Mistake(
        "%%arun\nreturn 5", "SyntaxError", ("'return' outside function",)
    ),
    "never-finishing-future-with-timeout": Mistake(
        "%arun --timeout 0.2 asyncio.get_running_loop().create_future()",
        "TimeoutError",
        ("did not finish within --timeout 0.2 s",),
    ),
    "never-finishing-cell-with-timeout": Mistake(
        "%%arun --timeout 0.2\nawait asyncio.Event().wait()",
        "TimeoutError",
        ("did not finish within --timeout 0.2 s",),
    ),
    "system-exit-inside": Mistake(
        "%%arun\nawait asyncio.sleep(0)\nraise SystemExit(3)", "SystemExit", ("3",)
    ),
    "keyboard-interrupt-raised-inside": Mistake(
        "%%arun\nawait asyncio.sleep(0)\nraise KeyboardInterrupt",
        "KeyboardInterrupt",
        (),
    ),
    "arun-re-entered-from-a-coroutine": Mistake(
        "%%arun\ninner = %arun asyncio.sleep(0)",
        "stderr",
        ("UsageError", "write 'await asyncio.sleep(0)' there"),
    ),
    "runner-start-from-a-coroutine": Mistake(
        "%%arun\nawait arunner.get_runner().start(asyncio.sleep(0))",
        "RuntimeError",
        ("runner's own loop thread", "'await coro'"),
    ),
    "close-from-inside-the-runner": Mistake(
        "%%arun\narunner.get_runner().close()",
        "RuntimeError",
        ("cannot be called from the runner's own loop thread",),
    ),
    "closed-runner": Mistake(
        "closed = arunner.get_runner()\nclosed.close()\nclosed.run(asyncio.sleep(0))",
        "RuntimeError",
        ("Runner is closed",),
    ),
    "asyncio-run-inside-a-cell": Mistake(
        "%%arun\nasyncio.run(asyncio.sleep(0))",
        "RuntimeError",
        ("cannot be called from a running event loop",),
    ),
    "failing-background-task": Mistake(
        "handle = %arun -b failing()\nhandle.result(10)",
        "ValueError",
        ("from the background",),
    ),
    "background-result-times-out": Mistake(
        "slow = %arun -b -n slow asyncio.sleep(60)\nslow.result(0.1)",
        "TimeoutError",
        (),
        undo="%arun --cancel slow",
    ),
    "undefined-name": Mistake(
        "%%arun\nawait fetch_everything()", "NameError", ("fetch_everything",)
    ),
    "unknown-option": Mistake(
        "%arun --bogus asyncio.sleep(0)",
        "stderr",
        ("UsageError", "unrecognized arguments: --bogus"),
    ),
    "code-on-the-cell-magic-line": Mistake(
        "%%arun asyncio.sleep(0)\npass",
        "stderr",
        ("UsageError", "move 'asyncio.sleep(0)' into the cell body"),
    ),
    "name-without-background": Mistake(
        "%arun -n job asyncio.sleep(0)", "stderr", ("use it with -b",)
    ),
    "negative-timeout": Mistake(
        "%arun --timeout -1 asyncio.sleep(0)",
        "stderr",
        ("--timeout needs a positive number of seconds",),
    ),
    "cancel-unknown-task": Mistake(
        "%arun --cancel nosuch",
        "stderr",
        ("no live task is called 'nosuch'", "%arun --tasks"),
    ),
    "action-with-code": Mistake(
        "%arun --tasks asyncio.sleep(0)", "stderr", ("--tasks takes no code",)
    ),
    "two-actions": Mistake(
        "%arun --tasks --status", "stderr", ("use one of --tasks, --status",)
    ),
    "bad-loop-factory-import-string": Mistake(
        "%config ARunMagics.loop_factory = 'nowhere.new_loop'",
        "stderr",
        ("cannot import 'nowhere.new_loop'", "uvloop.new_event_loop"),
    ),
    "loop-factory-that-returns-no-loop": Mistake(
        "%config ARunMagics.loop_factory = 'os.getcwd'\n%arun asyncio.sleep(0)",
        "TypeError",
        ("loop_factory must return an asyncio event loop",),
        undo="%config ARunMagics.loop_factory = ''",
    ),
    "unknown-mode": Mistake(
        "%config ARunMagics.mode = 'fast'", "stderr", ("'mode' trait", "'fast'")
    ),
    "zero-shutdown-timeout": Mistake(
        "%config ARunMagics.shutdown_timeout = 0",
        "stderr",
        ("shutdown_timeout must be a positive number",),
    ),
    "mode-change-with-tasks-pending": Mistake(
        "pending = %arun -b -n pending asyncio.sleep(60)\n"
        "%config ARunMagics.mode = 'thread'\n"
        "pending.cancelled()",
        "stderr",
        ("runner was restarted", "1 pending task(s) were cancelled: pending"),
        result="True",
        undo="%config ARunMagics.mode = 'auto'",
    ),
}


@pytest.fixture(scope="module")
def nb(start_kernel: Callable[..., Kernel]) -> Kernel:
    kernel = start_kernel()
    kernel.ok(SETUP)
    return kernel


@pytest.mark.parametrize("mistake", CATALOGUE.values(), ids=CATALOGUE.keys())
def test_a_clear_error_and_a_usable_runner_afterwards(
    nb: Kernel, mistake: Mistake
) -> None:
    reply = nb.execute(mistake.code)
    if mistake.error == "stderr":
        assert reply.error is None
        message = reply.stderr
    else:
        assert reply.ename == mistake.error, reply.error
        message = reply.error["evalue"]
    for words in mistake.says:
        assert words in message
    assert reply.result == mistake.result
    if mistake.undo:
        nb.ok(mistake.undo)
    assert nb.value("%arun asyncio.sleep(0, 'usable')") == "'usable'"


def test_a_refused_run_leaves_no_never_awaited_warning_behind(nb: Kernel) -> None:
    nb.ok("import gc\ngc.collect()")  # what earlier mistakes left is not ours
    refused = "%config ARunMagics.loop_factory = 'os.getcwd'\n%arun asyncio.sleep(0)"
    # Twice: IPython keeps the last error's traceback, and with it the first
    # refused cell's coroutine, alive until the next error replaces it.
    outputs = [nb.execute(refused), nb.execute(refused)]
    nb.ok("%config ARunMagics.loop_factory = ''")
    assert [reply.ename for reply in outputs] == ["TypeError", "TypeError"]
    later = nb.ok("import gc\ngc.collect()")
    assert "never awaited" not in "".join(r.stderr for r in [*outputs, later])

"""%arun and %%arun in an in-process IPython shell, through run_cell."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError

import arunner
from tests.paths import names_arunner_source
from tests.shell.conftest import Shell
from tests.versions import needs_assigned_shell_escapes

SETUP = """
import asyncio, contextvars, threading
var = contextvars.ContextVar("var", default="unset")
async def double(x):
    await asyncio.sleep(0)
    return 2 * x
"""


#: How a traceback names a cell: IPython 8+ by its number, IPython 7 by the
#: file of its code (numbered, and with a hash of the code).
_CELL_NAME = re.compile(r"Cell In\[\d+\]|<ipython-input-\d+-[0-9a-f]+>")

#: The file of a cell's code in a shell (not a kernel) on every IPython.
_CELL_FILE = re.compile(r"<ipython-input-\d+-[0-9a-f]+>")


def _cell_named(count: int | None, where: str, text: str) -> bool:
    """Whether ``text`` names cell ``count``, at ``where`` (IPython 8+'s
    "line N") where IPython says which line."""
    return f"Cell In[{count}], {where}" in text or f"<ipython-input-{count}-" in text


@pytest.fixture
def ready(shell: Shell) -> Shell:
    shell.ok(SETUP)
    return shell


# -- loading -------------------------------------------------------------------


def test_load_ext_registers_the_magics_and_a_lazy_runner(ready: Shell) -> None:
    shell = ready
    magics = shell.ip.magics_manager.magics
    assert "arun" in magics["line"]
    assert "arun" in magics["cell"]
    runner = arunner.get_runner()
    assert runner.engine is None  # nothing is created until the first call
    shell.ok("%arun asyncio.sleep(0)")
    assert arunner.get_runner() is runner
    assert runner.engine == "inline"  # no loop runs in this shell's thread


def test_get_runner_explains_when_the_extension_is_not_loaded(shell: Shell) -> None:
    shell.ip.run_line_magic("unload_ext", "arunner")
    try:
        with pytest.raises(RuntimeError, match="run %load_ext arunner first"):
            arunner.get_runner()
        assert "arun" not in shell.ip.magics_manager.magics["line"]
    finally:
        shell.ip.run_line_magic("load_ext", "arunner")


def test_unload_closes_the_runner_and_pending_cleanup_runs(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    ready.ok(
        "%%arun\n"
        "events = []\n"
        "async def pending():\n"
        "    try:\n"
        "        await asyncio.sleep(60)\n"
        "    finally:\n"
        "        await asyncio.sleep(0.05)\n"  # a cleanup that really waits, twice
        "        await asyncio.sleep(0.05)\n"
        "        events.append('cleanup')\n"
        "t = asyncio.create_task(pending(), name='pending-one')\n"
        "await asyncio.sleep(0)"
    )
    runner = arunner.get_runner()
    ready.ip.run_line_magic("unload_ext", "arunner")
    ready.ip.run_line_magic("load_ext", "arunner")
    assert runner.closed
    assert ready.ns["events"] == ["cleanup"]
    assert "cancelled 1 pending task(s): pending-one" in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["auto", "thread"])
def test_unload_leaves_no_thread_of_arunners_behind(shell: Shell, mode: str) -> None:
    """Closing an inline runner stops the signal watcher itself; a thread
    engine's (as in a kernel) leaves it to the unload."""
    shell.ok(f"%config ARunMagics.mode = {mode!r}")
    shell.ok("import asyncio")
    shell.ok("%arun asyncio.sleep(0)")
    shell.ok("%%arun --sync\nasyncio.run(asyncio.sleep(0))")
    assert "arunner-sigwake" in [t.name for t in threading.enumerate()]
    shell.ip.run_line_magic("unload_ext", "arunner")
    try:
        names = [t.name for t in threading.enumerate()]
        assert not [name for name in names if name.startswith("arunner-")], names
    finally:
        shell.ip.run_line_magic("load_ext", "arunner")


def test_reload_ext_leaves_no_second_loop_thread(shell: Shell) -> None:
    shell.ok("%config ARunMagics.mode = 'thread'")
    shell.ok("%arun asyncio.sleep(0)")
    shell.ip.run_line_magic("reload_ext", "arunner")
    shell.ok("%config ARunMagics.mode = 'thread'")
    shell.ok("%arun asyncio.sleep(0)")
    loops = [t for t in threading.enumerate() if t.name.startswith("arunner-loop-")]
    assert len(loops) == 1


# -- %arun ------------------------------------------------------------------------


def test_line_magic_returns_the_value_and_assigns(ready: Shell) -> None:
    assert ready.ok("%arun double(21)") == 42
    ready.ok("x = %arun double(5)")
    assert ready.ns["x"] == 10


def test_line_magic_expression_keeps_its_quoting_and_braces(ready: Shell) -> None:
    assert ready.ok("%arun asyncio.sleep(0, {'a  b': 'c   d'})") == {"a  b": "c   d"}


def test_line_magic_builds_tasks_on_the_runners_loop(ready: Shell) -> None:
    assert ready.ok("%arun asyncio.gather(double(1), double(2))") == [2, 4]


def test_line_magic_accepts_await_in_the_expression(ready: Shell) -> None:
    assert ready.ok("%arun await double(4)") == 8


def test_non_awaitable_is_a_type_error_saying_what_to_write(ready: Shell) -> None:
    error = ready.error("%arun 3 + 4")
    assert isinstance(error, TypeError)
    assert "the expression gave int 7" in str(error)
    assert "%arun fetch()" in str(error)
    assert ready.ok("%arun double(1)") == 2


def test_a_long_non_awaitable_is_shown_shortened(ready: Shell) -> None:
    error = ready.error("%arun list(range(1000))")
    assert "the expression gave list [0, 1, 2, 3, 4, 5, ...]. Write" in str(error)


def test_coroutine_function_without_call_is_explained(ready: Shell) -> None:
    error = ready.error("%arun double")
    assert isinstance(error, TypeError)
    assert "is a coroutine function, not a coroutine; call it" in str(error)


def test_empty_line_prints_usage(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shell.ok("%arun") is None
    out = capsys.readouterr().out
    assert "Usage:" in out
    assert "%%arun" in out


def test_unknown_option_is_a_usage_error(shell: Shell) -> None:
    error = shell.error("%arun --bogus fetch()")
    assert isinstance(error, UsageError)
    assert "--bogus" in str(error)


def test_help_documents_the_options(shell: Shell) -> None:
    doc = shell.ip.magics_manager.magics["line"]["arun"].__doc__
    for option in ("--timeout", "--background", "--tasks", "--cancel", "--status"):
        assert option in doc
    assert "--restart" in doc
    # --sync with what it does, as %arun? shows it (argparse wraps the lines).
    assert (
        "--sync Run the code as plain synchronous Python, as a script runs it: in "
        "this thread, with the kernel's event loop hidden, so that code calling "
        "asyncio.run(), anyio.run() or a library's own loop works unchanged."
    ) in " ".join(doc.split())


# -- %%arun ----------------------------------------------------------------------------


def test_cell_magic_top_level_await_async_for_and_async_with(ready: Shell) -> None:
    ready.ok(
        "%%arun\n"
        "import contextlib\n"
        "async def agen():\n"
        "    for i in range(3):\n"
        "        await asyncio.sleep(0)\n"
        "        yield i\n"
        "@contextlib.asynccontextmanager\n"
        "async def managed():\n"
        "    yield 'managed'\n"
        "total = 0\n"
        "async for i in agen():\n"
        "    total += i\n"
        "async with managed() as value:\n"
        "    pass\n"
        "loop_thread = __import__('threading').current_thread().name\n"
        "ran_on = asyncio.get_running_loop()\n"
        "doubled = await double(total)"
    )
    # On the runner's loop, which the inline engine runs in the shell's thread.
    assert ready.ns["ran_on"] is arunner.get_runner().get_loop()
    assert ready.ns["loop_thread"] == threading.current_thread().name
    assert ready.ns["total"] == 3
    assert ready.ns["value"] == "managed"
    assert ready.ns["doubled"] == 6


def test_cell_last_expression_is_displayed_and_stored_in_out(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = ready.run("%%arun\nx = await double(20)\nx + 2")
    assert result.result == 42
    assert ready.ns["_"] == 42
    assert ready.ns["Out"][result.execution_count] == 42
    assert "42" in capsys.readouterr().out


def test_semicolon_suppresses_the_display(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    result = ready.run("%%arun\nx = await double(50)\nx;")
    assert result.execution_count not in ready.ns["Out"]
    assert "100" not in capsys.readouterr().out


@needs_assigned_shell_escapes
def test_ipython_syntax_works_inside_the_cell(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    ready.ok(
        "%%arun\n"
        "%config ARunMagics.shutdown_timeout = 2.5\n"
        "!echo shell-escape-ran\n"
        "listing = !echo captured\n"
        "await asyncio.sleep(0)"
    )
    assert "shell-escape-ran" in capsys.readouterr().out
    assert list(ready.ns["listing"]) == ["captured"]
    assert arunner.get_runner().shutdown_timeout == 2.5


def test_context_var_set_after_await_persists_between_cells(ready: Shell) -> None:
    ready.ok("%%arun\nawait asyncio.sleep(0)\nvar.set('kept')")
    assert ready.ok("%%arun\nawait asyncio.sleep(0)\nvar.get()") == "kept"
    assert ready.ok("%arun asyncio.sleep(0, var.get())") == "kept"


def test_traceback_shows_the_cell_lines_not_arunner(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    result = ready.run("%%arun\nawait asyncio.sleep(0)\n\n1 / 0")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    out = capsys.readouterr().out
    assert _cell_named(result.execution_count, "line 4", out)
    assert "      2 await asyncio.sleep(0)" in out  # numbered as in the cell
    assert "----> 4 1 / 0" in out
    assert not names_arunner_source(out)
    assert "asyncio/base_events.py" not in out


@pytest.mark.parametrize(
    ("cell", "plain"),
    [
        # numbered as in the cell: line 3 in both
        (
            "%%arun\nawait asyncio.sleep(0)\ndef broken(:\n    pass",
            "x = 1\n\ndef broken(:\n    pass",
        ),
        ("%%arun\nx = 1\n  y = 2", "x = 1\nx = 1\n  y = 2"),  # IndentationError
        ("%arun asyncio.sleep(0 0)", "asyncio.sleep(0 0)"),
    ],
    ids=["cell", "indentation", "line"],
)
def test_syntax_error_shows_as_in_a_plain_cell(
    ready: Shell, capsys: pytest.CaptureFixture[str], cell: str, plain: str
) -> None:
    """Raised from a magic, IPython shows a SyntaxError under a "Traceback"
    of IPython's, arunner's and ast's frames; a plain cell shows only the
    line and the caret."""
    capsys.readouterr()
    expected = ready.run(plain)
    shown_for_plain = capsys.readouterr().out
    result = ready.run(cell)
    shown = capsys.readouterr().out
    assert _CELL_NAME.sub("<cell>", shown) == _CELL_NAME.sub("<cell>", shown_for_plain)
    assert _cell_named(result.execution_count, "line ", shown.lstrip().splitlines()[0])
    kind = type(expected.error_before_exec)
    assert isinstance(result.error_in_exec, kind)
    assert type(result.error_in_exec).__name__ == kind.__name__  # a kernel's ename


def test_syntax_error_in_the_cell_leaves_the_runner_usable(ready: Shell) -> None:
    error = ready.error("%%arun\nawait asyncio.sleep(0)\ndef broken(:\n    pass")
    assert isinstance(error, SyntaxError)
    assert ready.ok("%arun double(3)") == 6


@pytest.fixture
def futures(ready: Shell) -> Iterator[Shell]:
    """The shell, its compiler's __future__ flags put back after the test:
    the shell is shared by every test."""
    flags = ready.ip.compile.flags
    yield ready
    ready.ip.compile.flags = flags


@pytest.mark.parametrize(
    "importing",
    [
        "from __future__ import annotations",
        "%%arun\nfrom __future__ import annotations\nawait asyncio.sleep(0)",
    ],
    ids=["plain", "arun"],
)
def test_future_import_holds_for_later_cells_as_in_ipython(
    futures: Shell, importing: str
) -> None:
    futures.ok(importing)
    assert futures.ok("def f(x: Undefined): pass\nf.__annotations__") == {
        "x": "Undefined"
    }
    assert futures.ok("%%arun\ndef g(x: Undefined): pass\ng.__annotations__") == {
        "x": "Undefined"
    }


@pytest.mark.parametrize(
    "importing",
    [
        "from __future__ import barry_as_FLUFL",
        "%%arun\nfrom __future__ import barry_as_FLUFL\nawait asyncio.sleep(0)",
    ],
    ids=["plain", "arun"],
)
def test_future_import_that_changes_the_grammar_holds_for_expressions_too(
    futures: Shell, importing: str
) -> None:
    futures.ok(importing)
    assert futures.ok("1 <> 2") is True
    assert futures.ok("%%arun\nawait asyncio.sleep(0)\n1 <> 2") is True
    assert futures.ok("%arun asyncio.sleep(0, 1 <> 2)") is True


def test_code_after_cell_magic_name_is_refused(shell: Shell) -> None:
    error = shell.error("%%arun fetch()\nawait asyncio.sleep(0)")
    assert isinstance(error, UsageError)
    assert "move 'fetch()' into the cell body" in str(error)


# -- options ----------------------------------------------------------------------


def test_timeout_cancels_and_raises_timeout_error(ready: Shell) -> None:
    ready.ok("events = []")
    error = ready.error(
        "%%arun --timeout 0.1\n"
        "try:\n"
        "    await asyncio.sleep(30)\n"
        "finally:\n"
        "    events.append('cleanup')"
    )
    assert isinstance(error, TimeoutError)
    assert "within --timeout 0.1 s" in str(error)
    assert ready.ns["events"] == ["cleanup"]
    error = ready.error("%arun -t 0.05 asyncio.Event().wait()")
    assert isinstance(error, TimeoutError)


def test_timeout_must_be_positive(shell: Shell) -> None:
    error = shell.error("%arun --timeout 0 asyncio.sleep(0)")
    assert isinstance(error, UsageError)
    assert "positive number of seconds" in str(error)


def test_background_handle_works_from_the_notebook_and_later_cells(
    ready: Shell,
) -> None:
    ready.ok("h = %arun -b -n doubler double(21)")
    handle = ready.ns["h"]
    assert isinstance(handle, arunner.BackgroundTask)
    assert handle.name == "doubler"
    assert handle.result(timeout=10) == 42
    assert handle.done()
    assert ready.ok("%%arun\nawait h") == 42
    slow = ready.ok("%arun -b asyncio.sleep(60)")
    assert slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        slow.result(timeout=10)


@pytest.mark.parametrize(
    "options",
    [
        "-b -n 'my task'",
        '-b -n "my task"',
        "-b --name='my task'",
        '--name "my task" -b',
        r"-b -n my\ task",
        "-bn'my task'",
    ],
)
def test_option_values_are_quoted_as_in_a_shell_and_the_code_kept(
    ready: Shell, options: str
) -> None:
    handle = ready.ok(f"%arun {options} asyncio.sleep(0, \"it's  'here'\")")
    assert handle.name == "my task"
    assert handle.result(timeout=10) == "it's  'here'"


@pytest.mark.parametrize("options", ["-bn x", "-bnx", "-b -nx", "--back --nam x"])
def test_short_flags_combine_and_long_options_shorten_as_in_argparse(
    ready: Shell, options: str
) -> None:
    handle = ready.ok(f"%arun {options} asyncio.sleep(0, 'done')")
    assert handle.name == "x"
    assert handle.result(timeout=10) == "done"


@pytest.mark.parametrize("options", ["-bt 0.05 -n x", "-bt0.05 -nx"])
def test_a_flag_cluster_may_end_in_the_timeout(ready: Shell, options: str) -> None:
    handle = ready.ok(f"%arun {options} asyncio.sleep(30)")
    with pytest.raises(TimeoutError, match=r"within --timeout 0\.05 s"):
        handle.result(timeout=10)


OPTIONS_USAGE = (
    "usage: %arun [-t SECONDS] [-b] [-n NAME] [--replace] [--sync] [--tasks] "
    "[--cancel NAME|In[N]|all] [--monitor [{on,off}]] [--status] "
    "[--auto {on,sync,off}] [--restart] [EXPR]  "
    "(options first; %arun? explains each)"
)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            "%arun -b -n 'my task fetch()",
            "cannot read \"'my task fetch()\": its quote ' is never closed; write "
            "a value that has spaces in matching quotes, as in "
            "%arun -b -n 'my task' fetch()",
        ),
        ("%arun -bx fetch()", "unknown option -x in -bx"),
        ("%arun -x fetch()", "unknown option -x"),
        ("%arun -b -n", "argument -n/--name: expected one argument"),
        ("%arun --t 1 fetch()", "ambiguous option: --t could match --timeout, --tasks"),
    ],
)
def test_bad_options_are_a_usage_error_saying_what_to_write(
    shell: Shell, line: str, problem: str
) -> None:
    error = shell.error(line)
    assert isinstance(error, UsageError)
    assert str(error) == f"{problem}\n{OPTIONS_USAGE}"


def test_tasks_lists_live_tasks_as_text_and_html(ready: Shell) -> None:
    ready.ok("async def poll():\n    while True:\n        await asyncio.sleep(60)")
    ready.ok("%arun -b -n sleeper poll()")
    table = ready.ok("%arun --tasks")
    assert len(table) == 1
    text = str(table)
    header, row = text.splitlines()
    assert header.split() == [
        "name",
        "state",
        "age",
        "started",
        "in",
        "suspended",
        "at",
    ]
    started = ready.ip.execution_count - 2  # the %arun -b cell
    # The user's line, named by its cell, not asyncio's sleep or a cache file.
    assert row.split() == [
        "sleeper",
        "pending",
        *row.split()[2:4],
        f"In[{started}]",
        "poll",
        f"(In[{started - 1}],",
        "line",
        "3)",
    ]
    assert '<table class="arunner-tasks">' in table._repr_html_()
    assert '<td style="text-align:left">sleeper</td>' in table._repr_html_()


def test_cancel_by_name_all_and_unknown(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    a = ready.ok("%arun -b -n a asyncio.sleep(60)")
    b = ready.ok("%arun -b -n b asyncio.sleep(60)")
    ready.ok("%arun --cancel a")
    assert "cancelled 1 task(s): a" in capsys.readouterr().out
    error = ready.error("%arun --cancel nope")
    assert isinstance(error, UsageError)
    assert "no live task is called 'nope' (live tasks: b)" in str(error)
    ready.ok("%arun --cancel all")
    assert a.cancelled()
    assert ready.ok("%arun asyncio.sleep(0, 'usable')") == "usable"
    assert b.cancelled()
    with pytest.raises(asyncio.CancelledError):
        b.result(timeout=10)


def test_status_reports_engine_loop_thread_debug_and_tasks(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    ready.ok("%arun --status")
    assert "engine:           not started" in capsys.readouterr().out
    ready.ok("%config ARunMagics.mode = 'thread'")
    ready.ok("%arun -b asyncio.sleep(60)")
    ready.ok("%arun --status")
    out = capsys.readouterr().out
    assert "engine:           thread" in out
    assert "loop:             asyncio." in out
    assert "thread:           arunner-loop-" in out
    assert "debug:            False" in out
    assert "tasks:            1" in out


def test_restart_says_what_was_cancelled_and_starts_fresh(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    ready.ok("%arun -b -n forgotten asyncio.sleep(60)")
    before = arunner.get_runner()
    ready.ok("%arun --restart")
    assert "cancelled 1 pending task(s): forgotten" in capsys.readouterr().out
    assert before.closed
    assert ready.ok("%arun double(2)") == 4
    assert arunner.get_runner() is not before


def test_actions_refuse_code_and_each_other(shell: Shell) -> None:
    assert "takes no code" in str(shell.error("%arun --tasks fetch()"))
    assert "one of" in str(shell.error("%arun --tasks --status"))
    assert "line magic" in str(shell.error("%%arun --tasks\npass"))


# -- configuration ------------------------------------------------------------------


def test_mode_change_takes_effect_next_call_and_warns_about_cancelled_tasks(
    ready: Shell,
) -> None:
    ready.ok("%arun -b -n pending asyncio.sleep(60)")
    assert arunner.get_runner().engine == "inline"
    with pytest.warns(
        RuntimeWarning, match=r"mode changed to 'thread'.*: pending"
    ) as said:
        ready.ok("%config ARunMagics.mode = 'thread'")
    # Shown as the cell's, not as traitlets' (whose observer raises it).
    assert [_CELL_FILE.fullmatch(w.filename) is not None for w in said] == [True]
    ready.ok("%arun asyncio.sleep(0)")
    assert arunner.get_runner().engine == "thread"


def test_loop_factory_import_string(ready: Shell) -> None:
    pytest.importorskip("uvloop")
    ready.ok("%config ARunMagics.loop_factory = 'uvloop.new_event_loop'")
    running = ready.ok("%arun asyncio.sleep(0, type(asyncio.get_running_loop()))")
    assert running.__module__.startswith("uvloop")  # the loop the coroutine ran on
    assert type(arunner.get_runner().get_loop()) is running


def test_bad_loop_factory_is_refused_with_what_to_write(
    ready: Shell, caplog: pytest.LogCaptureFixture
) -> None:
    ready.ok("%config ARunMagics.loop_factory = 'uvlop.new_event_loop'")
    # %config reports a refused value through the log, which a notebook shows
    assert "cannot import 'uvlop.new_event_loop'" in caplog.text
    assert "such as 'uvloop.new_event_loop'" in caplog.text
    magics = ready.ip.magics_manager.registry["ARunMagics"]
    assert magics.loop_factory == ""
    assert ready.ok("%arun asyncio.sleep(0, 1)") == 1


def test_config_file_settings_reach_the_runner(shell: Shell) -> None:
    magics = shell.ip.magics_manager.registry["ARunMagics"]
    shell.ip.config.ARunMagics.shutdown_timeout = 1.5
    try:
        magics.update_config(shell.ip.config)
        assert shell.ok("%arun asyncio.sleep(0, 'x')") == "x"
        assert arunner.get_runner().shutdown_timeout == 1.5
    finally:
        del shell.ip.config.ARunMagics.shutdown_timeout


# -- autoawait routing --------------------------------------------------------------


def test_autoawait_routes_top_level_await_cells_to_the_runner(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    ready.ok("%config ARunMagics.mode = 'thread'")
    ready.ok("%arun --auto on")
    assert "autoawait routing on" in capsys.readouterr().out
    where = ready.ok("await asyncio.sleep(0)\nthreading.current_thread().name")
    assert where.startswith("arunner-loop-")
    ready.ok("await asyncio.sleep(0)\nvar.set('routed')")
    assert ready.ok("await asyncio.sleep(0)\nvar.get()") == "routed"
    # cells without a top-level await stay with IPython
    assert ready.ok("threading.current_thread().name") == "MainThread"
    assert ready.ok("async def f():\n    await asyncio.sleep(0)\n1") == 1
    result = ready.run("await asyncio.sleep(0)\n'shown'")
    assert ready.ns["Out"][result.execution_count] == "shown"


def test_autoawait_off_restores_ipythons_own_top_level_await(ready: Shell) -> None:
    ready.ok("%config ARunMagics.mode = 'thread'")
    ready.ok("%arun --auto on")
    ready.ok("%arun --auto off")
    magics = ready.ip.magics_manager.registry["ARunMagics"]
    assert magics._router not in ready.ip.input_transformers_cleanup
    assert ready.ok("await asyncio.sleep(0)\nthreading.current_thread().name") == (
        "MainThread"
    )


def test_autoawait_routing_decides_anew_when_a_setting_changed(ready: Shell) -> None:
    """The router keeps its last decision for the same text (ipykernel has
    each cell transformed twice), but not across a change of setting."""

    def routed_to(cell: str) -> str | None:
        found = re.search(
            r"run_cell_magic\('arun', '([^']*)'", ready.ip.transform_cell(cell)
        )
        return None if found is None else found[1]

    ready.ok("%arun --auto on")
    cell = "await asyncio.sleep(0)\n"
    assert routed_to(cell) == ""
    ready.ip.autoawait = False
    try:
        assert routed_to(cell) is None
    finally:
        ready.ip.autoawait = True
    assert routed_to(cell) == ""
    magics = ready.ip.magics_manager.registry["ARunMagics"]
    magics._router.plain_cells_sync = True  # what --auto sync sets in a kernel
    try:
        assert routed_to("x = 1\n") == "--sync"
    finally:
        magics._router.plain_cells_sync = False
    assert routed_to("x = 1\n") is None


def test_autoawait_from_configuration_and_unload(ready: Shell) -> None:
    magics = ready.ip.magics_manager.registry["ARunMagics"]
    ready.ip.config.ARunMagics.autoawait = True
    magics.update_config(ready.ip.config)
    ready.ok("%config ARunMagics.mode = 'thread'")
    assert ready.ok(
        "await asyncio.sleep(0)\nthreading.current_thread().name"
    ).startswith("arunner-loop-")
    ready.ip.run_line_magic("unload_ext", "arunner")
    try:
        assert magics._router not in ready.ip.input_transformers_cleanup
    finally:
        ready.ip.run_line_magic("load_ext", "arunner")


def test_autoawait_leaves_cell_magics_and_the_arun_body_alone(ready: Shell) -> None:
    ready.ok("%config ARunMagics.mode = 'thread'")
    ready.ok("%arun --auto on")
    # an explicit %%arun body is not routed a second time (that would re-enter)
    assert ready.ok("%%arun\nawait asyncio.sleep(0)\n'once'") == "once"
    ready.ok("%%capture captured\nprint('inside another cell magic')")
    assert "inside another cell magic" in ready.ns["captured"].stdout


@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_arun_inside_arun_says_to_await_instead(ready: Shell, mode: str) -> None:
    ready.ok(f"%config ARunMagics.mode = {mode!r}")
    error = ready.error("%%arun\nawait asyncio.sleep(0)\nx = %arun double(2)")
    assert isinstance(error, UsageError)
    assert "write 'await double(2)' there" in str(error)
    assert ready.ok("%arun double(2)") == 4


def test_help_shows_the_cell_magic_with_both_percent_signs(shell: Shell) -> None:
    parser = shell.ip.magics_manager.magics["line"]["arun"].parser
    help_text = " ".join(parser.format_help().split())
    assert "works in later %%arun cells" in help_text
    assert (
        "on: route every cell that needs top-level await to the runner, "
        "as if it began with %%arun." in help_text
    )
    assert "as if it began with %%arun --sync" in help_text


def test_cell_body_gets_the_shells_own_input_transformers(ready: Shell) -> None:
    """A plain-Python body skips IPython's transforms only when the shell has
    no others: transformers that users or extensions registered still apply."""

    def shout(lines: list[str]) -> list[str]:
        # only lines that start with it: the outer cell holds the body in a string
        return ["40 + 2\n" if line.startswith("whisper") else line for line in lines]

    ready.ip.input_transformers_post.append(shout)
    try:
        assert ready.ok("%%arun\nawait asyncio.sleep(0)\nwhisper") == 42
    finally:
        ready.ip.input_transformers_post.remove(shout)


def test_cell_body_with_leading_indent_or_blank_lines(ready: Shell) -> None:
    assert ready.ok("%%arun\n\n    x = await double(1)\n    x") == 2


def test_autoawait_routes_cells_that_mix_ipython_syntax_and_await(ready: Shell) -> None:
    """The decision is taken on the cell as IPython's transforms leave it:
    raw, a line magic makes the cell invalid Python and it would stay put."""
    ready.ok("%config ARunMagics.mode = 'thread'")
    ready.ok("%arun --auto on")
    where = ready.ok(
        "%config ARunMagics.debug = None\n"
        "await asyncio.sleep(0)\n"
        "threading.current_thread().name"
    )
    assert where.startswith("arunner-loop-")


def test_outside_a_kernel_a_waiting_cell_has_no_widget_pump(shell: Shell) -> None:
    """Widget events are a kernel's: terminal IPython's runner waits without a hook."""
    shell.ok("%config ARunMagics.mode = 'thread'")
    shell.ok("import asyncio, arunner")
    assert shell.ok("%arun asyncio.sleep(0, 'ran')") == "ran"
    assert shell.ok("arunner.get_runner().while_waiting") is None
    shell.ok("%config ARunMagics.widget_events = True")  # on, and still none
    assert shell.ok("arunner.get_runner().while_waiting") is None


# -- script parity outside a kernel ---------------------------------------------------


def test_sync_in_a_terminal_simply_runs_the_code(ready: Shell) -> None:
    """No loop runs in terminal IPython: --sync runs the code as it is."""
    assert ready.ok("%arun --sync asyncio.run(asyncio.sleep(0, 'ran'))") == "ran"
    assert ready.ok("%%arun --sync\nthreading.current_thread().name") == "MainThread"


def test_auto_sync_in_a_terminal_leaves_plain_lines_alone(
    ready: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    ready.ok("%config ARunMagics.mode = 'thread'")
    ready.ok("%arun --auto sync")
    assert "plain cells run as scripts" in capsys.readouterr().out
    magics = ready.ip.magics_manager.registry["ARunMagics"]
    assert magics.autosync
    assert magics.autoawait
    assert magics._router.plain_cells_sync is False  # no kernel: nothing to hide
    assert ready.ok("asyncio.run(asyncio.sleep(0, 'plain'))") == "plain"
    # await cells still go to the runner
    where = ready.ok("await asyncio.sleep(0)\nthreading.current_thread().name")
    assert where.startswith("arunner-loop-")
    ready.ok("%arun --auto on")
    assert not magics.autosync
    assert magics.autoawait
    ready.ok("%arun --auto off")
    assert not magics.autosync
    assert not magics.autoawait
    assert magics._router not in ready.ip.input_transformers_cleanup


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("%arun --auto maybe", "argument --auto: invalid choice: 'maybe'"),
        ("%arun -b --sync fetch()", "cannot run in the background"),
        ("%arun --sync -b fetch()", "'%arun -b asyncio.to_thread(function, args)'"),
    ],
)
def test_script_parity_misuse_says_what_to_write(
    ready: Shell, line: str, says: str
) -> None:
    error = ready.error(line)
    assert isinstance(error, UsageError)
    assert says in str(error)
    if "--auto" in line:
        assert "{on,sync,off}" in str(error)
    assert ready.ok("%arun double(2)") == 4  # the runner is fine


def test_sync_and_auto_inside_code_on_the_runner_are_refused(ready: Shell) -> None:
    ready.ok("%config ARunMagics.mode = 'thread'")
    magics = ready.ip.magics_manager.registry["ARunMagics"]
    sync = ready.error("%%arun\nawait asyncio.sleep(0)\n%arun --sync time.sleep(0)")
    assert isinstance(sync, UsageError)
    assert "would block the runner's loop" in str(sync)
    assert "await asyncio.to_thread(lambda: time.sleep(0))" in str(sync)
    auto = ready.error("%%arun\nawait asyncio.sleep(0)\n%arun --auto sync")
    assert isinstance(auto, UsageError)
    assert "Run %arun --auto sync in a cell of its own" in str(auto)
    assert not magics.autosync
    # As a cell magic's option, --auto belongs to the line magic.
    typed = ready.error("%%arun --auto sync\n1")
    assert isinstance(typed, UsageError)
    assert "belong to the line magic" in str(typed)


def test_autoawait_leaves_cells_to_ipython_under_another_runner(ready: Shell) -> None:
    """%autoawait trio: such cells await trio, which arunner's asyncio loop
    cannot run, so IPython keeps them (plain cells under --auto sync still
    route in a kernel)."""
    magics = ready.ip.magics_manager.registry["ARunMagics"]
    ready.ok("%arun --auto on")
    router = magics._router
    assert router(["await asyncio.sleep(0)\n"])[0] == "%%arun\n"
    ready.ok("%autoawait trio")
    try:
        assert router(["await asyncio.sleep(0)\n"]) == ["await asyncio.sleep(0)\n"]
        router.plain_cells_sync = True  # as --auto sync sets it in a kernel
        assert router(["await asyncio.sleep(0)\n"]) == ["await asyncio.sleep(0)\n"]
        assert router(["x = 1\n"])[0] == "%%arun --sync\n"
    finally:
        ready.ok("%autoawait asyncio")
        ready.ok("%arun --auto off")

"""The IPython extension: ``%arun``/``%%arun`` on one persistent runner per shell.

This is the only module that knows IPython.  ``ARunMagics`` owns the
shell's :class:`~arunner.Runner` (created on first use, closed on unload,
replaced when its configuration changes) and turns lines and cells into
coroutines for it.  Configure it like any IPython configurable, e.g.
``c.ARunMagics.mode = "thread"`` in a config file or
``%config ARunMagics.loop_factory = "uvloop.new_event_loop"``.
"""

from __future__ import annotations

import argparse
import bdb
import contextlib
import functools
import importlib
import inspect
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, cast

from IPython.core.async_helpers import _asyncio_runner
from IPython.core.error import UsageError
from IPython.core.inputtransformer2 import TransformerManager
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Enum, Float, TraitError, Unicode, observe, validate

from arunner._actions import (
    ActionError,
    cancel,
    left_in,
    make_room,
    monitor_off,
    monitor_on,
    restart,
    status,
    task_table,
)
from arunner._astyped import (
    AutoAwaitRouter,
    CellFiles,
)
from arunner._cell import (
    in_cell,
)
from arunner._commpump import CommPump
from arunner._contextsync import ContextSync, Exchange, own_context
from arunner._hints import hint_after
from arunner._inside import (
    refuse_changing_the_routing,
    refuse_closing,
    refuse_reconfiguring,
    refuse_waiting_on_itself,
)
from arunner._monitor import Monitor, Publish
from arunner._options import OptionError, defaults, split_options, with_usage
from arunner._origins import from_cell, origin
from arunner._routing import capture_route, hide_from_debugger, routing_variables
from arunner._script import ScriptRunner
from arunner._shellcode import CodeRefused, ShellCode
from arunner._sigwake import stop_watching
from arunner._tasks import TaskTable
from arunner.runner import DEFAULT_SHUTDOWN_TIMEOUT, MODES, Mode, Runner

__all__ = [
    "ARunMagics",
    "get_runner",
    "load_ipython_extension",
    "unload_ipython_extension",
]

_USAGE = """\
Usage:
  %arun EXPR            run the awaitable EXPR on the runner and return its value
  x = %arun fetch()     keep the result
  %%arun                run the whole cell as one coroutine (top-level await)
  %arun -b EXPR         start EXPR in the background and return a handle
  %arun --tasks         list the runner's live tasks
  %arun --monitor       the same table, kept up to date in this cell's output
  %arun --status        show the engine, loop and thread
Type %arun? for every option."""


#: IPython's own transforms, without any a shell or extension added.
_IPYTHON_TRANSFORMS = TransformerManager()

#: What ``%arun --auto`` says it did.
_AUTO_SAYS = {
    "on": "autoawait routing on: cells with top-level await run on arunner",
    "sync": (
        "autoawait routing on, and plain cells run as scripts (%%arun --sync): "
        "asyncio.run() and libraries that run their own loop work unchanged"
    ),
    "off": "autoawait routing off: IPython runs every cell itself",
}


def _import_loop_factory(spec: str) -> Callable[[], Any] | None:
    """Resolve "module.attr" or "module:attr" to a callable; "" means the default."""
    if not spec:
        return None
    module_name, sep, attribute = spec.partition(":")
    if not sep:
        module_name, _, attribute = spec.rpartition(".")
    try:
        if not module_name or not attribute:
            raise ImportError("expected 'module.function'")
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise TraitError(
            f"ARunMagics.loop_factory: cannot import {spec!r} ({exc}). Set it to "
            "the import string of a function returning a new event loop, such "
            "as 'uvloop.new_event_loop', or to '' for asyncio's default."
        ) from None
    if not callable(factory):
        raise TraitError(f"ARunMagics.loop_factory: {spec!r} is not callable")
    return factory  # type: ignore[no-any-return]


@contextlib.contextmanager
def _usage_errors() -> Iterator[None]:
    """Show a refusal (an action's, or code's) the way IPython shows misuse."""
    try:
        yield
    except (ActionError, CodeRefused) as error:
        raise UsageError(str(error)) from None


@functools.lru_cache(maxsize=64)
def _read_line(
    parser: argparse.ArgumentParser, line: str
) -> tuple[argparse.Namespace, str]:
    """The options of a magic's line, and the code after them.

    Cached: under ``--auto sync`` every plain cell is read as ``--sync``,
    which cost about 45 µs of the cell's 285 in a kernel.
    Callers copy the options before they change any.
    """
    try:
        words, code = split_options(line, parser)
    except OptionError as error:
        raise UsageError(str(error)) from None
    if not words:
        return defaults(parser), code  # the common case
    try:
        return parser.parse_args(words), code
    except UsageError as error:
        raise UsageError(with_usage(parser, str(error))) from None


def _show_live(table: TaskTable) -> Publish:
    """Display ``table`` under a display id; return what replaces it in place."""
    from IPython.display import display

    handle = display(table, display_id=True)
    return cast("Publish", handle.update)


@magics_class
class ARunMagics(Magics):
    """Runs coroutines and cells on one persistent asyncio runner per shell."""

    #: The live task monitor (--monitor), once one was started.
    _monitor: Monitor | None = None

    mode = Enum(
        (*MODES,),
        default_value="auto",
        help="""Where the runner's loop runs. 'auto': in a dedicated thread when
        the shell already runs a loop (every Jupyter kernel), else in the
        calling thread. 'thread': always a dedicated thread. 'inline': always the
        calling thread, which a kernel refuses with asyncio's 'cannot be called
        from a running event loop' error. 'nest': on the shell's own running
        loop through nest-asyncio2 (pip install 'ipython-arunner[nest]'), which
        patches asyncio globally.""",
    ).tag(config=True)

    loop_factory = Unicode(
        "",
        help="""Import string of a function that returns a new event loop, such
        as 'uvloop.new_event_loop'. Empty: asyncio.new_event_loop.""",
    ).tag(config=True)

    debug = Bool(
        None,
        allow_none=True,
        help="asyncio debug mode of the loop; None: PYTHONASYNCIODEBUG decides.",
    ).tag(config=True)

    shutdown_timeout = Float(
        DEFAULT_SHUTDOWN_TIMEOUT,
        help="""Seconds that closing the runner may take (kernel shutdown or
        restart, %unload_ext, --restart): pending tasks are cancelled and their
        cleanup runs, async generators and the executor are finished.""",
    ).tag(config=True)

    autoawait = Bool(
        False,
        help="""Run every cell that needs top-level await on the runner, as if
        it began with %%arun (also: %arun --auto on|off). Off: IPython's own
        top-level await, untouched.""",
    ).tag(config=True)

    autosync = Bool(
        False,
        help="""Run every plain cell (one without top-level await) as a
        %%arun --sync cell: in the kernel's thread with its event loop hidden,
        as a script runs, so asyncio.run() and libraries that run their own
        loop work unchanged; cells with top-level await run on the runner
        (also: %arun --auto sync|on|off).""",
    ).tag(config=True)

    widget_events = Bool(
        True,
        help="""In a kernel, handle widget and other comm messages from the
        frontend while a %%arun or %arun call waits, so that callbacks run and
        the coroutine can await them (arunner.widgets). Off: they wait until the
        cell ends, as ipykernel does for every cell.""",
    ).tag(config=True)

    def __init__(self, shell: InteractiveShell | None = None, **kwargs: Any) -> None:
        # Set before the configuration is loaded, which may fire observers.
        self._runner: Runner | None = None
        #: set while a setting goes back to its old value (see below)
        self._reverting = False
        kernel = getattr(shell, "kernel", None)
        self._comm_pump = (
            None if kernel is None else CommPump(kernel, self._settle_runner)
        )
        #: the thread the shell runs cells in ("auto" is decided for it)
        self._shell_thread = threading.get_ident()
        self._context_sync = ContextSync()
        self._router = (
            None
            if shell is None
            else AutoAwaitRouter(shell, _IPYTHON_TRANSFORMS, _asyncio_runner)
        )
        self._code = ShellCode(
            shell, self._router, _IPYTHON_TRANSFORMS, CellFiles(shell)
        )
        self._script = ScriptRunner()
        super().__init__(shell=shell, **kwargs)

    # -- the runner -------------------------------------------------------------

    @property
    def runner(self) -> Runner:
        """The shell's runner, created with the current configuration on first use."""
        if self._runner is None or self._runner.closed:
            self._runner = Runner(
                mode=self._mode_for_the_shell(),
                loop_factory=_import_loop_factory(self.loop_factory),
                debug=self.debug,
                shutdown_timeout=self.shutdown_timeout,
            )
            self._runner.while_waiting = self._while_waiting()
        return self._runner

    def _while_waiting(self) -> CommPump | None:
        return self._comm_pump if self.widget_events else None

    def _settle_runner(self, timeout: float) -> bool:
        runner = self._runner
        return runner is None or runner.settle(timeout)

    def _mode_for_the_shell(self) -> Mode:
        """The configured mode, with "auto" decided for the shell's own thread.

        "auto" looks for a running loop in the thread that first uses the
        runner.  If that is a worker thread of the user's (get_runner() in
        a thread), it would find none and pick the inline engine, which
        every later cell in a kernel, whose loop is always running, refuses.
        So does a first use from a ``--sync`` cell, which hides the kernel's
        loop: in a kernel, "auto" is always the thread engine.
        """
        if self.mode != "auto":
            return self.mode
        if getattr(self.shell, "kernel", None) is not None:
            return "thread"  # also from a --sync cell, which hides the loop
        return "auto" if threading.get_ident() == self._shell_thread else "inline"

    def close(self) -> list[str]:
        """Close the runner (pending tasks are cancelled, their cleanup runs).

        Returns the names of the tasks that were still pending.  The runner
        is forgotten only once it is closed: an interrupt before closing
        began leaves it running untouched, one during closing lets the
        cleanup finish first (then KeyboardInterrupt).
        """
        runner = self._runner
        if runner is None:
            return []
        with _usage_errors():
            refuse_closing(runner, "closing the runner")
        cancelled = runner.shut_down()
        self._runner = None
        return [] if runner.engine == "nest" else cancelled

    @validate("loop_factory")
    def _check_loop_factory(self, proposal: dict[str, Any]) -> str:
        self._refuse_reconfiguring_inside(proposal)
        _import_loop_factory(proposal["value"])
        return str(proposal["value"])

    @validate("mode", "debug")
    def _check_restarting_setting(self, proposal: dict[str, Any]) -> object:
        self._refuse_reconfiguring_inside(proposal)
        return proposal["value"]

    def _refuse_reconfiguring_inside(self, proposal: dict[str, Any]) -> None:
        """A TraitError, which %config shows on the cell's stderr (it logs
        what setting a trait raises, a UsageError too), and the setting
        keeps its value."""
        try:
            refuse_reconfiguring(
                self._runner, proposal["trait"].name, proposal["value"]
            )
        except ActionError as error:
            raise TraitError(str(error)) from None

    @validate("shutdown_timeout")
    def _check_shutdown_timeout(self, proposal: dict[str, Any]) -> float:
        if not proposal["value"] > 0:
            raise TraitError(
                "ARunMagics.shutdown_timeout must be a positive number of seconds"
            )
        return float(proposal["value"])

    def _level_of_the_users_code(self) -> int:
        """The ``stacklevel`` at which the caller's warning names the user's
        code that changed a setting (its cell), rather than traitlets, whose
        observer is the caller; 2 if no frame runs in the user's namespace
        (a configuration file)."""
        users = getattr(self.shell, "user_global_ns", None)
        frame: FrameType | None = sys._getframe(1)
        level = 1
        while frame is not None:
            if frame.f_globals is users:
                return level
            frame, level = frame.f_back, level + 1
        return 2

    @observe("mode", "loop_factory", "debug")
    def _configuration_changed(self, change: dict[str, Any]) -> None:
        """A new setting takes effect at the next call, on a fresh runner.

        If closing the old runner is interrupted (or fails) before it began,
        the runner is untouched and so is the setting: it goes back to its
        old value, so that the two agree.  Either way the user is told.
        """
        runner = self._runner
        if runner is None or self._reverting:
            return
        try:
            cancelled = self.close()
            if cancelled:
                warnings.warn(
                    f"arunner: ARunMagics.{change['name']} changed to "
                    f"{change['new']!r}; the runner was restarted and "
                    f"{len(cancelled)} pending task(s) were cancelled: "
                    f"{', '.join(cancelled)}",
                    RuntimeWarning,
                    stacklevel=self._level_of_the_users_code(),
                )
        except BaseException as error:
            name, old = change["name"], change["old"]
            if not runner.closed:
                self._reverting = True
                try:
                    self.set_trait(name, old)
                finally:
                    self._reverting = False
            print(
                left_in(
                    runner,
                    error,
                    f"the restart for ARunMagics.{name} = {change['new']!r}",
                    untouched=f", and ARunMagics.{name} is still {old!r}",
                )
            )
            raise

    @observe("autoawait", "autosync")
    def _routing_changed(self, change: dict[str, Any]) -> None:
        if self._router is not None:
            # Outside a kernel no loop runs: a plain line already runs as a script.
            in_a_kernel = getattr(self.shell, "kernel", None) is not None
            self._router.plain_cells_sync = self.autosync and in_a_kernel
            if self.autoawait or self.autosync:
                self._router.install()
            else:
                self._router.uninstall()

    @observe("widget_events")
    def _widget_events_changed(self, change: dict[str, Any]) -> None:
        if self._runner is not None:
            self._runner.while_waiting = self._while_waiting()

    @observe("shutdown_timeout")
    def _shutdown_timeout_changed(self, change: dict[str, Any]) -> None:
        if self._runner is not None:
            self._runner.shutdown_timeout = change["new"]

    # -- the magic ----------------------------------------------------------------

    @magic_arguments()
    @argument(
        "-t",
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="Cancel the coroutine after SECONDS and raise TimeoutError.",
    )
    @argument(
        "-b",
        "--background",
        action="store_true",
        help="""Start as a background task and return a handle at once: done(),
        cancel(), result(timeout) work from the notebook, and 'await handle'
        works in later %%%%arun cells.""",
    )
    @argument("-n", "--name", help="Name of the background task (with -b).")
    @argument(
        "--replace",
        action="store_true",
        help="""With -b -n NAME: cancel the live task called NAME, wait for its
        cleanup, then start this one (without it, a second live task of that
        name is refused).""",
    )
    @argument(
        "--sync",
        action="store_true",
        help="""Run the code as plain synchronous Python, as a script runs it:
        in this thread, with the kernel's event loop hidden, so that code
        calling asyncio.run(), anyio.run() or a library's own loop works
        unchanged. A stop cancels the loop that code runs (its cleanup runs),
        or interrupts it at once. %%arun --auto sync does this for every plain
        cell.""",
    )
    @argument(
        "--tasks",
        action="store_true",
        help="List the runner's live tasks: name, state, age, where each waits.",
    )
    @argument(
        "--cancel",
        metavar="NAME|In[N]|all",
        help="Cancel the task(s) called NAME, those cell In[N] started, or all.",
    )
    @argument(
        "--monitor",
        nargs="?",
        const="on",
        choices=("on", "off"),
        help="""Show the task table in this cell's output and keep it up to date
        from the runner, about once a second while anything changes, until
        --monitor off (or a restart). A notebook feature: a terminal shows the
        table once.""",
    )
    @argument(
        "--status",
        action="store_true",
        help="Show the engine, loop type, thread, debug mode and task count.",
    )
    @argument(
        "--auto",
        choices=("on", "sync", "off"),
        help="""on: route every cell that needs top-level await to the runner,
        as if it began with %%%%arun. sync: that, and run every other cell as
        if it began with %%%%arun --sync (as a script, the kernel's loop
        hidden). off: leave every cell to IPython.""",
    )
    @argument(
        "--restart",
        action="store_true",
        help="Close the runner (pending tasks are cancelled) and start a fresh one.",
    )
    @no_var_expand
    @line_cell_magic
    def arun(self, line: str = "", cell: str | None = None) -> object:
        """Run asyncio code on this shell's persistent runner.

        ``%arun EXPR`` evaluates EXPR on the runner, awaits it and returns its
        value, so ``x = %arun fetch()`` works. ``%%arun`` runs the whole cell
        as one coroutine: top-level ``await``, ``async for`` and ``async with``
        work, names land in the user namespace and the last expression is
        displayed. Every call shares one event loop and one contextvars
        context, so state set in one cell is there in the next. The stop
        button cancels the running coroutine: its cleanup runs, then
        KeyboardInterrupt; a second interrupt leaves at once.
        """
        __tracebackhide__ = True
        options, code = self._parse(line)
        if cell is not None:
            if code:
                raise UsageError(
                    f"%%arun takes only options on its first line; move {code!r} "
                    "into the cell body"
                )
            if self._action(options) is not None:
                raise UsageError(
                    "--tasks, --status, --cancel, --monitor, --auto and --restart "
                    "belong to the line magic: write them as '%arun --tasks' in a "
                    "cell of their own"
                )
            return self._run_cell(line, cell, options)
        action = self._action(options)
        if action is not None:
            if code:
                raise UsageError(f"--{action} takes no code; got {code!r}")
            return getattr(self, f"_do_{action}")(options)
        if not code:
            print(_USAGE)
            return None
        with _usage_errors():
            refuse_waiting_on_itself(self._runner, code, options.sync)
            runnable = self._code.expression(code, options.sync)
        if options.sync:
            return self._script.call(runnable, options.timeout)
        return self._run(runnable, options)

    # -- parsing -------------------------------------------------------------------

    def _parse(self, line: str) -> tuple[argparse.Namespace, str]:
        """Split leading options from the code that follows, keeping it verbatim.

        argparse would re-split the code on spaces and lose its quoting, so
        only the option words go through the parser.
        """
        read, code = _read_line(self.arun.parser, line)
        options = argparse.Namespace(**vars(read))  # the cached one stays as read
        if options.timeout is not None and not options.timeout > 0:
            raise UsageError(
                f"--timeout needs a positive number of seconds; got {options.timeout}"
            )
        if options.name is not None and not options.background:
            raise UsageError("--name names a background task: use it with -b")
        if options.sync and options.background:
            raise UsageError(
                "--sync runs the code in this cell's thread until it returns, so it "
                "cannot run in the background: for a blocking call in the "
                "background write '%arun -b asyncio.to_thread(function, args)'"
            )
        return options, code.strip()

    def _action(self, options: argparse.Namespace) -> str | None:
        """The action the options ask for, if any; before a named background
        task, make room for it (a live task of that name is refused or,
        with --replace, replaced)."""
        chosen = [
            name
            for name in ("tasks", "status", "restart", "cancel", "monitor", "auto")
            if getattr(options, name) not in (None, False)
        ]
        if len(chosen) > 1:
            raise UsageError(f"use one of --{', --'.join(chosen)} at a time")
        if chosen and (options.background or options.sync or options.timeout):
            raise UsageError(
                f"--{chosen[0]} cannot be combined with -b, --sync or --timeout"
            )
        if options.replace and options.name is None:
            raise UsageError(
                "--replace replaces a named background task: use it with -b -n NAME"
            )
        if options.name is not None:
            with _usage_errors():
                make_room(self._runner, options.name, replace=options.replace)
        return chosen[0] if chosen else None

    # -- running code ------------------------------------------------------------------

    def _run_cell(self, line: str, cell: str, options: argparse.Namespace) -> object:
        """Run a %%arun body; an error in the cell as typed shows as in a plain cell.

        Raised out of the magic, the error's traceback would start at the
        line IPython made of the cell, ``run_cell_magic('arun', ...)``,
        which nobody typed (least of all in an autoawait-routed cell).  So
        the magic shows it itself, starting at the cell's own frame, and
        records it as the cell's error, which is what ``run_code`` does
        with an error it catches; ``%tb`` and ``%debug`` find it in
        ``sys.last_traceback`` as usual.  Called any other way (from code,
        under ``%%time``), the magic raises as magics do.
        """
        __tracebackhide__ = True
        code = self._code
        sent = code.sent_cell(cell)
        with _usage_errors():
            runnable, filename = code.cell(line, cell, options.sync, sent)
        try:
            if options.sync:
                return self._script.call(runnable, options.timeout)
            return self._run(runnable, options)
        except (Exception, KeyboardInterrupt) as error:
            # BdbQuit: a debugger's quit, or an error shown already.
            if isinstance(error, bdb.BdbQuit) or not (
                sent is not None and code.shown_as_the_cell(error, filename)
            ):
                raise
            return None

    def _run(self, coroutine: Any, options: argparse.Namespace) -> object:
        __tracebackhide__ = True
        runner = self.runner
        from_the_shell = threading.get_ident() == self._shell_thread
        exchange = self._exchange() if from_the_shell else None
        main = in_cell(coroutine, self._cell_route(), options.timeout, exchange)
        try:
            if options.background:
                # The task sees the plain cells' changes; its own stay its own.
                return runner.start(main, name=options.name)
            context = None if from_the_shell else own_context(runner.context)
            return runner.run(main, context=context)
        finally:
            if exchange is not None and not options.background:
                self._context_sync.settle(exchange, runner.context)
            # Refused before it started (a broken loop_factory, a blocked
            # loop): the runner closed the wrapper; close what it wraps, or
            # "coroutine ... was never awaited" turns up in some later cell.
            if inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
                coroutine.close()

    def _exchange(self) -> Exchange:
        """The context sync's part for a call from the shell's own cells.

        Calls from other threads (the user's, a subshell's) take no part in
        it: see ``_contextsync.own_context``.
        """
        return self._context_sync.exchange(routing_variables(self.shell) | {origin})

    # -- actions -------------------------------------------------------------------

    def _cell_route(self) -> Callable[[], None]:
        """What a main task started by this cell runs first, in its context:
        the cell's number as the origin of its tasks, and its output route."""
        return from_cell(self._code.cell_number(), capture_route(self.shell))

    def _do_tasks(self, options: argparse.Namespace) -> TaskTable:
        return task_table(self._runner, self._code.files.cell_of)

    def _do_status(self, options: argparse.Namespace) -> None:
        print(status(self._runner, self.mode, self.shutdown_timeout))

    def _do_cancel(self, options: argparse.Namespace) -> None:
        with _usage_errors():
            print(cancel(self._runner, options.cancel))

    def _do_monitor(self, options: argparse.Namespace) -> None:
        if options.monitor == "off":
            print(monitor_off(self._monitor))
            self._monitor = None
            return
        in_a_kernel = getattr(self.shell, "kernel", None) is not None
        self._monitor = monitor_on(
            self._monitor,
            self.runner,
            cell=self._code.cell_number(),
            cell_of=self._code.files.cell_of,
            show=_show_live if in_a_kernel else None,
            route=self._cell_route(),
        )

    def _do_auto(self, options: argparse.Namespace) -> None:
        with _usage_errors():
            refuse_changing_the_routing(self._runner, options.auto)
        self.autosync = options.auto == "sync"
        self.autoawait = options.auto != "off"
        print(_AUTO_SAYS[options.auto])

    def _hint_after_cell(self, result: Any) -> None:
        """After a cell that failed for want of a loop, or for a loop too many,
        say what to write instead.  It only adds a line after IPython's
        traceback, so another extension's exception handler keeps working."""
        hint = hint_after(
            getattr(result, "error_in_exec", None),
            getattr(getattr(result, "info", None), "raw_cell", "") or "",
            self._script.last_failure,
        )
        if hint is not None:
            print(hint, file=sys.stderr)

    def _do_restart(self, options: argparse.Namespace) -> None:
        runner = self._runner
        with _usage_errors():
            refuse_closing(runner, "%arun --restart")
        restart(runner, self.close)


# -- the extension -----------------------------------------------------------------


def _magics(shell: InteractiveShell) -> ARunMagics | None:
    magics = shell.magics_manager.registry.get(ARunMagics.__name__)
    return magics if isinstance(magics, ARunMagics) else None


def load_ipython_extension(shell: InteractiveShell) -> None:
    if _magics(shell) is None:
        magics = ARunMagics(shell=shell)
        shell.register_magics(magics)
        shell.events.register("post_run_cell", magics._hint_after_cell)
        shell.events.register("post_run_cell", magics._code.mark_failed)
        shell.events.register("pre_run_cell", magics._code.files.note)
        hide_from_debugger(shell)


def unload_ipython_extension(shell: InteractiveShell) -> None:
    """Close the runner, then take arunner out of the shell.

    Interrupted before the close finished, arunner stays loaded (IPython,
    which sees the unload fail, thinks so too) with its runner untouched or
    closed; interrupted after it, the unload still finishes.  Either way the
    user is told which.
    """
    magics = _magics(shell)
    if magics is None:
        return
    runner = magics._runner
    with _usage_errors():
        refuse_closing(runner, "%unload_ext arunner")
    closed = False
    try:
        cancelled = magics.close()
        closed = True
        _unregister(shell, magics)
    except BaseException as error:
        if closed:
            _unregister(shell, magics)  # each step may be done again
            print(
                "interrupted during %unload_ext arunner: the old runner is closed "
                "and arunner is unloaded, but IPython, which saw the interrupt, "
                "still lists it as loaded: load it again with %reload_ext arunner"
            )
        else:
            # Nothing is unregistered yet: arunner stays loaded, as IPython,
            # which sees the unload fail, also thinks.
            print(
                left_in(
                    runner,
                    error,
                    "%unload_ext arunner",
                    untouched=" and arunner stays loaded",
                    closed=(
                        "arunner stays loaded, a fresh runner starts at the next "
                        "call; run %unload_ext arunner again to unload it"
                    ),
                )
            )
        raise
    if cancelled:
        names = ", ".join(cancelled)
        print(f"arunner: cancelled {len(cancelled)} pending task(s): {names}")


def _unregister(shell: InteractiveShell, magics: ARunMagics) -> None:
    """Undo what loading did; each step does nothing if already done."""
    for event, hook in [
        ("post_run_cell", magics._hint_after_cell),
        ("post_run_cell", magics._code.mark_failed),
        ("pre_run_cell", magics._code.files.note),
    ]:
        with contextlib.suppress(ValueError):  # not registered
            shell.events.unregister(event, hook)
    magics.autoawait = magics.autosync = False
    manager = shell.magics_manager
    manager.registry.pop(ARunMagics.__name__, None)
    for kind in ("line", "cell"):
        manager.magics[kind].pop("arun", None)
    configurables = cast("list[object]", shell.configurables)  # mistyped upstream
    if magics in configurables:
        configurables.remove(magics)
    stop_watching()  # --sync's signal watcher: no thread of arunner's stays


def get_runner() -> Runner:
    """Return the runner behind ``%arun`` in the current IPython shell."""
    from IPython.core.getipython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError(
            "arunner.get_runner() needs a running IPython shell; elsewhere, "
            "create your own arunner.Runner()"
        )
    magics = _magics(shell)
    if magics is None:
        raise RuntimeError(
            "arunner is not loaded in this shell: run %load_ext arunner first"
        )
    return magics.runner

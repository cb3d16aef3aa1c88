"""Script parity (``arunner._script``): synchronous code runs as in a script,
in the calling thread, with the caller's running loop hidden for the call.

Each test calls ``ScriptRunner.call`` from inside a running loop (as a
kernel cell does) in pytest's main thread, and stops the code with a real
SIGINT once it has proved that it started, so the handler under test is the
one a kernel's stop reaches.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from arunner import _sigwake
from arunner._script import LOOP_GRACE, ScriptRunner
from arunner._sigwake import POKE, stop_watching
from tests.faults import Injector, describe


def in_a_running_loop(function: Callable[[], Any]) -> Any:
    """Call ``function`` from a task of a running loop, as a kernel runs a cell.

    As in a kernel's cell, SIGINT's handler stays Python's default (which
    ``asyncio.run`` would replace).
    """

    async def cell() -> Any:
        return function()

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(cell())
    finally:
        loop.close()


def stop() -> None:
    """Press stop: SIGINT to this process, handled by the main thread."""
    os.kill(os.getpid(), signal.SIGINT)


def stop_soon(after: float = 0.05) -> threading.Timer:
    """Press stop from another thread, while this one blocks."""
    timer = threading.Timer(after, stop)
    timer.start()
    return timer


async def step(log: list[str], seconds: float = 30) -> str:
    log.append("in the loop")
    pressed = stop_soon()  # the coroutine has started: press stop as it waits
    try:
        await asyncio.sleep(seconds)
        log.append("resumed")
    finally:
        pressed.join()
        log.append("cleanup")
    return "done"


# -- the hidden loop -----------------------------------------------------------------


def test_asyncio_run_works_inside_a_running_loop_which_is_back_afterwards() -> None:
    script = ScriptRunner()

    value = in_a_running_loop(
        lambda: script.call(lambda: asyncio.run(asyncio.sleep(0, "from a script")))
    )
    assert value == "from a script"

    def after() -> tuple[bool, bool]:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        script.call(lambda: None)
        return asyncio.get_running_loop() is loop, asyncio.current_task() is task

    assert in_a_running_loop(after) == (True, True)


def test_the_code_sees_no_running_loop_and_no_current_task() -> None:
    script = ScriptRunner()

    def look() -> tuple[object, object]:
        with pytest.raises(RuntimeError, match="no running event loop"):
            asyncio.get_running_loop()
        return asyncio.events._get_running_loop(), asyncio.tasks.current_task

    loop, _ = in_a_running_loop(lambda: script.call(look))
    assert loop is None


@pytest.mark.parametrize("how", ["raises", "interrupted"])
def test_the_callers_loop_and_task_are_restored_however_the_call_ends(
    how: str,
) -> None:
    script = ScriptRunner()

    def failing() -> None:
        if how == "raises":
            raise ValueError("the user's error")
        stop()
        time.sleep(30)

    def cell() -> tuple[bool, bool, type[BaseException]]:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        with pytest.raises((ValueError, KeyboardInterrupt)) as raised:
            script.call(failing)
        return (
            asyncio.get_running_loop() is loop,
            asyncio.current_task() is task,
            raised.type,
        )

    same_loop, same_task, raised = in_a_running_loop(cell)
    assert (same_loop, same_task) == (True, True)
    assert raised is (ValueError if how == "raises" else KeyboardInterrupt)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_loop_state_the_code_leaves_is_where_the_next_call_starts() -> None:
    """Playwright's sync API keeps its loop marked as running between calls."""
    script = ScriptRunner()
    own = asyncio.new_event_loop()
    try:

        def cell() -> tuple[bool, bool, bool]:
            kernel = asyncio.get_running_loop()
            script.call(lambda: asyncio.events._set_running_loop(own))
            back_to_the_kernel = asyncio.get_running_loop() is kernel
            seen_next_time = script.call(lambda: asyncio.get_running_loop() is own)
            # As in a script, asyncio.run() then refuses to run.
            refused = script.call(_asyncio_run_refused)
            script.call(lambda: asyncio.events._set_running_loop(None))
            return back_to_the_kernel, seen_next_time, refused

        assert in_a_running_loop(cell) == (True, True, True)
    finally:
        own.close()


def _asyncio_run_refused() -> bool:
    coroutine = asyncio.sleep(0)
    try:
        asyncio.run(coroutine)
    except RuntimeError as error:
        coroutine.close()
        return "running event loop" in str(error)
    return False


def test_the_code_runs_in_the_callers_thread() -> None:
    script = ScriptRunner()
    assert in_a_running_loop(lambda: script.call(threading.get_ident)) == (
        threading.get_ident()
    )


# -- a stop --------------------------------------------------------------------------


@pytest.mark.parametrize("runs", ["asyncio.run", "asyncio.Runner", "private loop"])
def test_a_stop_cancels_the_loop_the_code_runs_here(runs: str) -> None:
    script = ScriptRunner()
    log: list[str] = []

    def library() -> str:
        if runs == "asyncio.run":
            return asyncio.run(step(log))
        if runs == "asyncio.Runner":
            with asyncio.Runner() as runner:
                return runner.run(step(log))
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(step(log))
        finally:
            loop.close()

    def cell() -> None:
        library()
        log.append("after the call")

    with pytest.raises(KeyboardInterrupt) as raised:
        in_a_running_loop(lambda: script.call(cell))
    assert log == ["in the loop", "cleanup"]
    # Shown from the cell's call down to the await the task was at.
    lines = [entry.name for entry in _entries(raised.value)]
    assert lines.index("cell") < lines.index("library") < lines.index("step")
    assert not _arunners_shown(raised.value)


def _entries(error: BaseException) -> list[Any]:
    return list(traceback.extract_tb(error.__traceback__))


def _arunners_shown(error: BaseException) -> list[str]:
    """arunner's frames in the traceback that IPython would show (it hides
    those with ``__tracebackhide__``)."""
    shown = []
    tb = error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if "/arunner/_" in frame.f_code.co_filename and not frame.f_locals.get(
            "__tracebackhide__"
        ):
            shown.append(f"{frame.f_code.co_name} ({frame.f_code.co_filename})")
        tb = tb.tb_next
    return shown


def test_a_cancellation_the_code_swallows_goes_on_as_in_a_script() -> None:
    """asyncio.Runner returns what a main task that swallowed the
    cancellation returned, and the script goes on: so does the call."""
    script = ScriptRunner()
    log: list[str] = []

    async def stubborn() -> str:
        try:
            await step(log)
        except asyncio.CancelledError:
            log.append("swallowed")
        return "finished anyway"

    def cell() -> str:
        value = asyncio.run(stubborn())
        log.append("after the call")
        return value

    assert in_a_running_loop(lambda: script.call(cell)) == "finished anyway"
    assert log == ["in the loop", "cleanup", "swallowed", "after the call"]


def test_code_that_handles_the_keyboard_interrupt_goes_on_as_in_a_script() -> None:
    """pdb, and ``except KeyboardInterrupt:`` around a long step: the stop is
    theirs to handle, and the cell does not fail (nor abort the next ones)."""
    script = ScriptRunner()

    def cell() -> str:
        timer = stop_soon()
        try:
            time.sleep(30)
        except KeyboardInterrupt:
            return "stopped early"
        finally:
            timer.join()
        return "slept"

    assert in_a_running_loop(lambda: script.call(cell)) == "stopped early"


@pytest.mark.parametrize(
    "blocking",
    [
        lambda: time.sleep(30),
        lambda: threading.Event().wait(30),
        lambda: concurrent.futures.Future().result(30),
    ],
    ids=["time.sleep", "Event.wait", "Future.result"],
)
def test_a_stop_interrupts_a_blocking_call_at_once(
    blocking: Callable[[], object],
) -> None:
    script = ScriptRunner()
    log: list[str] = []

    def cell() -> None:
        timer = stop_soon()
        try:
            blocking()
            log.append("resumed")
        finally:
            timer.join()
            log.append("cleanup")

    with pytest.raises(KeyboardInterrupt) as raised:
        in_a_running_loop(lambda: script.call(cell))
    assert log == ["cleanup"]
    assert not _arunners_shown(raised.value)


def press_stop_in_another_thread(after: float = 0.05) -> threading.Thread:
    """Press stop as the OS may deliver it: to a thread other than the main
    one (a kernel has a dozen that do not block SIGINT), where only CPython's
    C handler runs, leaving a main thread blocked in C asleep."""

    def press() -> None:
        time.sleep(after)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    thread = threading.Thread(target=press, name="takes the stop")
    thread.start()
    return thread


@pytest.mark.parametrize("watcher", ["as left", "stopped before"])
@pytest.mark.parametrize("blocks_in", ["a private loop", "time.sleep"])
def test_a_stop_that_another_thread_takes_still_reaches_the_call_at_once(
    blocks_in: str, watcher: str
) -> None:
    if watcher == "stopped before":  # as after %unload_ext: the call restarts it
        stop_watching()
    script = ScriptRunner()
    log: list[str] = []

    async def waits() -> None:
        try:
            log.append("in the loop")
            await asyncio.sleep(30)
            log.append("resumed")
        finally:
            log.append("library cleanup")

    def cell() -> None:
        pressed = press_stop_in_another_thread()
        try:
            if blocks_in == "time.sleep":
                time.sleep(30)
            else:
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(waits())
                finally:
                    loop.close()
            log.append("resumed")
        finally:
            pressed.join()
            log.append("cleanup")

    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        in_a_running_loop(lambda: script.call(cell))
    assert time.monotonic() - began < 5  # not the 30 s the call would wait
    if blocks_in == "time.sleep":
        assert log == ["cleanup"]
    else:  # the loop's task was cancelled, and its cleanup ran first
        assert log == ["in the loop", "library cleanup", "cleanup"]


def stop_a_sleep(script: ScriptRunner) -> None:
    """A call blocked in time.sleep, stopped: it ends in KeyboardInterrupt."""

    def cell() -> None:
        timer = stop_soon()
        try:
            time.sleep(30)
        finally:
            timer.join()

    with pytest.raises(KeyboardInterrupt):
        in_a_running_loop(lambda: script.call(cell))


def test_the_wakeup_fd_set_before_the_call_gets_its_signals_and_is_back_after() -> None:
    """An asyncio loop that handles signals itself dispatches them by the
    bytes written to its wakeup fd: a call in between must not eat them."""
    script = ScriptRunner()
    listen, ring = socket.socketpair()
    listen.setblocking(False)
    ring.setblocking(False)
    before = signal.set_wakeup_fd(ring.fileno())
    try:
        stop_a_sleep(script)
        assert signal.set_wakeup_fd(ring.fileno()) == ring.fileno()
        deadline = time.monotonic() + 5
        received = b""
        while signal.SIGINT not in received and time.monotonic() < deadline:
            with contextlib.suppress(BlockingIOError):
                received += listen.recv(64)
            time.sleep(0.01)
        assert signal.SIGINT in received
        assert signal.getsignal(POKE) is signal.SIG_DFL
    finally:
        signal.set_wakeup_fd(before)
        listen.close()
        ring.close()


def test_a_wakeup_fd_left_at_the_watchers_pipe_is_not_passed_on_to_itself() -> None:
    """A second stop between the two steps that end a call can leave the
    wakeup fd at the watcher's own pipe.  The next call must not pass what
    arrives on to that pipe (a byte would go round for good), nor keep it."""
    script = ScriptRunner()
    stop_a_sleep(script)  # the watcher is made
    assert _sigwake._current is not None
    own = _sigwake._current.fileno
    before = signal.set_wakeup_fd(own, warn_on_full_buffer=False)
    try:
        stop_a_sleep(script)
        assert signal.set_wakeup_fd(-1) == -1
    finally:
        signal.set_wakeup_fd(before)


def test_without_a_file_descriptor_to_spare_a_call_still_runs_and_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the watcher cannot be made (too many open files), the call runs
    and a stop that the main thread takes works as before."""

    def no_fds_left(poke: object) -> object:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr("arunner._sigwake._watcher", no_fds_left)
    script = ScriptRunner()
    assert in_a_running_loop(lambda: script.call(lambda: 42)) == 42
    stop_a_sleep(script)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _loop_in_a_new_thread(coroutine: Any) -> Any:
    """As asgiref's async_to_sync: asyncio.run in an executor thread made for
    the call, this thread waiting on its future."""
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return executor.submit(asyncio.run, coroutine).result()
    finally:
        executor.shutdown(wait=False)


@pytest.mark.parametrize("before", ["no other thread", "a thread that ends first"])
def test_a_stop_cancels_a_loop_a_thread_started_for_the_call_and_waits_for_it(
    before: str,
) -> None:
    """Also when the loop's thread reuses the ident of one that ran before the
    call: the system hands a finished thread's ident to the next new one."""
    script = ScriptRunner()
    log: list[str] = []
    started = threading.Event()
    ending = threading.Event()
    earlier = threading.Thread(target=ending.wait)
    if before == "a thread that ends first":
        earlier.start()

    async def in_the_thread() -> None:
        log.append("in the loop")
        started.set()
        try:
            await asyncio.sleep(30)
            log.append("resumed")
        finally:
            await asyncio.sleep(0.2)  # cleanup that takes a while
            log.append("cleanup")

    def cell() -> None:
        def stop_once_started() -> None:
            started.wait(10)
            stop()

        threading.Thread(target=stop_once_started).start()
        if earlier.is_alive():
            ending.set()
            earlier.join()
        _loop_in_a_new_thread(in_the_thread())
        log.append("after the call")

    with pytest.raises(KeyboardInterrupt):
        in_a_running_loop(lambda: script.call(cell))
    # Its cleanup ran before the KeyboardInterrupt reached the caller.
    assert log == ["in the loop", "cleanup"]


def test_a_loop_elsewhere_that_outlives_the_grace_is_named_in_a_warning() -> None:
    script = ScriptRunner()
    started, release = threading.Event(), threading.Event()

    async def stubborn() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        finally:
            release.wait(30)  # a cleanup that blocks the loop

    def cell() -> None:
        threading.Thread(target=lambda: (started.wait(10), stop())).start()
        _loop_in_a_new_thread(stubborn())

    began = time.monotonic()
    try:
        with (
            pytest.warns(RuntimeWarning, match="is still running at stubborn") as seen,
            pytest.raises(KeyboardInterrupt),
        ):
            in_a_running_loop(lambda: script.call(cell))
        waited = time.monotonic() - began
    finally:
        release.set()
    assert len(seen) == 1
    assert "after 1 s" in str(seen[0].message)
    assert waited < LOOP_GRACE + 5  # bounded, not the 30 s the loop would take


def test_a_second_stop_leaves_at_once() -> None:
    script = ScriptRunner()
    log: list[str] = []

    async def ignores_the_first() -> None:
        log.append("in the loop")
        stop()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            log.append("first stop")
            stop()  # the second
            await asyncio.sleep(30)
            log.append("resumed")

    with pytest.raises(KeyboardInterrupt):
        in_a_running_loop(lambda: script.call(lambda: asyncio.run(ignores_the_first())))
    assert log == ["in the loop", "first stop"]


@pytest.mark.parametrize("where", ["asyncio.run", "time.sleep"])
def test_the_timeout_stops_as_a_first_stop_would_and_says_so(where: str) -> None:
    script = ScriptRunner()
    log: list[str] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            log.append("cleanup")

    def cell() -> None:
        if where == "asyncio.run":
            asyncio.run(slow())
        else:
            try:
                time.sleep(30)
            finally:
                log.append("cleanup")
        log.append("resumed")

    with pytest.raises(TimeoutError, match=r"within --timeout 0\.2 s"):
        in_a_running_loop(lambda: script.call(cell, timeout=0.2))
    assert log == ["cleanup"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_call_that_ends_before_its_timeout_is_not_stopped_later() -> None:
    script = ScriptRunner()
    assert in_a_running_loop(lambda: script.call(lambda: "quick", timeout=0.1)) == (
        "quick"
    )
    time.sleep(0.3)  # past the deadline: nothing arrives


def test_another_handler_is_left_alone() -> None:
    """As asyncio.Runner: only Python's default SIGINT handler is replaced."""
    seen: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        script = ScriptRunner()

        def cell() -> object:
            return signal.getsignal(signal.SIGINT)

        handler = in_a_running_loop(lambda: script.call(cell))
        assert handler is signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_last_failure_is_kept_for_the_hint_and_cleared_by_the_next_call() -> None:
    script = ScriptRunner()

    def needs_the_kernels_loop() -> None:
        asyncio.get_running_loop()

    with pytest.raises(RuntimeError) as raised:
        in_a_running_loop(lambda: script.call(needs_the_kernels_loop))
    assert script.last_failure is raised.value
    in_a_running_loop(lambda: script.call(lambda: None))
    assert script.last_failure is None


# -- a stop at every step ------------------------------------------------------------


@pytest.mark.parametrize("ends", ["returns", "raises"])
def test_a_stop_at_every_step_of_a_call_leaves_the_loop_state_whole(ends: str) -> None:
    """Whatever line of arunner's a stop lands on, the caller gets its loop and
    task back, the script side keeps nothing, the handler is Python's
    default again, and the caller's own loop is never taken for the code's:
    the call either ran or ended in KeyboardInterrupt (or the code's error)."""
    script = ScriptRunner()

    def library() -> None:
        asyncio.run(asyncio.sleep(0))
        if ends == "raises":
            raise ValueError("the code's own error")

    def cell(injector: Injector) -> tuple[bool, bool, str]:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        injector.armed = True
        try:
            script.call(library)
            ended = "ran"
        except KeyboardInterrupt:
            ended = "stopped"
        except ValueError:
            ended = "raised"
        finally:
            injector.armed = False
        return (
            asyncio.get_running_loop() is loop,
            asyncio.current_task() is task,
            ended,
        )

    # The signal watcher's thread, started by the first call, runs only when
    # a signal arrives: started before the tracing, it is not traced, and
    # every run takes the same steps in this thread.
    in_a_running_loop(lambda: script.call(lambda: None))
    with Injector() as dry:
        in_a_running_loop(lambda: cell(dry))
    assert any("_loopstate.py" in filename for filename, _ in dry.steps)
    assert any("_sigwake.py" in filename for filename, _ in dry.steps)
    for step in dry.steps:
        with Injector(step) as injector:
            try:
                same_loop, same_task, ended = in_a_running_loop(lambda: cell(injector))
            except RuntimeError as error:
                raise AssertionError(f"{describe(step)}: {error}") from error
        where = describe(step)
        assert injector.fired, where
        assert (same_loop, same_task) == (True, True), where
        assert ended in {"ran" if ends == "returns" else "raised", "stopped"}, where
        side = script._script_side  # what asyncio.run() left: nothing running
        assert (side.loop, side.task, side.current_loop) == (None, None, None), where
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, where
        assert signal.getsignal(POKE) is signal.SIG_DFL, where
        assert signal.set_wakeup_fd(-1) == -1, where  # as it was before the call


def test_a_python_without_the_private_names_gets_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A future Python that drops asyncio's private loop state: --sync says
    what it lacks and what to do, before it swaps anything."""
    monkeypatch.setattr(
        "arunner._loopstate._MISSING", ["asyncio.events._set_running_loop"]
    )
    script = ScriptRunner()

    def cell() -> tuple[str, bool]:
        loop = asyncio.get_running_loop()
        with pytest.raises(RuntimeError) as raised:
            script.call(lambda: None)
        return str(raised.value), asyncio.get_running_loop() is loop

    said, kept = in_a_running_loop(cell)
    assert "needs asyncio.events._set_running_loop" in said
    assert "Run the code in a %%arun cell instead" in said
    assert kept


# -- the policy's current loop -------------------------------------------------------


def _current_loop_or_none() -> asyncio.AbstractEventLoop | None:
    """``asyncio.get_event_loop()`` as script code calls it: a loop, made for
    it where none is set (before 3.14, with a DeprecationWarning), or none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return asyncio.get_event_loop()
        except RuntimeError:  # 3.14+: "There is no current event loop"
            return None


def test_script_code_never_gets_the_callers_loop_from_get_event_loop() -> None:
    """gql, and older code, call get_event_loop() and check it is not running."""
    script = ScriptRunner()

    def cell() -> tuple[bool, bool, bool]:
        caller = asyncio.get_running_loop()
        asyncio.set_event_loop(caller)  # as a kernel's loop is the current one
        seen = script.call(_current_loop_or_none)
        own = asyncio.new_event_loop()
        script.call(lambda: asyncio.set_event_loop(own))
        kept = script.call(asyncio.get_event_loop) is own
        back = asyncio.get_event_loop() is caller
        script.call(lambda: asyncio.set_event_loop(None))
        own.close()
        if seen is not None:
            seen.close()
        return seen is not caller, kept, back

    assert in_a_running_loop(cell) == (True, True, True)


def test_tasks_left_on_a_loop_that_nothing_runs_are_named_in_a_warning() -> None:
    script = ScriptRunner()

    async def job() -> None:
        pass

    def cell() -> None:
        own = asyncio.new_event_loop()
        script.call(lambda: asyncio.set_event_loop(own))  # as gql does
        try:
            with pytest.warns(RuntimeWarning, match="they will not run") as seen:
                script.call(lambda: asyncio.ensure_future(job()))
            assert "%arun -b coro()" in str(seen[0].message)
            quiet = script.call(lambda: 1)  # the same task is not news twice
            assert quiet == 1
        finally:
            tasks = asyncio.all_tasks(own)
            script.call(lambda: own.run_until_complete(asyncio.wait(tasks)))
            script.call(lambda: asyncio.set_event_loop(None))
            own.close()

    in_a_running_loop(cell)


# -- what a stop ends in -------------------------------------------------------------


def test_a_stop_the_library_turns_into_its_own_error_ends_in_keyboard_interrupt() -> (
    None
):
    script = ScriptRunner()
    log: list[str] = []

    async def library_call() -> None:
        try:
            await step(log)
        except asyncio.CancelledError:
            raise ConnectionError("connection closed") from None

    with pytest.raises(KeyboardInterrupt) as raised:
        in_a_running_loop(lambda: script.call(lambda: asyncio.run(library_call())))
    assert isinstance(raised.value.__context__, ConnectionError)  # shown above it
    assert log == ["in the loop", "cleanup"]


def test_a_stop_reaches_code_in_a_greenlet_at_once() -> None:
    """Playwright's sync API waits in a greenlet of its own, whose frames do
    not lead back to the call: a stop there still acts."""
    greenlet = pytest.importorskip("greenlet")
    script = ScriptRunner()
    log: list[str] = []

    def in_the_greenlet() -> None:
        stop_soon()
        time.sleep(3)
        log.append("resumed")

    def cell() -> None:
        greenlet.greenlet(in_the_greenlet).switch()
        log.append("after the greenlet")

    with pytest.raises(KeyboardInterrupt):
        in_a_running_loop(lambda: script.call(cell))
    assert log == []


def test_each_thread_keeps_its_own_script_side() -> None:
    """A loop that script code leaves marked as running in one thread (the
    shell's) is not what a call in another thread (a subshell's) starts with."""
    script = ScriptRunner()
    own = asyncio.new_event_loop()
    try:
        in_a_running_loop(
            lambda: script.call(lambda: asyncio.events._set_running_loop(own))
        )
        seen: list[object] = []
        elsewhere = threading.Thread(
            target=lambda: seen.append(script.call(asyncio.events._get_running_loop))
        )
        elsewhere.start()
        elsewhere.join(10)
        assert seen == [None]
        assert (
            in_a_running_loop(lambda: script.call(asyncio.events._get_running_loop))
            is own
        )
    finally:
        in_a_running_loop(
            lambda: script.call(lambda: asyncio.events._set_running_loop(None))
        )
        own.close()

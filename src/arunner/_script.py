"""Script parity: synchronous code runs in a cell as under ``python script.py``.

``%%arun --sync``, ``%arun --sync EXPR`` and, with ``%arun --auto sync``,
every plain cell run their code here: in the thread that runs the cell (a
kernel's main thread), with the kernel's running loop and current task
hidden for exactly the call (:mod:`arunner._loopstate`).  So
``asyncio.run()``, ``anyio.run()``, asgiref's ``async_to_sync``,
Playwright's sync API and gql find no running loop, as in a script, and no
patching is needed.  Every call runs in the same thread, so an object bound
to the thread that made it still works in the next cell; and the loop
state the code leaves behind (Playwright's sync API keeps its loop marked
as running between calls, in a script too) is what the next call starts
with, kept apart from the kernel's.

A stop (SIGINT) during the call is handled as ``asyncio.Runner`` handles
Ctrl-C, and a little better:

* the first stop cancels the main task of the innermost event loop the code
  runs in this thread (``asyncio.run``, ``asyncio.Runner``, a library's own
  ``run_until_complete``): its cleanup runs, then ``KeyboardInterrupt``;
* with no such loop, ``KeyboardInterrupt`` is raised at once, so plain
  Python and blocking calls (``time.sleep``, ``Event.wait``,
  ``Future.result``) stop at once.  Event loops that threads started during
  the call are running (asgiref runs one in an executor thread) have their
  main tasks cancelled first, and their cleanup gets up to
  :data:`LOOP_GRACE` seconds before the ``KeyboardInterrupt`` shows; a loop
  still running then is named in a warning;
* a second stop raises ``KeyboardInterrupt`` at once, wherever the code is.

``--timeout`` acts as a first stop at its deadline, and the call then ends
in ``TimeoutError``.  The handler is installed only where asyncio.Runner
would install its own: in the main thread, over Python's default handler;
with it, a stop that the OS hands to another thread wakes the main thread
too (:mod:`arunner._sigwake`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sysconfig
import threading
import time
import warnings
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, TypeVar

from arunner._loopstate import LoopState, check_supported, exchange
from arunner._sigwake import waking_the_main_thread
from arunner._traceback import (
    frames_of_threads,
    is_plumbing,
    spliced,
    without_arunner_frames,
    without_plumbing,
)

__all__ = ["LOOP_GRACE", "ScriptRunner"]

T = TypeVar("T")

#: Seconds a loop in another thread gets to finish its cleanup after a stop.
LOOP_GRACE = 1.0

#: A thread's script side before its first call: as a new script's main thread.
_FRESH = LoopState()

#: Where the standard library lives (its site-packages aside).
_STDLIB = os.path.join(sysconfig.get_paths()["stdlib"], "")


class ScriptRunner:
    """Runs synchronous calls for one shell, keeping the script side's loop state."""

    def __init__(self) -> None:
        #: Per thread (the shell's, a subshell's), the loop state its last
        #: call left: the script's side of that thread.
        self._sides = threading.local()
        #: What the last call raised, if it failed (for the hint after a cell).
        self.last_failure: BaseException | None = None

    @property
    def _script_side(self) -> LoopState:
        side: LoopState = getattr(self._sides, "state", _FRESH)
        return side

    @_script_side.setter
    def _script_side(self, state: LoopState) -> None:
        self._sides.state = state

    def call(self, function: Callable[[], T], timeout: float | None = None) -> T:
        """Call ``function`` here, as a script would, with the kernel's loop hidden.

        The handler is in place before the loop state is swapped and until it
        is swapped back; a stop that lands in that bookkeeping rather than in
        the code is held until it is done (:func:`_acts_in`), so a stop
        can never leave the kernel's loop hidden.
        """
        __tracebackhide__ = True
        check_supported()
        self.last_failure = None
        ending: BaseException | None = None
        waiting_before = _waiting_on(self._script_side.current_loop)
        with _Stop(timeout) as stop:
            kernel_side = exchange(self._script_side)
            try:
                outcome = stop.run(function)
            except BaseException as error:  # noqa: BLE001 - raised again, as it ends
                ending = self.last_failure = stop.ending(error)
            finally:
                self._script_side = exchange(kernel_side)
        _warn_of_tasks_nothing_runs(self._script_side.current_loop, waiting_before)
        if ending is None and stop.held:
            ending = stop.ending(KeyboardInterrupt())  # it came as the call ended
        if ending is not None:
            # Raised outside the handler: a KeyboardInterrupt that a stop made
            # of a cancellation is not "during handling of" that cancellation.
            raise ending
        return outcome


class _Stop:
    """The interrupts and the deadline of one call, and how the call ends."""

    def __init__(self, timeout: float | None) -> None:
        self.count = 0
        #: whether a stop (or the deadline) cancelled the main task of a loop
        self.cancelled_a_loop = False
        #: stops that landed in the bookkeeping around the code
        self.held = 0
        self.timed_out_after: float | None = None
        self._timeout = timeout
        self._thread = threading.get_ident()
        #: the threads, not their idents: a new thread gets a finished one's
        self._threads_before = set(threading.enumerate())
        #: loops in other threads cancelled by the first stop: thread, loop
        self._elsewhere: list[tuple[int, asyncio.AbstractEventLoop]] = []
        self._installed = False
        self._waking = contextlib.ExitStack()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    # -- the window in which stops are ours --------------------------------------

    def __enter__(self) -> _Stop:
        if (
            signal.getsignal(signal.SIGINT) is signal.default_int_handler
            and self._thread == threading.main_thread().ident
        ):
            with contextlib.suppress(ValueError):  # no signals (embedded Python)
                signal.signal(signal.SIGINT, self._on_sigint)
                self._installed = True
                self._waking.enter_context(waking_the_main_thread())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._waking.close()
        if self._installed and signal.getsignal(signal.SIGINT) == self._on_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        self._installed = False

    def run(self, function: Callable[[], T]) -> T:
        """Run the code within its deadline; a stop held until now acts first.

        Its frame is where the code begins: the loops a stop looks for are
        run from frames inside it, never the kernel's, which run it.
        """
        __tracebackhide__ = True
        self._set_deadline()
        try:
            if self.held:  # stopped before the code began
                self.count, self.held = self.held, 0
                raise KeyboardInterrupt
            return function()
        finally:
            self._clear_deadline()

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True
        if _acts_in(frame):
            self.stop(frame)
        else:
            self.held += 1

    def _set_deadline(self) -> None:
        if self._timeout is not None:
            with self._lock:
                self._timer = threading.Timer(self._timeout, self._deadline)
                self._timer.daemon = True
                self._timer.start()

    def _clear_deadline(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _deadline(self) -> None:
        """The timeout's thread: a first stop in the calling thread.

        Without the handler (another thread than the main one, or an
        application's own SIGINT handler) it can only cancel the loop the
        code runs; plain blocking code then ends in TimeoutError only when
        it returns.
        """
        with self._lock:
            if self._timer is None:  # the code ended meanwhile
                return
            self.timed_out_after = self._timeout
            if self._installed:
                signal.pthread_kill(self._thread, signal.SIGINT)
                return
            frame = frames_of_threads().get(self._thread)
            found = _innermost_loop(frame, within=_THE_CALL)
            if found is not None:
                loop, task = found
                with contextlib.suppress(RuntimeError):  # that loop has just closed
                    loop.call_soon_threadsafe(task.cancel)
                    self.cancelled_a_loop = True

    # -- a stop --------------------------------------------------------------------

    def stop(self, frame: FrameType | None) -> None:
        """One stop, in the calling thread, ``frame`` being where the code was."""
        __tracebackhide__ = True
        self.count += 1
        if self.count == 1:
            here = _innermost_loop(frame, within=_THE_CALL)
            if here is not None:
                loop, task = here
                task.cancel()
                loop.call_soon_threadsafe(_wake_up)  # out of its selector
                self.cancelled_a_loop = True
                return
            self._cancel_loops_elsewhere()
        raise KeyboardInterrupt

    def _cancel_loops_elsewhere(self) -> None:
        """Cancel the main tasks of loops that threads started for this call run."""
        frames = frames_of_threads()
        for thread in threading.enumerate():
            ident = thread.ident
            if ident is None or thread in self._threads_before:
                continue
            found = _innermost_loop(frames.get(ident))
            if found is None:
                continue
            loop, task = found
            with contextlib.suppress(RuntimeError):  # that loop has just closed
                loop.call_soon_threadsafe(task.cancel)
                self._elsewhere.append((ident, loop))
                self.cancelled_a_loop = True

    # -- how the call ends ---------------------------------------------------------

    def ending(self, error: BaseException) -> BaseException:
        """What the call raises, given what its code raised.

        Loops cancelled in other threads finish their cleanup first.  A
        stop is a script's Ctrl-C: code that handles the KeyboardInterrupt
        (pdb, ``except KeyboardInterrupt:``) or the cancellation of its loop
        goes on as it would in a script.  A cancellation that a stop caused
        becomes ``KeyboardInterrupt`` (``TimeoutError`` for the deadline),
        shown from the cell's line down to the await the loop's task was at;
        so does another error that a loop the stop cancelled ended in (a
        library's own, for its cancelled connection), shown above it.  No
        error shows arunner's own frames.
        """
        self._wait_for_loops_elsewhere()
        traceback = without_arunner_frames(error.__traceback__)
        stopped = isinstance(error, asyncio.CancelledError | KeyboardInterrupt)
        if not (self.count or self.timed_out_after is not None) or not (
            stopped or self.cancelled_a_loop
        ):
            return error.with_traceback(traceback)
        if self.timed_out_after is not None:
            ending: BaseException = TimeoutError(
                f"did not finish within --timeout {self.timed_out_after:g} s "
                "and was cancelled"
            ).with_traceback(traceback)
        elif isinstance(error, asyncio.CancelledError):
            return _interrupted_at(error)
        elif isinstance(error, KeyboardInterrupt):
            return error.with_traceback(traceback)
        else:
            ending = KeyboardInterrupt().with_traceback(traceback)
        if not stopped:
            ending.__context__ = error
        return ending

    def _wait_for_loops_elsewhere(self) -> None:
        deadline = time.monotonic() + LOOP_GRACE
        for ident, loop in self._elsewhere:
            while _runs(ident, loop) and time.monotonic() < deadline:
                time.sleep(0.005)
            if _runs(ident, loop):
                _warn_still_running(ident)
        self._elsewhere.clear()


def _acts_in(frame: FrameType | None) -> bool:
    """Whether a stop that lands in ``frame`` acts now or waits.

    It acts in the code (under :meth:`_Stop.run`) and while the call ends
    (:meth:`_Stop.ending`, where a second stop leaves at once); it waits in
    the call's own bookkeeping and in the swap of the loop state, which an
    exception half-way through would leave the kernel's loop hidden.  Frames
    that lead to neither belong to the code too: a greenlet's, such as the
    one where Playwright's sync API runs its loop, starts a chain of its own.
    """
    while frame is not None:
        code = frame.f_code
        if code in _ACTING:
            return True
        if code in _WAITING:
            return False
        frame = frame.f_back
    return True


_ACTING = frozenset({_Stop.run.__code__, _Stop.ending.__code__})
_WAITING = frozenset({ScriptRunner.call.__code__, exchange.__code__})
#: Where the code's frames end: the loops outside are the kernel's.
_THE_CALL = frozenset({_Stop.run.__code__, ScriptRunner.call.__code__})


def _waiting_on(loop: asyncio.AbstractEventLoop | None) -> set[asyncio.Task[Any]]:
    """The unfinished tasks of ``loop`` if it is a loop that nothing runs."""
    if loop is None or loop.is_running() or loop.is_closed():
        return set()
    return asyncio.all_tasks(loop)


def _warn_of_tasks_nothing_runs(
    loop: asyncio.AbstractEventLoop | None, before: set[asyncio.Task[Any]]
) -> None:
    """Say so when the code left tasks on a loop that nothing runs.

    ``asyncio.ensure_future(coro)`` with no running loop schedules it on the
    current loop, which a script (gql, older code) may have set and left:
    as in a script, the task would wait there for good.  A notebook user
    meant it to run, so this says what to write instead.
    """
    new = _waiting_on(loop) - before
    if new:
        names = ", ".join(sorted(task.get_name() for task in new))
        warnings.warn(
            f"arunner: this code left {len(new)} task(s) ({names}) on an event "
            "loop that nothing runs (the current loop that script code set, not "
            "the kernel's): they will not run. To run a coroutine in the "
            "background, write %arun -b coro() in a line of its own.",
            RuntimeWarning,
            stacklevel=3,
        )


def _wake_up() -> None:
    """Nothing: scheduling it wakes a loop's selector up."""


def _interrupted_at(cancelled: asyncio.CancelledError) -> KeyboardInterrupt:
    """The KeyboardInterrupt for a cancelled loop: where the cell and the
    library called it, then the await its task was at.

    Without asyncio's frames, which say nothing about where the code was,
    and cost IPython about 35 ms to format (ten times the rest of a stop).
    """
    innermost: BaseException = cancelled
    while isinstance(innermost.__context__, asyncio.CancelledError):
        innermost = innermost.__context__
    inner = None if innermost is cancelled else innermost.__traceback__
    traceback = spliced(cancelled.__traceback__, inner)
    return KeyboardInterrupt().with_traceback(without_plumbing(traceback))


def _innermost_loop(
    frame: FrameType | None, within: frozenset[CodeType] = frozenset()
) -> tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]] | None:
    """The innermost event loop run from ``frame`` outwards, and its main future.

    A ``run_until_complete`` of an asyncio loop (``asyncio.run``,
    ``Runner.run``, a library's own loop), or an ``asyncio.Runner.run``
    whose loop has no Python frames (uvloop).  The search ends at a frame
    of one of the codes ``within`` (the call's own: beyond it, the loops are
    the kernel's, whatever line of the call a stop lands on).
    """
    while frame is not None and frame.f_code not in within:
        owner = frame.f_locals.get("self") if frame.f_code.co_name in _RUNS else None
        found: asyncio.Future[Any] | None = None
        if isinstance(owner, asyncio.AbstractEventLoop):
            future = frame.f_locals.get("future")
            found = future if isinstance(future, asyncio.Future) else None
        elif isinstance(owner, asyncio.Runner):
            task = frame.f_locals.get("task")
            found = task if isinstance(task, asyncio.Future) else None
        if found is not None and not found.done():
            return found.get_loop(), found
        frame = frame.f_back
    return None


#: The functions whose frames run a loop until a future is done.
_RUNS = frozenset({"run_until_complete", "run"})


def _runs(ident: int, loop: asyncio.AbstractEventLoop) -> bool:
    """Whether thread ``ident`` still runs ``loop`` (or closes it)."""
    frame = frames_of_threads().get(ident)
    while frame is not None:
        if frame.f_locals.get("self") is loop or frame.f_locals.get("loop") is loop:
            return True
        frame = frame.f_back
    return False


def _warn_still_running(ident: int) -> None:
    frame = _where(ident)
    name = next((t.name for t in threading.enumerate() if t.ident == ident), "?")
    where = (
        "in code Python cannot see (C)"
        if frame is None
        else f"at {frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})"
    )
    warnings.warn_explicit(
        f"arunner: the event loop this call started in thread {name!r} was "
        f"cancelled by the stop but is still running {where} after "
        f"{LOOP_GRACE:g} s; it carries on alone.",
        RuntimeWarning,
        filename=__file__ if frame is None else frame.f_code.co_filename,
        lineno=0 if frame is None else frame.f_lineno,
    )


def _where(ident: int) -> FrameType | None:
    """The frame of the user's or a library's code that thread ``ident`` is in.

    Below it there may be asyncio's, arunner's and the standard library's
    frames: the line worth showing is the one that called into them.
    """
    frame = frames_of_threads().get(ident)
    innermost = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if not is_plumbing(filename):
            if not (filename.startswith(_STDLIB) and "-packages" not in filename):
                return frame
            innermost = innermost or frame
        frame = frame.f_back
    return innermost

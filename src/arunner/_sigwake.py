"""A stop reaches the main thread's blocking call whichever thread the OS gave it to.

A SIGINT sent to a process goes to one of its threads that does not block
it.  Linux prefers the main thread, but passes it over when it has a signal
pending already, and a kernel has a dozen Python threads (IOPub, Heartbeat,
Control, ...) that block nothing.  CPython runs the Python handler only in
the main thread, and only when that thread next runs bytecode: so when
another thread takes the signal, a main thread blocked in C (the
``epoll_wait`` of a library's event loop, ``time.sleep``, a lock) goes on
waiting, and a stop seems lost until the call returns by itself (seen
twice in the test suite's full runs: a kernel busy for a whole 30 s
sleep).  asyncio's own loops are safe from this only when they handle
signals themselves, by watching ``signal.set_wakeup_fd``; the loops and
blocking calls of script code do not.

While a script call runs (:mod:`arunner._script`), or the inline or nest
engine's loop runs in the main thread (:mod:`arunner._inline`: terminal
IPython's history thread takes a Ctrl-C now and then), :func:`waking_the_main_thread`
holds the wakeup fd.  CPython's C handler writes each signal's number to it
from whichever thread took the signal, and a watcher thread then sends the
main thread :data:`POKE`, whose handler does nothing: the blocking call
returns EINTR, and Python runs the SIGINT handler that is already due.  A
poke after the main thread has handled the stop itself is a no-op.  The
thread stays for the next call, until :func:`stop_watching`.  What
the fd receives is passed on to the wakeup fd set before, so a loop that
dispatches its signals by it (``loop.add_signal_handler``) still gets them.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["POKE", "Waking", "stop_watching", "waking_the_main_thread"]

#: The signal that wakes the main thread: ignored by default (so a late
#: poke, after the call, does nothing) and not used by the kernel.
POKE = getattr(signal, "SIGURG", None)
_POKE = None if POKE is None else int(POKE)

# The C module's functions: plain ints, no enum conversions (see Waking).
_getsignal: Callable[[int], Any] = _signal.getsignal
_setsignal: Callable[[int, Any], Any] = _signal.signal
_SIG_DFL = int(signal.SIG_DFL)


def waking_the_main_thread() -> Waking:
    """While the returned context lasts, a SIGINT that another thread takes
    wakes the main thread.

    Called in the main thread.  Does nothing where the platform lacks what
    it needs, where signals cannot be set, where something else handles
    :data:`POKE`, or where the process has no file descriptor or thread to
    spare: stops then reach the call as they did before, when the main
    thread takes them.
    """
    return Waking()


class Waking:
    """The context of :func:`waking_the_main_thread`, for one call.

    A class, not a generator, and ``_signal``'s int-based functions, not
    ``signal``'s enum wrappers: every inline run enters one, and these cost
    it about 3 µs where the generator and the wrappers cost 10.
    """

    __slots__ = ("_previous", "_watcher")

    def __init__(self) -> None:
        self._watcher: _Watcher | None = None
        self._previous = -1

    def __enter__(self) -> None:
        poke = _POKE
        if poke is None or _getsignal(poke) != _SIG_DFL:
            return
        try:
            _setsignal(poke, _nothing)
        except ValueError:  # no signals in this interpreter (an embedded one)
            return
        try:
            watcher = _watcher(poke)
        except (OSError, RuntimeError):  # too many open files; no new thread
            _setsignal(poke, _SIG_DFL)
            return
        self._watcher = watcher
        try:
            previous = signal.set_wakeup_fd(watcher.fileno, warn_on_full_buffer=False)
            if previous == watcher.fileno:  # left by an exit that a stop cut short
                previous = -1  # passed on to itself, a byte would go round for good
            self._previous = previous
            watcher.forward_to(previous)
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc_info: object) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is None:
            return
        try:
            try:
                # The wakeup fd first, in one step: a stop that cuts this
                # short leaves at worst the watcher passing bytes on to it.
                # The earlier fd's warn_on_full_buffer is not readable: the
                # default (which asyncio's loops use) is restored with it.
                signal.set_wakeup_fd(self._previous)
                watcher.forward_to(-1)
            finally:
                with _lock:
                    watcher.users -= 1
        finally:
            _setsignal(watcher.poke, _SIG_DFL)


def _nothing(signum: int, frame: FrameType | None) -> None:
    """POKE's handler: the signal's arrival is all that was wanted."""


class _Watcher:
    """The wakeup fd's reader: a daemon thread, started on the first call and
    kept for the next (a thread per call would cost ``--auto sync``'s every
    cell about 0.15 ms), until :func:`stop_watching`.

    Its pipe lives as long as the process (plain fds, which no finalizer
    closes or warns about): a call may hold the wakeup fd while the thread
    stops, and a closed fd's number could be reused by a file that the C
    handler would then write to.
    """

    def __init__(self, poke: int) -> None:
        self.poke = poke
        self._read, self.fileno = os.pipe()  # not inherited by child processes
        os.set_blocking(self._read, False)
        os.set_blocking(self.fileno, False)  # set_wakeup_fd requires it
        self.pid = os.getpid()
        self._main = threading.main_thread().ident
        #: what is read and passed on is read under it, so that nothing
        #: read while the call ends is passed to an fd no longer wanted
        self._lock = threading.Lock()
        self._forward_to = -1
        self._thread: threading.Thread | None = None
        self._stopping = False
        #: calls being watched now (changed under the module's lock)
        self.users = 0

    def start(self) -> None:
        """Start the thread, unless it runs."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name="arunner-sigwake", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread, if it runs, and wait for its end."""
        if self._thread is not None:
            self._stopping = True
            with contextlib.suppress(BlockingIOError):  # it has bytes to read
                os.write(self.fileno, b"\0")  # a number no signal has
            self._thread.join()
            self._thread, self._stopping = None, False

    def forward_to(self, fd: int) -> int:
        """Pass what arrives on to ``fd`` (-1: to nothing) from now on, and
        what has arrived unread to the fd it went to before, which is returned."""
        with self._lock:
            if self._forward_to != -1:  # what came for no fd is the thread's to read
                self._pass_on()
            before, self._forward_to = self._forward_to, fd
            return before

    def _watch(self) -> None:
        while not self._stopping:
            select.select([self._read], [], [])
            with self._lock:
                signals = self._pass_on()
            if signal.SIGINT in signals and self._main is not None:
                signal.pthread_kill(self._main, self.poke)

    def _pass_on(self) -> bytes:
        """Read what has arrived and pass it on; the signals' numbers."""
        received = b""
        with contextlib.suppress(BlockingIOError):
            while data := os.read(self._read, 512):
                received += data
        if received and self._forward_to != -1:
            with contextlib.suppress(OSError):  # full, or closed meanwhile
                os.write(self._forward_to, received)
        return received


_lock = threading.Lock()
_current: _Watcher | None = None


def _watcher(poke: int) -> _Watcher:
    """The process's watcher, running; made anew in a forked child, which
    has the parent's pipe (left open) but not its thread."""
    global _current  # noqa: PLW0603 - one watcher per process
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = _Watcher(poke)
        _current.start()
        _current.users += 1
        return _current


def stop_watching() -> None:
    """Stop the watcher's thread, unless a call is being watched; the next
    call starts it again.  Idempotent.

    For a process that wants no thread of arunner's left: after
    ``%unload_ext arunner``, when an inline runner closes, and before every
    ``os.fork()`` (Python 3.12+ warns of a fork in a multi-threaded process,
    and a script that ran a runner may have no other thread).
    """
    with _lock:
        if _current is not None and _current.pid == os.getpid() and not _current.users:
            _current.stop()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(before=stop_watching)

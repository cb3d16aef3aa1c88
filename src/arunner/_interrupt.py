"""SIGINT -> cancel the main task -> KeyboardInterrupt, for both engines.

This follows "Handling Keyboard Interruption" in the asyncio docs: while a
``run`` is in progress, the first interrupt cancels the main task so that its
``try/finally`` and ``except CancelledError`` blocks run, and a second
interrupt raises ``KeyboardInterrupt`` at once.  The engines supply what
"cancel" means for them; this module owns the counting, the handler
installation and the last-resort rescue of a thread stuck in a tight loop.
"""

from __future__ import annotations

# The C module under ``signal``: its functions take and return plain ints
# and handlers, while the ``signal`` wrappers convert to and from enums on
# every call, which costs more than the rest of a thread hand-off.  The
# handler objects are the same ones.
import _signal  # type: ignore[import-not-found]
import ctypes
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from arunner._sigwake import waking_the_main_thread

_getsignal: Callable[[int], Any] = _signal.getsignal
_setsignal: Callable[[int, Any], Any] = _signal.signal
_SIGINT = int(signal.SIGINT)

__all__ = ["WAIT_SLICE", "InterruptScope", "raise_in_thread"]

#: Waits for another thread are made in slices of this many seconds.  Where
#: an interrupt only sets a flag (Windows, ``_thread.interrupt_main``) a
#: blocking wait would never see it; a slice bounds how long it goes unseen.
WAIT_SLICE = 0.05


class InterruptScope:
    """Counts the interrupts that arrive during one ``run``.

    The first interrupt calls ``on_first`` (which requests cancellation of
    the main task) and returns, so the waiting code carries on and sees the
    task end.  Every later one raises ``KeyboardInterrupt`` on the spot:
    that is the user's way out of code that ignores cancellation.

    Used as a context manager it installs itself as the SIGINT handler, but
    only where asyncio.Runner would: in the main thread, and only over
    Python's default handler, so an application's own handler is never
    replaced.  Interrupts that still arrive as a ``KeyboardInterrupt`` (a
    foreign handler, or ``_thread.interrupt_main`` before the handler was
    in place) are fed to :meth:`absorb` by the engine.

    With ``wakes_main_thread``, for an engine whose main thread may block in
    C for long (the inline engine's ``select``), a SIGINT that the OS gives
    to another thread wakes it too (:mod:`arunner._sigwake`).  An engine
    that waits in slices of :data:`WAIT_SLICE` does not need it.
    """

    __slots__ = ("_installed", "_on_first", "_waking", "count")

    def __init__(
        self, on_first: Callable[[], None], *, wakes_main_thread: bool = False
    ) -> None:
        self.count = 0
        self._on_first = on_first
        self._installed = False
        self._waking = waking_the_main_thread() if wakes_main_thread else None

    def interrupt(self) -> None:
        """Register one interrupt: the first requests cancellation, later ones raise."""
        self.count += 1
        if self.count == 1:
            self._on_first()
            return
        raise KeyboardInterrupt

    def absorb(self) -> bool:
        """Account for a ``KeyboardInterrupt`` that reached the engine.

        Returns True when it was the first interrupt (cancellation has been
        requested and waiting should go on), False when the engine should
        let it propagate.  A ``KeyboardInterrupt`` raised by this scope's
        own handler already counted as the second interrupt.
        """
        if self._installed and self.count >= 2:
            return False
        self.count += 1
        if self.count == 1:
            self._on_first()
            return True
        return False

    def _handle_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.interrupt()

    def __enter__(self) -> InterruptScope:
        if (
            _getsignal(_SIGINT) is signal.default_int_handler
            and threading.get_ident() == threading.main_thread().ident
        ):
            try:
                _setsignal(_SIGINT, self._handle_sigint)
            except ValueError:  # embedded interpreters without signal support
                return self
            self._installed = True
            if self._waking is not None:
                try:
                    self._waking.__enter__()
                except BaseException:  # a second interrupt, this early
                    self.__exit__()
                    raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            self._installed = False
            if self._waking is not None:
                self._waking.__exit__()
            if _getsignal(_SIGINT) == self._handle_sigint:
                _setsignal(_SIGINT, signal.default_int_handler)


def raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> bool:
    """Raise ``exc_type`` in another thread at its next Python bytecode.

    This is how a runner thread stuck in ``while True: pass`` is rescued
    after a second interrupt.  It reaches pure-Python loops; code blocked in
    C (``time.sleep``, a socket read) sees it only when the call returns.
    Returns whether a thread with that id was found.
    """
    found = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)
    )
    return bool(found)

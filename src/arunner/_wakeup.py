"""Waking a waiting thread on whichever comes first: its run ending or work
for its wait hook.

A caller that waits for the loop thread normally sleeps on a bare lock in
slices (``WAIT_SLICE``), calling the runner's wait hook between slices.
When the hook has something to watch (a kernel's shell queue, see
``_commpump``), sleeping on the lock would leave a widget click waiting for
the end of a slice, some 25 ms on average.  A :class:`Doorbell` is what a
``select()`` can wait on together with the hook's file descriptor: the loop
thread rings it when the run ends, so the caller wakes at once for either.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType

__all__ = ["Doorbell", "doorbell_of_this_thread"]

_local = threading.local()


def doorbell_of_this_thread() -> Doorbell:
    """The calling thread's own doorbell, made on first use and kept.

    A socket pair costs more to make and close than a whole hand-off, so a
    thread keeps one for all its waits.  A ring that comes after a wait
    has ended wakes the next wait once, which then waits on: harmless.
    """
    bell: Doorbell | None = getattr(_local, "bell", None)
    if bell is None:
        bell = _local.bell = Doorbell()
    return bell


class Doorbell:
    """A socket pair: the loop thread rings, one waiting thread listens.

    Ringing and closing hold a lock, so a ring that comes after the waiter
    has left (and closed the bell) never writes into a file descriptor that
    the process has meanwhile reused for something else.
    """

    __slots__ = ("_closed", "_listen", "_lock", "_ring")

    def __init__(self) -> None:
        self._listen, self._ring = socket.socketpair()
        self._listen.setblocking(False)
        self._ring.setblocking(False)
        self._lock = threading.Lock()
        self._closed = False

    def ring(self) -> None:
        """Wake the waiter (any thread; once is enough, more are harmless)."""
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(BlockingIOError):  # rung often enough
                self._ring.send(b"\0")

    def wait(self, also: int | None, timeout: float) -> bool:
        """Sleep until rung, until ``also`` (a file descriptor) is readable
        or for ``timeout`` seconds; True if ``also`` is readable.

        An interrupt's Python handler runs meanwhile: if it raises, so does
        this; if it returns, the sleep goes on (PEP 475).
        """
        watched: list[int | socket.socket] = [self._listen]
        if also is not None:
            watched.append(also)
        try:
            ready, _, _ = select.select(watched, [], [], timeout)
        except (OSError, ValueError):
            if also is None:
                raise
            # ``also`` was closed under us (its owner shut down): the run's
            # end is still worth waiting for, and the hook will say no more.
            ready, _, _ = select.select([self._listen], [], [], timeout)
        if self._listen in ready:
            with contextlib.suppress(BlockingIOError):
                while self._listen.recv(4096):
                    pass
        return also is not None and also in ready

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._listen.close()
            self._ring.close()

    def __enter__(self) -> Doorbell:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

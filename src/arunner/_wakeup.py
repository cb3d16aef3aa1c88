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
    """A socket pair: the loop thread rings, the waiting thread listens.

    Closed only once nothing refers to it (a thread's ends with the
    thread, the main thread's at exit): each thread keeps its own for all
    its waits, and a run that may still ring it holds a reference to it,
    so no ring can reach a file descriptor the process has reused.
    """

    __slots__ = ("_listen", "_ring")

    def __init__(self) -> None:
        self._listen, self._ring = socket.socketpair()
        self._listen.setblocking(False)
        self._ring.setblocking(False)

    def __del__(self) -> None:
        self._listen.close()
        self._ring.close()

    def ring(self) -> None:
        """Wake the waiter (any thread; once is enough, more are harmless)."""
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

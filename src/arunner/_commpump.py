"""Comm messages (widget events) handled while a cell waits for the runner.

ipykernel handles shell messages one at a time, so a comm message from the
frontend (a button click, a slider drag) that arrives while a cell runs
waits until the cell ends (ipykernel#65): a cell cannot await anything the
notebook UI produces.  A ``%%arun`` cell, though, spends its time in the
runner's wait, in the very thread whose shell queue holds those messages,
and the wait calls :attr:`Runner.while_waiting` when it starts and as soon
as the socket that feeds that thread's shell queue is readable (the pump's
``fileno()``; the run's end wakes the wait too).  There,
:class:`CommPump` takes what has arrived for that thread: comm messages are
handled at once through the kernel's own handlers, so widget callbacks run
and can resolve a future the cell's coroutine awaits; every other message
goes, unchanged and in its order, to the kernel's normal queue, to run after
the cell as it would have (an ``execute_request`` behind a failed cell is
still aborted).

Before handling comm messages it waits until the runner's loop has finished
the step it is running (``Runner.settle``): the frontend answers a widget
once it has been displayed, and the step that called ``display(button)``
may not have reached its ``await next_click(button)`` yet; handled then,
the click would be lost.

This is the only module that touches ipykernel's (and pyzmq's) private
parts, and each is looked up afresh at every slice, so that a kernel whose
layout it does not know turns the pump off with one warning instead of
breaking anything.  Before ipykernel 6.29 it is off without a word, as
documented: those kernels send all output under one global parent, which a
callback handled during the cell would point at the click.  It knows:

* ipykernel 7: the shell-channel thread reads the shell socket and passes
  each message to the main shell's or a subshell's inproc socket;
  ``shell_channel_thread.manager`` says which socket pair feeds the waiting
  thread (``subshell_id_from_thread_id``,
  ``get_shell_channel_to_subshell_pair(...).to_stream``) and where its
  replies go (``get_subshell_to_shell_channel_socket``).
* ipykernel 6.29 (and 7 without a shell-channel thread): the main thread
  reads the shell socket itself through ``kernel.shell_stream``.
* Both: the stream is a pyzmq ``ZMQStream``, flushed with its private
  ``_recv_callback`` swapped for the sorter below and restored (forwarding
  goes through its ``_run_callback``, exactly what the stream does itself);
  messages are read with ``kernel.session`` and handled through
  ``kernel.shell_handlers`` under ``kernel.set_parent``, the cell's parent
  (``kernel._parent_ident["shell"]``, ``kernel.get_parent("shell")``) set
  back afterwards, as ipykernel 7.4 does for the comms it dispatches while
  an async cell awaits.

A stream is flushed only by the thread whose event loop owns it: a user's
thread that calls ``Runner.run`` has no shell queue, and the shell-channel
thread's own socket is never touched.  And only in the wait of a cell (the
thread's parent message is an ``execute_request``): ipykernel never runs
one handler inside another, so neither does the pump, whether the handler
running is one it called itself or one the kernel runs between cells (a
click whose callback calls ``runner.start()``).

Every message read reaches the kernel exactly once, in order, whatever
interrupt arrives when: see :class:`_SigintGate`.  What was read but not
handled when the pump stops short goes to the kernel's queue at once, and
the pump leaves that cell's later messages to the kernel too, so that none
overtakes them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import re
import signal
import sys
import threading
import warnings
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from types import CodeType, FrameType
from typing import Any

__all__ = ["CommPump"]

#: What a frontend sends a widget or any other comm.
_COMM_TYPES = frozenset({"comm_open", "comm_msg", "comm_close"})

#: The ipykernel versions whose layout this module knows: from 6.29 up to 8.
_KNOWN_VERSIONS = ((6, 29), (8,))

#: How long a comm message waits for the runner's loop to finish the step
#: it is running (seconds); the message is handled then all the same.
SETTLE_TIMEOUT = 1.0

#: ``zmq.POLLIN``: flush reads incoming messages only, and the bit of the
#: socket's ``EVENTS`` that says there is something to read.
_POLLIN = 1

#: The stream, the kernel's callback on it, the socket for replies and the
#: msg_id of the cell that waits (see CommPump._feed).
_Feed = tuple[Any, Callable[..., Any], Any, str]


class CommPump:
    """Handles the comm messages of the waiting thread's shell queue.

    Called with no arguments in the waiting thread: when the wait starts,
    then whenever :meth:`fileno` is readable (at every slice while it is
    None).
    Not re-entrant: a widget callback that itself waits for the runner
    (``runner.start()`` does, briefly) leaves the messages that arrive
    meanwhile to the outer call, or to the kernel between cells.
    """

    def __init__(
        self, kernel: Any, settle: Callable[[float], bool] | None = None
    ) -> None:
        self._kernel = kernel
        #: waits for the runner's loop to finish its current steps (see _handle)
        self._settle = settle
        self._off = False
        #: per thread, the cell whose wait was stopped short (see _pump)
        self._stopped: dict[int, str] = {}

    @property
    def off(self) -> bool:
        """Whether the pump has turned itself off (it stays off)."""
        return self._off

    def __call__(self) -> None:
        if self._off or not self._knows_this_kernel():
            return
        try:
            found = self._feed()
        except Exception as error:  # noqa: BLE001 - a layout this module does not know
            self._turn_off(
                f"this kernel's message queues are not laid out as "
                f"arunner knows them ({error!r})"
            )
            return
        if found is None:
            return
        with _SigintGate() as gate:
            try:
                self._pump(gate, found)
            except Exception as error:  # noqa: BLE001 - reported, then out of the way
                self._turn_off(f"handling a comm message failed ({error!r})")

    def fileno(self) -> int | None:
        """What the waiting thread watches to be called when a message arrives.

        The file descriptor of the socket that feeds this thread's shell
        queue (zmq's edge-triggered one: readable once something arrives
        after a flush, which every call ends with); None if the pump is
        off, the thread has no shell queue, or it is not waiting for a cell
        (a handler of the kernel's is running).
        """
        if self._off:
            return None
        try:
            found = self._feed()
        except Exception:  # noqa: BLE001 - the next call reports and turns off
            return None
        return None if found is None else int(found[0].socket.fileno())

    def _turn_off(self, why: str) -> None:
        self._off = True
        warnings.warn(
            f"arunner: {why}; widget and comm events now wait until the cell "
            "ends, as without arunner (c.ARunMagics.widget_events)",
            RuntimeWarning,
            stacklevel=2,
        )

    def _knows_this_kernel(self) -> bool:
        version = getattr(sys.modules.get("ipykernel"), "__version__", "unknown")
        if () < _numbers(version) < _KNOWN_VERSIONS[0]:
            # Documented: before 6.29 the kernel's output parent is one global
            # that a callback would point at the click while the cell prints.
            self._off = True
            return False
        if not _KNOWN_VERSIONS[0] <= _numbers(version) < _KNOWN_VERSIONS[1]:
            self._turn_off(
                f"ipykernel {version} is not a version whose message queues "
                "arunner knows"
            )
            return False
        return True

    def _pump(self, gate: _SigintGate, found: _Feed) -> None:
        """Handle until the socket itself says nothing is left.

        Its descriptor is edge-triggered, and reading its state consumes
        the edge (flush() reads it once more at its end): a message that
        arrives before this last look would wake no select(), and would
        wait for the cell's end.  Mostly nothing is there, at the start of
        a wait.
        """
        stream, forward, replies, cell = found
        held: deque[Any] = deque()  # comm messages read, not yet handled
        try:
            while stream.socket.EVENTS & _POLLIN:
                self._handle(gate, held, stream, forward, replies)
        except BaseException:
            # Stopped short (an interrupt, a failure): the kernel has what
            # is left after the cell, in order, and this cell's later
            # messages too, so that none overtakes them.
            for raw in held:
                stream._run_callback(forward, raw)
            stream._rebuild_io_state()  # the edge may be consumed: look again
            self._stopped[threading.get_ident()] = cell
            raise

    def _handle(
        self,
        gate: _SigintGate,
        held: deque[Any],
        stream: Any,
        forward: Callable[..., Any],
        replies: Any,
    ) -> None:
        """Handle the comm messages the stream holds; forward the others.

        The one step of the pump where an interrupt strikes at once (see
        _SigintGate), besides the kernel's handler itself.
        """
        self._drain(held, stream, forward)
        gate.release()
        if held and self._settle is not None:
            # A click that answers a display() must wait until the step
            # that displayed has reached its await (next_click): a step
            # never waits, so this is quick, unless the cell blocks the
            # loop, and then the click is handled after SETTLE_TIMEOUT.
            self._settle(SETTLE_TIMEOUT)
        while held:
            self._handle_first(gate, held, replies)
            gate.release()

    def _feed(self) -> _Feed | None:
        """The waiting thread's shell stream, the kernel's callback on it,
        the socket for replies and the cell's msg_id; None if the thread
        has no shell queue or is not waiting for a cell.

        Raises (AttributeError and the like) where the layout is not the one
        this module knows.
        """
        kernel = self._kernel
        header = kernel.get_parent("shell").get("header", {})
        if header.get("msg_type") != "execute_request":
            return None  # a handler of the kernel's is running: not nested
        cell = str(header["msg_id"])
        if self._stopped.get(threading.get_ident()) == cell:
            return None
        channel = getattr(kernel, "shell_channel_thread", None)
        if channel:  # ipykernel 7
            manager = channel.manager
            try:
                subshell = manager.subshell_id_from_thread_id(threading.get_ident())
            except RuntimeError:  # neither the main shell nor a subshell
                return None
            stream = manager.get_shell_channel_to_subshell_pair(subshell).to_stream
            replies = manager.get_subshell_to_shell_channel_socket(subshell)
        else:  # ipykernel 6.29: the main thread reads the shell socket
            stream = replies = kernel.shell_stream
        if stream is None:
            raise LookupError("the kernel has no shell stream for this thread")
        if stream.io_loop.asyncio_loop is not asyncio._get_running_loop():
            return None  # another thread's stream
        forward = stream._recv_callback
        if not callable(forward):
            raise TypeError(f"the shell stream's callback is {forward!r}")
        return stream, forward, replies, cell

    def _drain(
        self, held: deque[Any], stream: Any, forward: Callable[..., Any]
    ) -> None:
        """Read what the stream holds: comm messages held, the rest forwarded."""

        def sort(raw: Any) -> None:
            if self._is_comm(raw):
                held.append(raw)
            else:
                stream._run_callback(forward, raw)

        stream._recv_callback = sort
        try:
            stream.flush(_POLLIN)
        except BaseException:
            # Cut short (a failure): let the loop look at the socket again
            # after the cell, as the end of flush() would have.
            stream._rebuild_io_state()
            raise
        finally:
            stream._recv_callback = forward

    def _is_comm(self, raw: list[Any]) -> bool:
        """Whether ``raw`` is a comm message, by its header alone.

        The header is only peeked at, so the kernel can still read a message
        that goes on to it (the session remembers a signature only once the
        content has been read).  What cannot be read is not a comm message:
        the kernel reports or uses it as usual (ipykernel 7 also sends the
        main shell an internal "stop aborting" frame).
        """
        session = self._kernel.session
        try:
            _, frames = session.feed_identities(raw, copy=False)
            header = session.deserialize(frames, content=False, copy=False)["header"]
        except Exception:  # noqa: BLE001 - the kernel's business
            return False
        return header.get("msg_type") in _COMM_TYPES

    def _handle_first(self, gate: _SigintGate, held: deque[Any], replies: Any) -> None:
        """Take the first held message and call the kernel's handler with it."""
        handler, idents, msg = self._read(held[0])
        gate.handler = _code_of(handler)
        held.popleft()  # from here on, it counts as handled
        contextvars.copy_context().run(self._dispatch, handler, replies, idents, msg)

    def _read(self, raw: list[Any]) -> tuple[Callable[..., Any], list[bytes], Any]:
        """The kernel's handler for a comm message, its identities and content.

        Raises for a message or a handler this module cannot handle in a
        wait (an async handler would need the kernel's own loop); the
        message then goes to the kernel with the rest.
        """
        session = self._kernel.session
        idents, frames = session.feed_identities(raw, copy=False)
        msg = session.deserialize(frames, content=True, copy=False)
        handler = self._kernel.shell_handlers[msg["header"]["msg_type"]]
        if inspect.iscoroutinefunction(handler):
            raise TypeError(f"the kernel's handler {handler!r} is a coroutine")
        return handler, idents, msg

    def _dispatch(
        self,
        handler: Callable[..., Any],
        replies: Any,
        idents: list[bytes],
        msg: dict[str, Any],
    ) -> None:
        """Run the kernel's handler under the comm message, then the cell's again.

        The comm message is the parent meanwhile, so what a callback prints
        or displays goes under it, as when the kernel handles it between
        cells.  It runs in a copy of the waiting thread's context, so that
        nothing a callback sets leaks into the cell's; the parent is set
        back all the same, for what ipykernel keeps outside ContextVars.

        ipykernel 6.29 keeps the display publisher's parent in one global,
        which the cell's coroutine uses from the runner's thread meanwhile:
        there only the kernel's record and the streams (a ContextVar, set in
        the copy) take the comm message, and a callback's ``display()`` goes
        to the running cell rather than a cell's ``display()`` to the click.
        """
        kernel = self._kernel
        cell = (kernel._parent_ident["shell"], kernel.get_parent("shell"))
        set_parent = self._parent_setter()
        set_parent(idents, msg)
        try:
            handler(replies, idents, msg)
        finally:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
            set_parent(*cell)

    def _parent_setter(self) -> Callable[[list[bytes], dict[str, Any]], None]:
        """How to make a message the parent without racing the runner's thread."""
        kernel = self._kernel
        display_pub = getattr(kernel.shell, "display_pub", None)
        if isinstance(getattr(display_pub, "_parent_header", None), ContextVar):
            return functools.partial(kernel.set_parent, channel="shell")  # 7

        def streams_and_kernel(idents: list[bytes], msg: dict[str, Any]) -> None:
            # ipykernel 6.29's Kernel.set_parent without the shell's globals.
            kernel._parent_ident["shell"] = idents
            kernel._parents["shell"] = msg
            for stream in (sys.stdout, sys.stderr):
                if hasattr(stream, "set_parent"):
                    stream.set_parent(msg)

        return streams_and_kernel


class _SigintGate:
    """Holds SIGINT back while the pump's own steps run (main thread only).

    Python runs a signal's handler between two bytecodes of whatever the
    main thread runs, and KeyboardInterrupt (the second stop, with
    arunner's handler) strikes there.  Between the frames of a multipart
    message it would tear it; between reading a message and putting it in
    a queue, or between taking one off the queue and calling the kernel's
    handler, it would lose it.  While entered, this handler therefore lets
    the previous one run at once only where the main thread is in the
    kernel's handler (a stuck widget callback stays interruptible) or in
    the one step of the pump that may wait (:meth:`CommPump._handle`);
    anywhere else in this module it counts the signal, and
    :meth:`release` delivers it once that step is over.  The previous
    handler is Python's own, arunner's or an application's; where SIGINT is
    ignored, or not handled in Python, nothing changes.
    """

    def __init__(self) -> None:
        self._previous: Callable[[int, FrameType | None], Any] | None = None
        self._held = 0
        #: the code of the kernel's handler the pump calls (see _safe_at)
        self.handler: CodeType | None = None

    def __enter__(self) -> _SigintGate:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):
                try:
                    signal.signal(signal.SIGINT, self._on_sigint)
                except ValueError:  # embedded interpreters without signal support
                    return self
                self._previous = previous
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self.release()

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self._safe_at(frame):
            assert self._previous is not None
            self._previous(signum, frame)
        else:
            self._held += 1

    def _safe_at(self, frame: FrameType | None) -> bool:
        """Whether an interrupt may strike ``frame``: in the kernel's handler
        (whatever it calls), or where this module's innermost frame says so."""
        frames = []
        while frame is not None:
            if frame.f_code is self.handler:
                return True
            frames.append(frame.f_code)
            frame = frame.f_back
        ours = next((code for code in frames if code.co_filename == _HERE), None)
        return ours is None or ours in _INTERRUPTIBLE

    def release(self) -> None:
        """Deliver the interrupts held back (called where one may strike)."""
        while self._held:
            self._held -= 1
            assert self._previous is not None
            self._previous(signal.SIGINT, sys._getframe(1))


_HERE = _SigintGate._safe_at.__code__.co_filename

#: The pump's frames where an interrupt may strike: see _SigintGate.
_INTERRUPTIBLE = frozenset({CommPump._handle.__code__})


def _code_of(handler: Callable[..., Any]) -> CodeType:
    """The code of a handler's frame: a function's or a bound method's."""
    code = getattr(getattr(handler, "__func__", handler), "__code__", None)
    if not isinstance(code, CodeType):
        raise TypeError(f"the kernel's handler {handler!r} is not a Python function")
    return code


@functools.lru_cache(maxsize=8)
def _numbers(version: str) -> tuple[int, ...]:
    """The leading numbers of a version: ``(7, 4, 0)`` for "7.4.0rc1"."""
    found = re.match(r"\d+(?:\.\d+)*", version)
    return () if found is None else tuple(map(int, found[0].split(".")))

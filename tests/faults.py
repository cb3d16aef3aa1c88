"""Systematic fault injection: an interrupt at every step of a piece of code.

A dry run records, in order, every distinct line of arunner's source (and of
the test's own cleanup code) that the code under test executes, in any
thread.  Then the code is run once per recorded line, and the first time
that line is about to run a real SIGINT goes to the main thread, as a user's
Ctrl-C or a kernel interrupt would.  So every step (each await point, each
hand-off between threads, each state change) is tried, in order, rather than
whatever steps random timing happens to hit.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable
from types import FrameType
from typing import Any

import arunner

_ARUNNER_DIR = os.path.dirname(arunner.__file__) + os.sep

Step = tuple[str, int]


def sigint_main_thread() -> None:
    """A real SIGINT for the main thread: it also wakes a wait in select()."""
    main = threading.main_thread().ident
    assert main is not None
    signal.pthread_kill(main, signal.SIGINT)


class Injector:
    """Traces the watched files while armed: records steps, or interrupts at one.

    Used as a context manager it traces the main thread and every thread
    started inside it (a runner's loop thread, say); only what runs while
    ``armed`` is true counts, so the setup before the code under test is
    neither recorded nor interrupted.
    """

    def __init__(self, target: Step | None = None, also_watch: Iterable[str] = ()):
        self._watched = (_ARUNNER_DIR, *also_watch)
        self._target = target
        self.armed = False
        self.steps: list[Step] = []
        self._seen: set[Step] = set()
        self._fired = threading.Event()

    @property
    def fired(self) -> bool:
        """Whether the interrupt was sent (the target step was reached)."""
        return self._fired.is_set()

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and self.armed:
            step = (frame.f_code.co_filename, frame.f_lineno)
            if self._target is None:
                if step not in self._seen:
                    self._seen.add(step)
                    self.steps.append(step)
            elif step == self._target and not self._fired.is_set():
                self._fired.set()
                sigint_main_thread()
        return self._local

    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename.startswith(self._watched):
            return self._local
        return None

    def __enter__(self) -> Injector:
        threading.settrace(self._global)
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc_info: object) -> None:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]


def describe(step: Step) -> str:
    filename, line = step
    return f"{os.path.basename(filename)}:{line}"


class AsyncioComplaints(logging.Handler):
    """While entered, collects what asyncio's logger says ("Task was destroyed...")."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> AsyncioComplaints:
        logging.getLogger("asyncio").addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger("asyncio").removeHandler(self)

    def check_none_destroyed_pending(self, where: str) -> None:
        """No task was dropped while pending (collected garbage included)."""
        gc.collect()
        destroyed = [m for m in self.messages if "destroyed but it is pending" in m]
        assert not destroyed, f"{where}: {destroyed}"


def check_each_cleanup(
    where: str, names: Iterable[str], ran: list[str], said: list[str]
) -> None:
    """Each task's cleanup ran exactly once, or a warning names that very task."""
    assert len(ran) == len(set(ran)), f"{where}: a cleanup ran twice: {ran}"
    for name in sorted(set(names) - set(ran)):
        assert any(repr(name) in warning for warning in said), (
            f"{where}: {name}'s cleanup neither ran nor was named: {ran} {said}"
        )

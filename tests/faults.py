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

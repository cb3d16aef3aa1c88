"""``frames_of_threads``: the threads' frames, without CPython 3.11's hang.

On 3.11 ``sys._current_frames()`` can hang for good when a garbage
collection starts inside it (gh-106883); a ``--sync`` stop that waited for
a loop in another thread hung a test run that way.  The hang itself needs
an unlucky collection; what prevents it is that the collector is off for
the call, which is what these tests check.
"""

from __future__ import annotations

import gc
import sys
import threading

import pytest

from arunner._traceback import frames_of_threads

#: Whether CPython turns the collector off for the call itself (3.12+).
FIXED_BY_PYTHON = sys.version_info >= (3, 12)


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record whether the collector was on at each ``sys._current_frames()``."""
    seen: list[bool] = []
    real = sys._current_frames

    def current_frames() -> dict[int, object]:
        seen.append(gc.isenabled())
        return real()

    monkeypatch.setattr(sys, "_current_frames", current_frames)
    return seen


def test_the_collector_is_off_while_the_frames_are_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _recording(monkeypatch)
    assert gc.isenabled()
    frames = frames_of_threads()
    assert frames[threading.get_ident()] is not None
    assert seen == [FIXED_BY_PYTHON]  # off on 3.11; 3.12+ does it inside
    assert gc.isenabled(), "the collector was left off"


def test_a_collector_the_caller_turned_off_stays_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _recording(monkeypatch)
    gc.disable()
    try:
        frames_of_threads()
        assert seen == [False]
        assert not gc.isenabled()
    finally:
        gc.enable()

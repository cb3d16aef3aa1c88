"""mode="nest" errors that need no kernel (the nest behaviour itself is driven
in tests/kernel/test_nest.py, in a kernel of its own, because nest-asyncio2
patches asyncio for the whole process)."""

from __future__ import annotations

import asyncio
import sys

import pytest

import arunner


def run_in_a_running_loop(runner: arunner.Runner) -> None:
    async def inside() -> None:
        runner.run(asyncio.sleep(0))

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(inside())
    finally:
        loop.close()


def test_missing_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "nest_asyncio2", None)  # as if not installed
    runner = arunner.Runner(mode="nest")
    with pytest.raises(RuntimeError, match=r"pip install 'ipython-arunner\[nest\]'"):
        run_in_a_running_loop(runner)
    assert runner.engine is None


def test_nest_without_a_running_loop_says_to_use_auto() -> None:
    runner = arunner.Runner(mode="nest")
    with pytest.raises(RuntimeError, match="none is running here; use mode='auto'"):
        runner.run(asyncio.sleep(0))


def test_nest_refuses_a_loop_factory() -> None:
    runner = arunner.Runner(mode="nest", loop_factory=asyncio.new_event_loop)
    with pytest.raises(ValueError, match="loop_factory cannot apply"):
        run_in_a_running_loop(runner)

"""arunner.widgets without a kernel: events come from another thread, as in one.

In a kernel, widget callbacks run in the kernel's thread while the awaiting
coroutine runs in the runner's; here a plain thread plays the kernel's part
(ipywidgets works without a frontend: its comms go nowhere).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

import arunner
from arunner.widgets import next_change, next_click

widgets = pytest.importorskip("ipywidgets")


def in_the_kernels_thread(action: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=action, name="the kernel's thread")
    thread.start()
    return thread


async def soon(action: Callable[[], object]) -> threading.Thread:
    """Run ``action`` in another thread once the caller awaits (a cycle later)."""
    await asyncio.sleep(0)
    return in_the_kernels_thread(action)


def test_next_click_wakes_its_idle_loop_for_a_click_from_another_thread() -> None:
    button = widgets.Button()
    resumed = threading.Event()  # not the loop's: waiting on it wakes nothing

    async def main() -> Any:
        clicked = await next_click(button, timeout=10)
        resumed.set()
        return clicked

    with arunner.Runner(mode="thread") as runner:
        waiting = runner.start(main())
        runner.call(lambda: None)  # after the task's first step: it awaits, idle
        button.click()  # this thread plays the kernel's
        assert resumed.wait(5), "the loop slept through the click"
        assert waiting.result() is button
    assert button._click_handlers.callbacks == []


def test_next_change_returns_the_new_value_and_only_the_next_one() -> None:
    slider = widgets.IntSlider()

    def drag() -> None:
        slider.value = 5
        slider.value = 6

    async def main() -> Any:
        waiting = asyncio.ensure_future(next_change(slider, timeout=10))
        (await soon(drag)).join()
        return await waiting

    assert asyncio.run(main()) == 5
    assert slider._trait_notifiers["value"]["change"] == []


def test_next_change_refuses_a_trait_the_widget_does_not_have() -> None:
    with pytest.raises(ValueError, match="IntSlider has no trait 'valeu'"):
        asyncio.run(next_change(widgets.IntSlider(), "valeu"))


@pytest.mark.parametrize("ending", ["timeout", "cancel"])
def test_the_callback_is_unregistered_however_the_await_ends(ending: str) -> None:
    button = widgets.Button()

    async def main() -> None:
        if ending == "timeout":
            with pytest.raises(TimeoutError, match=r"no click on .* within 0.01 s"):
                await next_click(button, timeout=0.01)
            return
        waiting = asyncio.ensure_future(next_click(button))
        await asyncio.sleep(0)
        assert len(button._click_handlers.callbacks) == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(main())
    assert button._click_handlers.callbacks == []


def test_handlers_after_the_awaiting_one_still_get_the_click_that_ended_it() -> None:
    """The await can end, and its handler go, while the click is still being
    handed to the button's later handlers in the kernel's thread."""
    button = widgets.Button()
    in_the_middle = threading.Event()
    await_over = threading.Event()
    later: list[str] = []

    def middle(_: object) -> None:
        in_the_middle.set()
        await_over.wait(10)

    async def main() -> None:
        waiting = asyncio.ensure_future(next_click(button, timeout=10))
        await asyncio.sleep(0)  # its handler is the first one now
        button.on_click(middle)
        button.on_click(lambda b: later.append("got the click"))
        clicking = in_the_kernels_thread(button.click)
        # Blocks the loop on purpose: the await ends, and its handler goes,
        # only once the click is in the middle handler.
        in_the_middle.wait(10)
        await waiting
        await_over.set()
        clicking.join()

    asyncio.run(main())
    assert later == ["got the click"]

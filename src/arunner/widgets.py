"""Await the notebook's widgets: ``await next_click(button)``, ``next_change``.

While a ``%%arun`` cell waits, arunner handles the frontend's widget
messages in the kernel's thread (see ``ARunMagics.widget_events``), so
widget callbacks run there while the cell's coroutine runs in the runner's
thread.  These helpers register a callback that hands the event to the
awaiting coroutine's loop with ``call_soon_threadsafe`` and unregister it
when the await ends, however it ends (a result, a timeout, a cancellation).

Any object with ipywidgets' ``on_click`` or traitlets' ``observe`` will
do; nothing here imports ipywidgets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["next_change", "next_click"]

T = TypeVar("T")

#: Registers a callback that delivers one event; returns how to unregister it.
_Subscribe = Callable[[Callable[[T], None]], Callable[[], None]]


async def next_click(button: Any, *, timeout: float | None = None) -> Any:
    """Wait for the next click on an ipywidgets ``Button`` and return the button.

    Raises :class:`TimeoutError` if no click comes within ``timeout``
    seconds.
    """

    def subscribe(deliver: Callable[[Any], None]) -> Callable[[], None]:
        button.on_click(deliver)
        return lambda: _remove_click_handler(button, deliver)

    return await _next(subscribe, timeout, f"no click on {button!r}")


async def next_change(
    widget: Any, name: str = "value", *, timeout: float | None = None
) -> Any:
    """Wait for the trait ``name`` of ``widget`` to change and return its new value.

    Raises :class:`TimeoutError` if it does not change within ``timeout``
    seconds, and :class:`ValueError` at once if ``widget`` has no such
    trait (it would never change).
    """
    if not widget.has_trait(name):
        raise ValueError(f"{type(widget).__name__} has no trait {name!r}")

    def subscribe(deliver: Callable[[Any], None]) -> Callable[[], None]:
        def changed(change: dict[str, Any]) -> None:
            deliver(change["new"])

        widget.observe(changed, names=name)
        return lambda: widget.unobserve(changed, names=name)

    return await _next(subscribe, timeout, f"{name!r} of {widget!r} did not change")


async def _next(subscribe: _Subscribe[T], timeout: float | None, what: str) -> T:
    """Await the first event ``subscribe`` delivers, from whichever thread."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(value: T) -> None:
        # A closed loop raises RuntimeError: nobody awaits the event any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, future, value)

    unsubscribe = subscribe(deliver)
    try:
        async with asyncio.timeout(timeout):
            return await future
    except TimeoutError:
        raise TimeoutError(f"{what} within {timeout:g} s") from None
    finally:
        unsubscribe()


def _resolve(future: asyncio.Future[T], value: T) -> None:
    if not future.done():  # a second event, or the await already ended
        future.set_result(value)


def _remove_click_handler(button: Any, handler: Callable[[Any], None]) -> None:
    """Unregister ``handler`` without editing the list a click may be walking.

    ``on_click(handler, remove=True)`` removes it from the list in place,
    and the kernel's thread may be going through that very list for a
    click at that moment (the await ends while later handlers still run):
    the handler after the removed one would miss that click.  A new list
    leaves the walk on the old one.
    """
    dispatcher = button._click_handlers
    dispatcher.callbacks = [c for c in dispatcher.callbacks if c is not handler]

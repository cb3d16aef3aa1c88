"""The asyncio.Runner contract, in both engines: results, awaitables, context, loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Generator
from typing import Any

import pytest

import arunner

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


async def add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


async def fail() -> None:
    await asyncio.sleep(0)
    raise ValueError("boom")


def test_run_returns_the_result(runner: arunner.Runner) -> None:
    assert runner.run(add(2, 3)) == 5


def test_run_raises_the_coroutine_exception(runner: arunner.Runner) -> None:
    with pytest.raises(ValueError, match="boom"):
        runner.run(fail())
    assert runner.run(add(1, 1)) == 2


def test_lazy_initialisation_creates_nothing_until_first_use() -> None:
    threads_before = set(threading.enumerate())
    runner = arunner.Runner(mode="thread")
    assert runner.engine is None
    assert "not started" in repr(runner)
    assert set(threading.enumerate()) == threads_before
    with runner:
        assert runner.engine == "thread"
        new = set(threading.enumerate()) - threads_before
        assert [t.name for t in new] == [runner.thread.name]  # type: ignore[union-attr]


def test_get_loop_initialises_and_is_the_loop_of_every_run(
    runner: arunner.Runner,
) -> None:
    loop = runner.get_loop()

    async def current_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert runner.run(current_loop()) is loop
    assert runner.run(current_loop()) is loop


def test_context_var_set_after_an_await_persists_to_the_next_run(
    runner: arunner.Runner,
) -> None:
    async def set_before_and_after_await() -> None:
        var.set("before")
        await asyncio.sleep(0)
        var.set("after")

    async def read() -> str:
        return var.get()

    runner.run(set_before_and_after_await())
    assert runner.run(read()) == "after"
    assert var.get() == "unset"  # the caller's own context is untouched


def test_context_starts_as_a_copy_of_the_first_callers_context() -> None:
    async def read() -> str:
        return var.get()

    token = var.set("from caller")
    try:
        with arunner.Runner(mode="thread") as runner:
            var.set("changed after first use")
            assert runner.run(read()) == "from caller"
    finally:
        var.reset(token)


def test_explicit_context_is_used_for_that_run_only(runner: arunner.Runner) -> None:
    async def set_and_read(value: str) -> str:
        var.set(value)
        return var.get()

    async def read() -> str:
        return var.get()

    own = contextvars.Context()
    assert runner.run(set_and_read("own"), context=own) == "own"
    assert own[var] == "own"
    assert runner.run(read()) == "unset"


def test_accepts_a_task_of_its_own_loop(runner: arunner.Runner) -> None:
    async def spawn() -> asyncio.Task[int]:
        return asyncio.create_task(add(20, 22))

    task = runner.run(spawn())
    assert runner.run(task) == 42


def test_accepts_an_object_with_dunder_await(runner: arunner.Runner) -> None:
    class Custom:
        def __await__(self) -> Generator[Any, None, str]:
            yield from asyncio.sleep(0).__await__()
            return "custom"

    assert runner.run(Custom()) == "custom"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "expected an awaitable .* but got int 42"),
        ("text", "but got str 'text'"),
        (None, "but got NoneType None"),
        (add, "coroutine function 'add'; call it: run\\(add\\(...\\)\\)"),
    ],
)
def test_non_awaitables_are_a_type_error_naming_what_was_given(
    runner: arunner.Runner, value: object, message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        runner.run(value)  # type: ignore[arg-type]
    assert runner.run(add(1, 2)) == 3


def test_a_future_of_another_loop_is_refused_clearly(runner: arunner.Runner) -> None:
    other = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="belongs to a different event loop"):
            runner.run(other.create_future())
    finally:
        other.close()


def test_an_already_awaited_coroutine_is_refused_clearly(
    runner: arunner.Runner,
) -> None:
    coro = add(1, 2)
    assert runner.run(coro) == 3
    with pytest.raises(RuntimeError, match=r"add\(\) has already been awaited"):
        runner.run(coro)


def test_loop_factory_and_debug_are_honoured(runner: arunner.Runner) -> None:
    made: list[asyncio.AbstractEventLoop] = []

    def factory() -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        made.append(loop)
        return loop

    with arunner.Runner(mode=runner.mode, loop_factory=factory, debug=True) as r:
        assert r.get_loop() is made[0]
        assert r.get_loop().get_debug() is True
        assert r.run(add(1, 1)) == 2
    assert len(made) == 1


def test_a_loop_factory_that_fails_reports_its_error() -> None:
    def broken() -> asyncio.AbstractEventLoop:
        raise OSError("no loop today")

    for mode in ("inline", "thread"):
        runner = arunner.Runner(mode=mode, loop_factory=broken)  # type: ignore[arg-type]
        with pytest.raises(OSError, match="no loop today"):
            runner.run(add(1, 1))


def test_a_loop_factory_that_returns_a_closed_loop_is_refused_at_once(
    runner: arunner.Runner,
) -> None:
    """Accepted, the loop thread spun at 100 % of a core on run_forever's
    error, and run() said "Runner is closed" of a runner that was not."""
    closed = asyncio.new_event_loop()
    closed.close()
    before = set(threading.enumerate())
    bad = arunner.Runner(mode=runner.mode, loop_factory=lambda: closed)
    for _ in range(2):  # refused again, not half-started the first time
        with pytest.raises(ValueError, match=r"loop_factory returned a closed event"):
            bad.run(add(1, 1))
    assert not bad.closed
    assert bad.engine is None
    assert set(threading.enumerate()) == before  # no loop thread left behind


def test_a_loop_factory_that_returns_a_running_loop_is_refused_at_once(
    runner: arunner.Runner,
) -> None:
    elsewhere = asyncio.new_event_loop()
    serving = threading.Thread(target=elsewhere.run_forever)
    serving.start()
    try:
        bad = arunner.Runner(mode=runner.mode, loop_factory=lambda: elsewhere)
        with pytest.raises(ValueError, match=r"already running.*mode='nest'"):
            bad.run(add(1, 1))
        assert bad.engine is None
    finally:
        elsewhere.call_soon_threadsafe(elsewhere.stop)
        serving.join()
        elsewhere.close()


def test_uvloop_as_loop_factory(runner: arunner.Runner) -> None:
    uvloop = pytest.importorskip("uvloop")
    with arunner.Runner(mode=runner.mode, loop_factory=uvloop.new_event_loop) as r:
        assert isinstance(r.get_loop(), uvloop.Loop)
        assert r.run(add(2, 2)) == 4


def test_invalid_arguments_are_explained() -> None:
    with pytest.raises(ValueError, match="mode must be one of 'auto', 'inline'"):
        arunner.Runner(mode="fast")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="loop_factory must be a callable"):
        arunner.Runner(loop_factory="uvloop.new_event_loop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shutdown_timeout must be a positive"):
        arunner.Runner(shutdown_timeout=0)


def test_keyboard_interrupt_and_system_exit_inside_propagate_and_runner_survives(
    runner: arunner.Runner,
) -> None:
    async def raise_(exc: BaseException) -> None:
        await asyncio.sleep(0)
        raise exc

    with pytest.raises(SystemExit):
        runner.run(raise_(SystemExit(3)))
    with pytest.raises(KeyboardInterrupt):
        runner.run(raise_(KeyboardInterrupt()))
    assert runner.run(add(2, 2)) == 4


def test_concurrent_runs_from_several_threads_all_complete() -> None:
    """The thread engine's loop takes runs from every thread at once."""
    results: dict[int, int] = {}
    errors: list[BaseException] = []

    def call(runner: arunner.Runner, i: int) -> None:
        try:
            for j in range(20):
                results[i * 100 + j] = runner.run(add(i, j))
        except BaseException as exc:
            errors.append(exc)

    with arunner.Runner(mode="thread") as runner:
        threads = [threading.Thread(target=call, args=(runner, i)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    assert results == {i * 100 + j: i + j for i in range(8) for j in range(20)}


# -- engine choice ----------------------------------------------------------------


def test_auto_is_inline_without_a_running_loop() -> None:
    with arunner.Runner() as runner:
        assert runner.engine == "inline"
        assert runner.thread is None
        assert "engine='inline'" in repr(runner)


def test_auto_offloads_to_a_thread_inside_a_running_loop() -> None:
    runner = arunner.Runner()

    async def inside_a_running_loop() -> int:
        return runner.run(add(40, 2))

    outer = asyncio.new_event_loop()
    try:
        assert outer.run_until_complete(inside_a_running_loop()) == 42
    finally:
        outer.close()
    assert runner.engine == "thread"
    assert "engine='thread'" in repr(runner)
    runner.close()


def test_inline_inside_a_running_loop_raises_the_documented_error() -> None:
    runner = arunner.Runner(mode="inline")

    async def inside() -> None:
        coro = add(1, 1)
        with pytest.raises(RuntimeError) as info:
            runner.run(coro)
        message = str(info.value)
        assert message.startswith(
            "Runner.run() cannot be called from a running event loop."
        )
        assert "mode='thread'" in message

    outer = asyncio.new_event_loop()
    try:
        outer.run_until_complete(inside())
    finally:
        outer.close()
        runner.close()


def test_thread_engine_uses_one_named_thread_for_its_whole_life() -> None:
    async def thread_name() -> str:
        return threading.current_thread().name

    with arunner.Runner(mode="thread") as runner:
        names = {runner.run(thread_name()) for _ in range(5)}
        assert names == {runner.thread.name}  # type: ignore[union-attr]
        assert names.pop().startswith("arunner-loop-")
        assert runner.thread.daemon  # type: ignore[union-attr]


def test_thread_engine_keeps_background_tasks_running_between_runs() -> None:
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    async def start() -> None:
        asyncio.get_running_loop().create_task(ticker())

    with arunner.Runner(mode="thread") as runner:
        runner.run(start())
        seen = len(ticks)
        deadline = time.monotonic() + 10
        while len(ticks) < seen + 5 and time.monotonic() < deadline:
            time.sleep(0.01)  # the caller is busy with something else
        assert len(ticks) >= seen + 5


def test_run_from_the_runners_own_loop_thread_is_a_clear_error() -> None:
    with arunner.Runner(mode="thread") as runner:

        async def reenter() -> None:
            runner.run(add(1, 1))

        with pytest.raises(RuntimeError, match=r"own loop thread.*await coro"):
            runner.run(reenter())
        assert runner.run(add(1, 1)) == 2


def test_run_inside_an_inline_run_is_the_running_loop_error() -> None:
    with arunner.Runner(mode="inline") as runner:

        async def reenter() -> None:
            runner.run(add(1, 1))

        with pytest.raises(RuntimeError, match="cannot be called from a running"):
            runner.run(reenter())
        assert runner.run(add(1, 1)) == 2


def test_no_global_patching_and_no_policy_calls(
    runner: arunner.Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    originals = (
        asyncio.run,
        asyncio.Task,
        asyncio.Future,
        asyncio.BaseEventLoop.run_until_complete,
        asyncio.Runner.run,
    )
    policy_calls: list[str] = []
    # asyncio.new_event_loop() (the documented default factory) is fine; what
    # must not happen is touching the thread's current loop or the policy.
    for name in ("set_event_loop", "get_event_loop", "set_event_loop_policy"):
        original = getattr(asyncio, name)

        def record(*args: object, _name: str = name, _orig: Any = original) -> Any:
            policy_calls.append(_name)
            return _orig(*args)

        monkeypatch.setattr(asyncio, name, record)
        monkeypatch.setattr(asyncio.events, name, record)
    assert runner.run(add(1, 2)) == 3
    runner.close()
    assert policy_calls == []
    assert originals == (
        asyncio.run,
        asyncio.Task,
        asyncio.Future,
        asyncio.BaseEventLoop.run_until_complete,
        asyncio.Runner.run,
    )

"""CPython's own ``test_asyncio/test_runners.py``, run against arunner.Runner.

The way uvloop runs asyncio's suite on its loop: the running interpreter's
copy of the file is imported unmodified, once per engine, and in each copy
the module's global ``asyncio`` is replaced by a proxy of the real asyncio
whose ``Runner`` and ``run`` are arunner's (the real asyncio module is never
touched).  Its TestCase classes are collected here as ``RunTests_inline``,
``RunnerTests_thread`` and so on.

EXPECTED_DIFFERENCES lists what arunner does differently on purpose.  Those
tests are strict xfails: when one starts passing, the run fails until the
entry is removed.  Every other test must pass; a failure is a bug.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import functools
import importlib.util
import sys
import sysconfig
import threading
import types
import unittest
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest

import arunner

T = TypeVar("T")

pytestmark = pytest.mark.conformance

Engine = Literal["inline", "thread"]
ENGINES: tuple[Engine, ...] = ("inline", "thread")

_NO_POLICY = (
    "arunner makes no event-loop-policy calls, so the policy's set_event_loop "
    "is never called"
)
_ANY_AWAITABLE = (
    "arunner accepts any awaitable and raises TypeError for anything else, as "
    "Python 3.14's asyncio.Runner does; older asyncio raises ValueError"
    if sys.version_info < (3, 14)
    else "arunner's TypeError says what it got instead (and, for a coroutine "
    "function, to call it), where asyncio's says 'an awaitable is required'"
)

#: Test id ("Class.test_name" for both engines, "Class_<engine>.test_name" for
#: one) -> why arunner differs on purpose.  Keep it short: anything else that
#: fails is a bug to fix, not an entry to add.
EXPECTED_DIFFERENCES: dict[str, str] = {
    "RunTests.test_asyncio_run_set_event_loop": _NO_POLICY,
    "RunnerTests.test_set_event_loop_called_once": _NO_POLICY,
    "RunTests.test_asyncio_run_only_coro": _ANY_AWAITABLE,
    "RunnerTests.test_run_non_coro": _ANY_AWAITABLE,
    "RunnerTests.test_custom_factory": (
        "arunner checks that loop_factory returns an asyncio event loop and "
        "says what it got instead, so a Mock standing in for a loop is refused"
    ),
    "RunnerTests.test_recursive_run": (
        "arunner closes a coroutine it refuses, so there is no 'coroutine ... "
        "was never awaited' warning"
    ),
}
if sys.version_info < (3, 14):  # from 3.14 asyncio runs a Future too, as arunner
    EXPECTED_DIFFERENCES["RunnerTests.test_run_future"] = (
        "arunner accepts a Future of its own loop and waits for it, and this "
        "test's future is never resolved, so run() waits until interrupted"
    )

#: Seconds an expected difference that shows as a wait (not an error) may
#: take before the test interrupts it.
_WAIT_TIMEOUT = 1.0
_WAITS = {"RunnerTests.test_run_future"}


# -- asyncio, with Runner and run from arunner ------------------------------------


def asyncio_on_arunner(mode: Engine) -> types.ModuleType:
    """A stand-in for the asyncio module: the real one, but for Runner and run."""

    class Runner(arunner.Runner):
        """asyncio.Runner's signature, on arunner.Runner with one engine."""

        def __init__(
            self,
            *,
            debug: bool | None = None,
            loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
        ) -> None:
            super().__init__(mode=mode, debug=debug, loop_factory=loop_factory)
            _runners.add(self)

    def run(
        main: Awaitable[T],
        *,
        debug: bool | None = None,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
    ) -> T:
        """asyncio.run: a new loop for ``main``, closed at the end."""
        if asyncio.events._get_running_loop() is not None:
            # Documented: it cannot be called when another loop is running
            # in the same thread (asyncio checks before creating a runner).
            raise RuntimeError(
                "asyncio.run() cannot be called from a running event loop"
            )
        with Runner(debug=debug, loop_factory=loop_factory) as runner:
            return runner.run(main)

    class AsyncioOnArunner(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

    proxy = AsyncioOnArunner("asyncio", asyncio.__doc__)
    proxy.Runner = Runner  # type: ignore[attr-defined]
    proxy.run = run  # type: ignore[attr-defined]
    return proxy


# -- CPython's test module ----------------------------------------------------------


def _cpython_test_runners() -> Path:
    """The running interpreter's own test_asyncio/test_runners.py, or skip."""
    try:
        import test.test_asyncio
    except ImportError as exc:
        pytest.skip(
            f"this interpreter has no stdlib 'test' package ({exc}); "
            "install its test suite (Debian: libpython3.X-testsuite)",
            allow_module_level=True,
        )
    path = Path(test.test_asyncio.__file__).with_name("test_runners.py")
    stdlib = Path(sysconfig.get_path("stdlib")).resolve()
    if not path.resolve().is_relative_to(stdlib):
        pytest.skip(
            f"'test.test_asyncio' comes from {path.parent}, not from this "
            f"interpreter's stdlib {stdlib}",
            allow_module_level=True,
        )
    if not path.is_file():
        pytest.skip(f"{path} does not exist", allow_module_level=True)
    return path


def load_test_module(path: Path, mode: Engine) -> types.ModuleType:
    """Import ``path`` as it is, then give it arunner's asyncio for ``mode``."""
    spec = importlib.util.spec_from_file_location(f"_cpython_test_runners_{mode}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Its functions look ``asyncio`` up in the module's globals when called.
    module.asyncio = asyncio_on_arunner(mode)  # type: ignore[attr-defined]
    return module


def _test_cases(module: types.ModuleType) -> dict[str, type[unittest.TestCase]]:
    return {
        name: obj
        for name, obj in vars(module).items()
        if isinstance(obj, type)
        and issubclass(obj, unittest.TestCase)
        and obj.__module__ == module.__name__
        and any(attr.startswith("test") for attr in vars(obj))
    }


#: Every runner the proxies created, so that a failed test's can be closed.
_runners: weakref.WeakSet[arunner.Runner] = weakref.WeakSet()


def _close_leftover_runners() -> None:
    """Close the runners a failing test left open, quietly: it failed already.

    Otherwise their loop thread would fail the leak check at teardown and
    their unclosed loop warn during some later test.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for runner in list(_runners):
            runner.close()


def _as_collected(
    method: Callable[[unittest.TestCase], object],
    *,
    expected_to_fail: bool,
    waits: bool = False,
) -> Callable[[unittest.TestCase], object]:
    """Run a test method as it is, with four allowances for running under pytest.

    * A KeyboardInterrupt it lets out is a failure: these tests interrupt
      the process on purpose, and pytest would take one that leaves a test
      for the user's Ctrl-C and stop the whole run.
    * If it fails, the runners it left open are closed.
    * In an expected failure ``subTest`` is a plain block, so that a failing
      subtest fails the test: pytest's xfail mark does not reach subtests.
    * A test that ``waits`` is interrupted after :data:`_WAIT_TIMEOUT`, as
      a user would: the first interrupt only cancels the run, so it cannot be
      lost the way pytest-timeout's exception is when it lands in a gc
      callback (Hypothesis leaves one), which swallows it.  CPython's mocked
      loops never sleep, so that left the test spinning, filling memory.
    """

    @functools.wraps(method)
    def test(self: unittest.TestCase) -> object:
        if expected_to_fail:
            self.subTest = _plain_block  # type: ignore[method-assign]
        stopping = _interrupted_after(_WAIT_TIMEOUT) if waits else _plain_block()
        try:
            with stopping:
                return method(self)
        except KeyboardInterrupt as exc:
            _close_leftover_runners()
            raise AssertionError(
                "KeyboardInterrupt escaped the test; the test expected otherwise"
            ) from exc
        except BaseException:
            _close_leftover_runners()
            raise

    return test


@contextlib.contextmanager
def _interrupted_after(seconds: float) -> Iterator[None]:
    """Interrupt the main thread once, if this has not ended within ``seconds``."""
    lock = threading.Lock()
    pending = [True]

    def interrupt() -> None:
        with lock:
            if pending[0]:
                _thread.interrupt_main()

    timer = threading.Timer(seconds, interrupt)
    timer.start()
    try:
        yield
    finally:
        with lock:
            pending[0] = False
        timer.cancel()
        timer.join()


def _plain_block(msg: object = None, **params: object) -> contextlib.nullcontext[None]:
    return contextlib.nullcontext()


def _for_engine(
    name: str, case: type[unittest.TestCase], mode: Engine
) -> type[unittest.TestCase]:
    """``case`` under the name ``<name>_<mode>``, its expected differences marked."""
    namespace: dict[str, object] = {"__module__": __name__}
    for attr in dir(case):
        if not attr.startswith("test"):
            continue
        ids = (f"{name}_{mode}.{attr}", f"{name}.{attr}")
        reason = next(filter(None, map(EXPECTED_DIFFERENCES.get, ids)), None)
        _unmatched.difference_update(ids)
        method = _as_collected(
            getattr(case, attr),
            expected_to_fail=bool(reason),
            waits=reason is not None and f"{name}.{attr}" in _WAITS,
        )
        if reason is not None:
            method = pytest.mark.xfail(strict=True, reason=reason)(method)
        namespace[attr] = method
    return type(f"{name}_{mode}", (case,), namespace)


def _collect() -> dict[str, type[unittest.TestCase]]:
    path = _cpython_test_runners()
    collected: dict[str, type[unittest.TestCase]] = {}
    for mode in ENGINES:
        module = load_test_module(path, mode)
        _modules.append(module)
        for name, case in _test_cases(module).items():
            engine_case = _for_engine(name, case, mode)
            collected[engine_case.__name__] = engine_case
    if _unmatched:
        raise LookupError(
            f"EXPECTED_DIFFERENCES names tests that {path} does not have: "
            f"{sorted(_unmatched)}; remove them"
        )
    return collected


_modules: list[types.ModuleType] = []
_unmatched = set(EXPECTED_DIFFERENCES)
globals().update(_collect())


def tearDownModule() -> None:
    """Run the CPython modules' own module teardown, as unittest would."""
    for module in _modules:
        teardown = getattr(module, "tearDownModule", None)
        if teardown is not None:
            teardown()

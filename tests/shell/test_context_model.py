"""The context sync against a model: the whole notebook as one Context.

Hypothesis runs random sequences of ``set``, ``reset`` and ``get`` in plain,
``%arun``, ``%%arun`` and ``%%arun --sync`` cells, with interrupted,
abandoned (stopped twice) and timed-out ``%%arun`` cells in between, in the
in-process shell with the thread engine (as in a kernel), and checks each
step against a model in which the notebook is one ``contextvars.Context``.
It allows the differences documented in docs/how-it-works.md ("The
persistent context"): a Token resets only in the Context that made it,
which plain and ``--sync`` cells share, and ``%arun`` and ``%%arun`` cells
share until a run is abandoned (reset elsewhere, it raises ValueError and
changes nothing); and the runner's side keeps a value it held when a run
was abandoned if the shell's side resets it to none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.shell.conftest import Shell

KINDS = ("plain", "%arun", "%%arun", "--sync")

#: The Context each kind of cell runs in.
CONTEXT_OF = {
    "plain": "shell",
    "--sync": "shell",
    "%arun": "runner",
    "%%arun": "runner",
}

#: What ``get`` shows for a variable without a value.
NONE = "<none>"

VARIABLES = st.sampled_from(("a", "b"))
VALUES = st.sampled_from(("x", "y", "z"))


def cell(kind: str, code: str) -> str:
    """A cell of ``kind`` that runs ``code``: ``EXPRESSION`` or ``NAME = EXPRESSION``.

    An ``%arun`` cell evaluates the expression on the runner, and assigns
    its value in the shell.
    """
    if kind == "%arun":
        target, _, expression = code.rpartition(" = ")
        line = f"%arun asyncio.sleep(0, {expression})"
        return f"{target} = {line}" if target else line
    if kind == "plain":
        return code
    if kind == "--sync":
        return f"%%arun --sync\n{code}"
    return f"%%arun\nawait asyncio.sleep(0)\n{code}"


@dataclass
class Token:
    name: str
    variable: str
    old: str | None
    #: the Context that made it: "shell", or the runner's "runner N"
    context: str
    used: bool = False


class Cells(Protocol):
    """How the machine runs cells: in the in-process shell, or in a kernel."""

    #: The line of an interrupted cell that presses stop once (or proves
    #: that the cell started, where the test presses it).
    stop: str
    #: What a cell that will not stop passes to ``stubborn`` to be stopped
    #: a second time (None where the test presses stop twice).
    again: str

    def ok(self, source: str) -> None: ...

    def failure(self, source: str) -> tuple[str, str]:
        """Run a cell that fails: the error's name, and what the cell said."""
        ...

    def interrupted(self, source: str, *, times: int = 1) -> str:
        """Run a cell that is stopped ``times`` times: the error's name."""
        ...

    def seen(self) -> str:
        """The repr of the notebook's ``seen``."""
        ...


class ShellCells:
    stop = "_thread.interrupt_main()  # the stop button"
    again = "stop_again"

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def ok(self, source: str) -> None:
        self.shell.ok(source)

    def failure(self, source: str) -> tuple[str, str]:
        error = self.shell.error(source)
        return type(error).__name__, str(error)

    def interrupted(self, source: str, *, times: int = 1) -> str:
        return self.failure(source)[0]

    def seen(self) -> str:
        return repr(self.shell.ns["seen"])


class Notebook(RuleBasedStateMachine):
    """A notebook's cells against the model: one Context's values.

    The model keeps what each side sees, which is the same but for the one
    documented case where the runner's side keeps a value it cannot lose
    (docs/how-it-works.md): a variable it held when a run was abandoned,
    which the runner's side keeps when the shell's is reset to none.
    """

    cells: Cells
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.views: dict[str, dict[str, str]] = {"shell": {}, "runner": {}}
        #: the runner's side changes Context when a run is abandoned
        self.runner_context = 0
        #: variables the runner's side cannot lose (see above)
        self.pinned: set[str] = set()
        self.count = 0

    @initialize()
    def new_variables(self) -> None:
        # New ContextVars for each example; the runner already exists, so
        # every value below is given by a cell.
        self.cells.ok(
            "a = contextvars.ContextVar('a')\nb = contextvars.ContextVar('b')"
        )

    def side(self, kind: str) -> str:
        """The side a kind of cell runs on; a call on the runner's side
        first takes what the shell's side holds (but a pinned value)."""
        side = CONTEXT_OF[kind]
        if side == "runner":
            shell, runner = self.views["shell"], self.views["runner"]
            kept = {v: runner[v] for v in self.pinned & runner.keys() - shell.keys()}
            self.views["runner"] = {**shell, **kept}
        return side

    def context(self, side: str) -> str:
        return "shell" if side == "shell" else f"runner {self.runner_context}"

    def change(self, side: str, variable: str, value: str | None) -> None:
        """A change on one side; the runner's goes out to the shell's as the
        call ends, the shell's reaches the runner's at its next call.  A
        value is no change where it is the one there already (the same
        object: these strings are interned), which only a pinned value
        can make differ from the shell's side."""
        view = self.views[side]
        if view.get(variable) == value:
            return
        for changed in {side, "shell"}:
            if value is None:
                self.views[changed].pop(variable, None)
            else:
                self.views[changed][variable] = value

    def check(self, kind: str, variable: str) -> None:
        side = self.side(kind)
        self.cells.ok(cell(kind, f"seen = {variable}.get({NONE!r})"))
        expected = self.views[side].get(variable, NONE)
        assert self.cells.seen() == repr(expected), (kind, variable)

    @rule(target=tokens, kind=st.sampled_from(KINDS), variable=VARIABLES, value=VALUES)
    def set(self, kind: str, variable: str, value: str) -> Token:
        side = self.side(kind)
        self.count += 1
        name = f"token_{self.count}"
        self.cells.ok(cell(kind, f"{name} = {variable}.set({value!r})"))
        old = self.views[side].get(variable)
        token = Token(name, variable, old, self.context(side))
        self.change(side, variable, value)
        return token

    @rule(kind=st.sampled_from(KINDS), token=tokens)
    def reset(self, kind: str, token: Token) -> None:
        side = self.side(kind)
        source = cell(kind, f"{token.variable}.reset({token.name})")
        if token.used:
            assert self.cells.failure(source)[0] == "RuntimeError"
        elif self.context(side) != token.context:  # the documented difference
            name, said = self.cells.failure(source)
            assert name == "ValueError"
            assert "was created in a different Context" in said
        else:
            self.cells.ok(source)
            token.used = True
            self.change(side, token.variable, token.old)

    @rule(kind=st.sampled_from(KINDS), variable=VARIABLES)
    def get(self, kind: str, variable: str) -> None:
        self.check(kind, variable)

    @rule(variable=VARIABLES, value=VALUES, how=st.sampled_from(("stop", "timeout")))
    def stopped(self, variable: str, value: str, how: str) -> None:
        """A %%arun cell stopped once, or by its --timeout, after a set."""
        self.side("%%arun")
        if how == "stop":
            source = (
                f"%%arun\n{variable}.set({value!r})\n{self.cells.stop}\n"
                "await asyncio.sleep(30)"
            )
            assert self.cells.interrupted(source) == "KeyboardInterrupt"
        else:
            name, _ = self.cells.failure(
                f"%%arun --timeout 0.01\n{variable}.set({value!r})\n"
                "await asyncio.sleep(30)"
            )
            assert name == "TimeoutError"
        self.change("runner", variable, value)

    # One a sequence: each is slow (two stops), and each leaves the Tokens
    # of the runner's side behind, which most sequences need.
    @precondition(lambda self: self.runner_context == 0)
    @rule(variable=VARIABLES, value=VALUES)
    def abandoned(self, variable: str, value: str) -> None:
        self.side("%%arun")
        source = (
            f"%%arun\n{variable}.set({value!r})\n{self.cells.stop}\n"
            f"await stubborn({self.cells.again})"
        )
        assert self.cells.interrupted(source, times=2) == "KeyboardInterrupt"
        # What it had set reaches both sides; the runner goes on in a copy
        # of its context, where the sync has no Token to take a value away.
        self.change("runner", variable, value)
        self.runner_context += 1
        self.pinned |= self.views["runner"].keys()

    def teardown(self) -> None:
        try:
            for kind in KINDS:
                for variable in ("a", "b"):
                    self.check(kind, variable)
        finally:
            self.cells.ok("%arun release()")


#: The notebook's first cell, after which the runner and its context exist.
SETUP = """
import _thread, asyncio, contextvars

abandoned = []  # (main task, event) of the runs that would not stop

async def stubborn(again):
    \"""Swallow every cancellation until released; call again() at the first.\"""
    released = asyncio.Event()
    abandoned.append((asyncio.current_task(), released))
    stopped = False
    while not released.is_set():
        try:
            await released.wait()
        except asyncio.CancelledError:
            if again is not None and not stopped:
                again()
            stopped = True

async def release():
    \"""End the runs that would not stop, and wait until they have.\"""
    tasks = [task for task, _ in abandoned]
    for _, released in abandoned:
        released.set()
    abandoned.clear()
    if tasks:
        await asyncio.wait(tasks)

def stop_again():
    asyncio.get_running_loop().call_later(0.05, _thread.interrupt_main)

%arun asyncio.sleep(0)  # the runner and its context exist from here
"""


def check_against_the_model(cells: Cells, *, examples: int, steps: int) -> None:
    """Run the machine on ``cells``: ``examples`` sequences of ``steps`` cells."""
    machine = type("Notebook", (Notebook,), {"cells": cells})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=True,
            database=None,
            # Not shrunk: a failing sequence is short enough to read as it
            # comes, and shrinking one with stops in it outlasts the
            # test's timeout.
            phases=(Phase.explicit, Phase.generate),
        ),
    )


def test_the_context_sync_agrees_with_one_context(shell: Shell) -> None:
    shell.ok("%config ARunMagics.mode = 'thread'  # as in a kernel")
    shell.ok(SETUP)
    check_against_the_model(ShellCells(shell), examples=100, steps=15)

"""The context sync against a model: the whole notebook as one Context.

Hypothesis runs random sequences of ``set``, ``reset`` and ``get`` in plain,
``%arun``, ``%%arun`` and ``%%arun --sync`` cells, with interrupted and
timed-out ``%%arun`` cells in between, in the in-process shell with the
thread engine (as in a kernel), and checks each step against a model in
which the notebook is one ``contextvars.Context``.  The one documented
difference (docs/differences.md): a Token resets only in the Context that
made it, which plain and ``--sync`` cells share, and ``%arun`` and
``%%arun`` cells share; reset in a cell of the other pair, it raises
ValueError and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
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
    context: str
    used: bool = False


class Notebook(RuleBasedStateMachine):
    """One shell's cells against the model: a dict of the variables' values."""

    shell: Shell
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, str] = {}
        self.count = 0

    @initialize()
    def new_variables(self) -> None:
        # New ContextVars for each example; the runner already exists, so
        # every value below is given by a cell.
        self.shell.ok(
            "a = contextvars.ContextVar('a')\nb = contextvars.ContextVar('b')"
        )

    def run(self, source: str) -> Any:
        return self.shell.ok(source)

    def check(self, kind: str, variable: str) -> None:
        self.run(cell(kind, f"seen = {variable}.get({NONE!r})"))
        shown = self.shell.ns["seen"]
        assert shown == self.model.get(variable, NONE), (kind, variable)

    @rule(target=tokens, kind=st.sampled_from(KINDS), variable=VARIABLES, value=VALUES)
    def set(self, kind: str, variable: str, value: str) -> Token:
        self.count += 1
        name = f"token_{self.count}"
        self.run(cell(kind, f"{name} = {variable}.set({value!r})"))
        token = Token(name, variable, self.model.get(variable), CONTEXT_OF[kind])
        self.model[variable] = value
        return token

    @rule(kind=st.sampled_from(KINDS), token=tokens)
    def reset(self, kind: str, token: Token) -> None:
        source = cell(kind, f"{token.variable}.reset({token.name})")
        if token.used:
            error = self.shell.error(source)
            assert isinstance(error, RuntimeError), error
        elif CONTEXT_OF[kind] != token.context:  # the documented difference
            error = self.shell.error(source)
            assert isinstance(error, ValueError), error
            assert "was created in a different Context" in str(error)
        else:
            self.run(source)
            token.used = True
            if token.old is None:
                self.model.pop(token.variable, None)
            else:
                self.model[token.variable] = token.old

    @rule(kind=st.sampled_from(KINDS), variable=VARIABLES)
    def get(self, kind: str, variable: str) -> None:
        self.check(kind, variable)

    @rule(variable=VARIABLES, value=VALUES)
    def interrupted(self, variable: str, value: str) -> None:
        error = self.shell.error(
            "%%arun\n"
            f"{variable}.set({value!r})\n"
            "_thread.interrupt_main()  # the stop button, once\n"
            "await asyncio.sleep(30)"
        )
        assert isinstance(error, KeyboardInterrupt), error
        self.model[variable] = value

    @rule(variable=VARIABLES, value=VALUES)
    def timed_out(self, variable: str, value: str) -> None:
        error = self.shell.error(
            f"%%arun --timeout 0.01\n{variable}.set({value!r})\nawait asyncio.sleep(30)"
        )
        assert isinstance(error, TimeoutError), error
        self.model[variable] = value

    def teardown(self) -> None:
        for kind in KINDS:
            for variable in ("a", "b"):
                self.check(kind, variable)


@pytest.fixture
def notebook(shell: Shell) -> Shell:
    shell.ok("%config ARunMagics.mode = 'thread'")
    shell.ok(
        "import _thread, asyncio, contextvars\n"
        "%arun asyncio.sleep(0)  # the runner and its context exist from here"
    )
    return shell


def test_the_context_sync_agrees_with_one_context(notebook: Shell) -> None:
    Notebook.shell = notebook
    run_state_machine_as_test(
        Notebook,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            database=None,
        ),
    )

"""A %%arun cell's error looks like a plain cell's: as typed, from its own line.

That holds for a cell routed by ``%arun --auto on`` too, which has no
%%arun line at all.
"""

from __future__ import annotations

import linecache
import re
import sys

import pytest

from tests.shell.conftest import Shell

FAILING = "import asyncio\nawait asyncio.sleep(0)\n1/0"


@pytest.fixture
def routed(shell: Shell) -> Shell:
    shell.ok("%arun --auto on")
    return shell


def _shown(capsys: pytest.CaptureFixture[str]) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)


def _first_frame(shown: str, count: int | None) -> list[str]:
    """The lines of the first frame of the traceback in ``shown``, checking
    that its header names cell ``count`` (IPython 8+) or an IPython input
    (IPython 7 says no more)."""
    lines = shown.split("Traceback (most recent call last)\n", 1)[1].splitlines()
    header, frame = lines[0], lines[1 : lines.index("")]
    assert header.startswith((f"Cell In[{count}], line ", "<ipython-input-")), shown
    return [header, *frame]


def test_a_routed_cell_numbers_its_lines_as_typed(
    routed: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    result = routed.run(FAILING)
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    shown = _shown(capsys)
    frame = _first_frame(shown, result.execution_count)
    assert frame[0].endswith(("line 3", "in <module>"))
    assert frame[1:] == [
        "      1 import asyncio",
        "      2 await asyncio.sleep(0)",
        "----> 3 1/0",
    ]
    assert "run_cell_magic" not in shown
    assert "%%arun" not in shown


def test_a_routed_cells_source_is_the_text_typed(routed: Shell) -> None:
    routed.ok(
        "await asyncio.sleep(0)\n"
        "import sys\n"
        "where = sys._getframe().f_code.co_filename\n"
    )
    where = routed.ns["where"]
    assert linecache.getline(where, 1) == "await asyncio.sleep(0)\n"
    assert linecache.getline(where, 3) == "where = sys._getframe().f_code.co_filename\n"


def test_a_typed_cells_error_starts_at_the_cell_and_is_its_own(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    result = shell.run(f"%%arun\n{FAILING}")
    shown = _shown(capsys)
    assert shown.count("Traceback") == 1
    assert "run_cell_magic" not in shown
    assert _first_frame(shown, result.execution_count)[-1] == "----> 4 1/0"
    # the cell failed with the error itself, as a plain cell does
    error = result.error_in_exec
    assert type(error) is ZeroDivisionError
    assert not result.success
    assert shell.ip.last_execution_succeeded is False
    assert sys.last_value is error
    # %debug steps over the first frame, IPython's: the next is the cell's
    tb = sys.last_traceback
    assert tb is not None
    assert tb.tb_next is not None
    assert tb.tb_next.tb_lineno == 4
    assert tb.tb_next.tb_frame.f_code.co_filename.startswith("<ipython-input-")
    # Called from code, the magic raises to its caller as magics do.
    shell.ok(
        "try:\n"
        "    get_ipython().run_cell_magic('arun', '', '1/0')\n"
        "except ZeroDivisionError as error:\n"
        "    caught = error\n"
    )
    assert isinstance(shell.ns["caught"], ZeroDivisionError)
    assert "Traceback" not in _shown(capsys)

"""The code in docs/ runs and prints what the docs say it prints.

Fenced blocks in docs/**/*.md are examples, by their language:

* ``python``: a complete script, run in a fresh interpreter;
* ``python title="ipython_config.py"`` (any title ending in ``_config.py``):
  an IPython config file, executed and then checked against the traits it sets;
* ``ipython``: one notebook cell; the cells of a page run in order in one
  fresh IPython shell, inside a running event loop as in a kernel (arunner
  is loaded first unless a cell of the page loads it).

A block ``text title="Output"`` right after an example is what it must print
(a cell's displayed value included; ``...`` matches anything).  A cell that
fails must say so: its Output ends with ``ErrorName: message``.  A comment
line right before a block changes how it runs:

* ``<!-- docs-test: skip REASON -->`` does not run it, and says why;
* ``<!-- docs-test: interrupt after "TEXT" -->`` sends SIGINT, as the stop
  button does, once the cell has printed TEXT (``interrupt twice after``:
  two, a moment apart).

Each page's cells run in a subprocess: the in-process shell of the shell
tier is a singleton that only its own session fixture may start, and a
process of their own gives the cells a real main thread to interrupt.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: Seconds one example (a script, or all cells of a page) may take.
EXAMPLE_TIMEOUT = 45

_FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>`{3,})\s*(?P<lang>[\w-]*)(?P<rest>.*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]*)"')
_DIRECTIVE = re.compile(r"^\s*<!-- docs-test: (?P<directive>.+?) -->\s*$")
_INTERRUPT = re.compile(r'^interrupt (?P<twice>twice )?after "(?P<text>.+)"$')
_OUT_PROMPT = re.compile(r"^Out\[\d+\]: ?\n?", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One fenced block of a page, with what it must print and how to run it."""

    page: str
    line: int
    lang: str
    title: str
    code: str
    directive: str = ""
    output: str | None = None

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        if not self.directive.startswith("skip"):
            return None
        reason = self.directive.removeprefix("skip").strip()
        if not reason:
            raise ValueError(f"{self.where}: 'docs-test: skip' needs a reason")
        return reason

    @property
    def interrupts(self) -> tuple[str | None, int]:
        """The text after which to press stop, and how many times."""
        match = _INTERRUPT.match(self.directive)
        if match is None:
            return None, 0
        return match["text"], 2 if match["twice"] else 1

    @property
    def is_output(self) -> bool:
        return self.lang == "text" and self.title == "Output"

    @property
    def is_config(self) -> bool:
        return self.lang == "python" and self.title.endswith("_config.py")


def parse(page: Path, root: Path = DOCS) -> list[Block]:
    """The examples of a page, each with the Output block that follows it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    name = page.relative_to(root).as_posix()
    blocks: list[tuple[Block, int]] = []  # with the line after the closing fence
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        indent, ticks = len(fence["indent"]), fence["ticks"]
        end = index + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        title = _TITLE.search(fence["rest"])
        directive = _DIRECTIVE.match(lines[index - 1]) if index else None
        block = Block(
            page=name,
            line=index + 1,
            lang=fence["lang"],
            title=title["title"] if title else "",
            code="\n".join(line[indent:] for line in lines[index + 1 : end]) + "\n",
            directive=directive["directive"] if directive else "",
        )
        blocks.append((block, end + 1))
        index = end + 1
    return _attach_outputs(blocks, lines)


def _attach_outputs(blocks: list[tuple[Block, int]], lines: list[str]) -> list[Block]:
    examples: list[Block] = []
    outputs: set[int] = set()
    for position, (found, after) in enumerate(blocks):
        block = found
        if block.is_output:
            if position not in outputs:
                raise ValueError(
                    f"{block.where}: an Output block must follow a python or "
                    "ipython example directly"
                )
            continue
        if position + 1 < len(blocks) and block.lang in {"python", "ipython"}:
            following = blocks[position + 1][0]
            gap = lines[after : following.line - 1]
            if following.is_output and not any(line.strip() for line in gap):
                outputs.add(position + 1)
                block = replace(block, output=following.code)
        examples.append(block)
    return examples


def _all_blocks() -> list[Block]:
    return [block for page in sorted(DOCS.rglob("*.md")) for block in parse(page)]


BLOCKS = _all_blocks()
SCRIPTS = [b for b in BLOCKS if b.lang == "python" and not b.is_config]
CONFIGS = [b for b in BLOCKS if b.is_config]
PAGES = sorted({b.page for b in BLOCKS if b.lang == "ipython"})


def _param(block: Block) -> Any:
    reason = block.skip_reason
    marks = [pytest.mark.skip(reason=reason)] if reason else []
    return pytest.param(block, id=block.where, marks=marks)


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is ``expected``; ``...`` in ``expected`` matches anything."""
    expected, actual = _normalise(expected), _normalise(actual)
    if "..." not in expected:
        return expected == actual
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def _check_output(block: Block, actual: str) -> None:
    assert block.output is not None
    assert matches(block.output, actual), (
        f"{block.where} printed\n{actual}\nbut the docs say\n{block.output}"
    )


# -- the docs are parsed as intended ---------------------------------------------------


def test_the_docs_have_examples_of_every_kind() -> None:
    assert SCRIPTS, "no python example found in docs/"
    assert CONFIGS, "no config file example found in docs/"
    assert PAGES, "no ipython cell found in docs/"
    assert any(b.output is not None for b in SCRIPTS)
    assert any(b.output is not None for b in BLOCKS if b.lang == "ipython")


def test_a_stray_output_block_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "stray.md"
    page.write_text('```console\n$ ls\n```\n\n```text title="Output"\nhello\n```\n')
    with pytest.raises(ValueError, match="must follow a python or ipython"):
        parse(page, root=tmp_path)


def test_an_output_block_is_attached_to_the_example_before_it(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('```python\nprint("hi")\n```\n\n```text title="Output"\nhi\n```\n')
    [example] = parse(page, root=tmp_path)
    assert (example.lang, example.code, example.output) == (
        "python",
        'print("hi")\n',
        "hi\n",
    )


def test_ellipsis_matches_anything_and_nothing_else() -> None:
    assert matches("loop: ...\nthread: x", "loop: uvloop.Loop\nthread: x")
    assert not matches("loop: ...\nthread: x", "loop: uvloop.Loop\nthread: y")
    assert not matches("exact", "exactly")


# -- scripts ---------------------------------------------------------------------------


@pytest.mark.parametrize("block", [_param(b) for b in SCRIPTS])
def test_script_example(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block.code)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{block.where} failed:\n{done.stderr}"
    if block.output is not None:
        _check_output(block, done.stdout)


# -- config files ----------------------------------------------------------------------


@pytest.mark.parametrize("block", [_param(b) for b in CONFIGS])
def test_config_example(block: Block) -> None:
    """Every setting names a real configurable trait and passes its validation."""
    from IPython.core.shellapp import InteractiveShellApp
    from traitlets.config import Config

    from arunner.magics import ARunMagics

    configurables = {
        "ARunMagics": ARunMagics,
        "InteractiveShellApp": InteractiveShellApp,
    }
    c = Config()
    exec(compile(block.code, block.where, "exec"), {"c": c, "get_config": lambda: c})  # noqa: S102
    assert c, f"{block.where} sets nothing"
    for section, settings in c.items():
        assert section in configurables, f"{block.where}: unknown section {section}"
        known = configurables[section].class_trait_names(config=True)
        assert set(settings) <= set(known), f"{block.where}: unknown {section} trait"
    magics = ARunMagics(config=c)
    for name, value in c.ARunMagics.items():
        assert getattr(magics, name) == value


# -- notebook cells --------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_notebook_cells(page: str, tmp_path: Path) -> None:
    cells = [b for b in BLOCKS if b.page == page and b.lang == "ipython"]
    to_run = [asdict(cell) for cell in cells if cell.skip_reason is None]
    done = subprocess.run(
        [sys.executable, "-c", f"from {__name__} import main; main()"],
        input=json.dumps(to_run),
        cwd=ROOT,
        env={**os.environ, "IPYTHONDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"the cells of docs/{page} crashed:\n{done.stderr}"
    outcomes = json.loads(done.stdout.splitlines()[-1])
    for fields, outcome in zip(to_run, outcomes, strict=True):
        cell = Block(**fields)
        shown = outcome["text"] + outcome["error"]
        if outcome["error"]:
            said = _normalise(cell.output or "").splitlines() or [""]
            assert matches(said[-1], outcome["error"]), (
                f"{cell.where} failed with {outcome['error']}:\n{shown}"
            )
        if cell.output is not None:
            _check_output(cell, shown)


#: A person presses stop a moment after seeing the text, not in the same
#: microsecond; the shared Interrupter of tests/conftest.py waits as long.
PRESS_DELAY = 0.2


class _Watch(io.StringIO):
    """Captures a cell's output and presses stop once TEXT has been printed."""

    def __init__(self, trigger: str | None, presses: int) -> None:
        super().__init__()
        self._trigger = trigger
        self._presses = presses
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            written = super().write(text)
            if self._trigger is not None and self._trigger in self.getvalue():
                self._trigger = None
                presser = threading.Thread(target=_press_stop, args=(self._presses,))
                presser.start()
        return written


def _press_stop(times: int) -> None:
    """What the stop button does to a kernel: SIGINT to its main thread."""
    main_thread = threading.main_thread().ident
    assert main_thread is not None
    for _ in range(times):
        time.sleep(PRESS_DELAY)
        signal.pthread_kill(main_thread, signal.SIGINT)


def main() -> None:
    """In the subprocess: run the cells from stdin, print one JSON outcome list.

    The cells run inside a running event loop, as in a kernel, so that
    ``mode="auto"`` picks the thread engine and ``asyncio.run`` fails as it
    does there.  Unlike ``asyncio.run``, ``run_until_complete`` leaves SIGINT
    alone, so an interrupt reaches the cell as it does in a kernel.
    """
    from IPython.testing.globalipapp import start_ipython

    cells = [Block(**fields) for fields in json.load(sys.stdin)]
    ip = start_ipython()
    assert ip is not None
    ip._showtraceback = lambda *args: None  # the error's last line is enough
    ip.show_usage_error = lambda *args: None
    if not any("%load_ext arunner" in cell.code for cell in cells):
        ip.run_line_magic("load_ext", "arunner")

    async def like_a_kernel() -> list[dict[str, str]]:
        return [_run_cell(ip, cell) for cell in cells]

    loop = asyncio.new_event_loop()
    try:
        outcomes = loop.run_until_complete(like_a_kernel())
    finally:
        loop.close()
    ip.run_line_magic("unload_ext", "arunner")
    # On a line of its own: IPython 7.34's test shell sets the terminal title
    # (its default_config misspells the option that turns that off).
    print("\n" + json.dumps(outcomes), file=sys.__stdout__)


def _run_cell(ip: Any, cell: Block) -> dict[str, str]:
    watch = _Watch(*cell.interrupts)
    with contextlib.redirect_stdout(watch):
        result = ip.run_cell(cell.code, store_history=True)
    error = result.error_before_exec or result.error_in_exec
    text = _OUT_PROMPT.sub("", watch.getvalue())
    if error is not None and text and not text.endswith("\n"):
        text += "\n"
    return {"text": text, "error": "" if error is None else _error_line(error)}


def _error_line(error: BaseException) -> str:
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__

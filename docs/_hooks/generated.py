"""MkDocs hooks: the parts of the site that are generated from the code.

A page marks a place with a line of its own, ``<!-- generated: NAME -->``
(or ``<!-- generated: NAME ARGUMENT -->``), and this hook puts the text
there at build time, so that the magic and configuration references and
the doctor's sample output can never drift from ``%arun?``, the traits and
a real run.  It also brings the notebooks of
``src/arunner/notebooks/`` into the site: they live in the package, where
``python -m arunner notebooks`` copies them from, and the tests and the tour
run them on their own.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from markdown.extensions.toc import slugify
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "arunner"
NOTEBOOKS = PACKAGE / "notebooks"

#: The notebooks in reading order, with their nav titles (the notebooks' own
#: headings lose their code spans there); any others follow alphabetically.
NOTEBOOK_TITLES = {
    "quickstart.ipynb": "Quickstart",
    "background-tasks.ipynb": "Background tasks",
    "widgets.ipynb": "Awaiting widgets",
    "configuration.ipynb": "Configuration and modes",
    "migrating.ipynb": "Migrating from nest_asyncio and asyncio.run",
}

#: The nav section that lists the notebooks.
NOTEBOOK_SECTION = "Notebooks"

log = logging.getLogger("mkdocs.hooks.generated")

#: A marker is a line of its own, so that pages can mention one in code.
_MARKER = re.compile(
    r"^<!-- generated: (?P<name>[\w-]+)(?: (?P<argument>.*?))? -->$", re.MULTILINE
)


# -- the notebooks ---------------------------------------------------------------------


def _notebooks() -> list[str]:
    present = {path.name for path in NOTEBOOKS.glob("*.ipynb")}
    ordered = [name for name in NOTEBOOK_TITLES if name in present]
    return ordered + sorted(present - set(ordered))


def _title(notebook: str) -> str:
    default = Path(notebook).stem.replace("-", " ").capitalize()
    return NOTEBOOK_TITLES.get(notebook, default)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fill the Notebooks section of the nav with the notebooks that exist."""
    entries = [{_title(name): f"notebooks/{name}"} for name in _notebooks()]
    nav = config.nav or []
    for index, item in enumerate(nav):
        if isinstance(item, dict) and NOTEBOOK_SECTION in item:
            if entries:
                item[NOTEBOOK_SECTION] = entries
            else:
                log.info(
                    "no notebooks in %s yet: the Notebooks section is left out",
                    NOTEBOOKS,
                )
                del nav[index]
            break
    return config


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files: Files, config: MkDocsConfig) -> Files:
    for name in _notebooks():
        files.append(
            File(
                f"notebooks/{name}",
                src_dir=str(PACKAGE),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return files


# -- generated text --------------------------------------------------------------------


def on_page_markdown(
    markdown: str, page: Page, config: MkDocsConfig, files: Files
) -> str:
    def replace(match: re.Match[str]) -> str:
        generator = GENERATORS.get(match["name"])
        if generator is None:
            raise ValueError(
                f"{page.file.src_path}: unknown generated section {match['name']!r}; "
                f"known: {', '.join(sorted(GENERATORS))}"
            )
        return generator(match["argument"] or "", page)

    return _MARKER.sub(replace, markdown)


def _one_line(text: str) -> str:
    return " ".join(inspect.cleandoc(text).split())


def _magic_parser() -> argparse.ArgumentParser:
    from arunner.magics import ARunMagics

    parser: argparse.ArgumentParser = ARunMagics.arun.parser
    return parser


def magic_usage(argument: str, page: Page) -> str:
    """The synopsis and description that ``%arun?`` prints."""
    parser = _magic_parser()
    synopsis = inspect.cleandoc(parser.format_usage().replace("::", "", 1))
    description = inspect.cleandoc(parser.description or "")
    return f"```text\n{synopsis}\n```\n\n{description}\n"


def magic_options(argument: str, page: Page) -> str:
    """One row per option of ``%arun``, with the help text as ``%arun?`` shows it."""
    parser = _magic_parser()
    formatter = parser._get_formatter()
    rows = ["| option | what it does |", "| --- | --- |"]
    for action in parser._actions:
        if not action.option_strings:
            continue
        takes = (
            ""
            if action.nargs == 0
            else f" {formatter._format_args(action, action.dest.upper())}"
        )
        spelling = ", ".join(f"`{option}{takes}`" for option in action.option_strings)
        help_text = _one_line(formatter._expand_help(action)).replace("|", "\\|")
        rows.append(f"| {spelling} | {help_text} |")
    return "\n".join(rows) + "\n"


def _trait_type(trait: Any) -> str:
    values = getattr(trait, "values", None)
    if values is not None:
        kind = "one of " + ", ".join(f"`{value!r}`" for value in values)
    else:
        kind = {"Bool": "bool", "Unicode": "str", "Float": "float", "Int": "int"}.get(
            type(trait).__name__, trait.info()
        )
        kind = f"`{kind}`"
    return f"{kind} or `None`" if trait.allow_none else kind


def config_traits(argument: str, page: Page) -> str:
    """A section per configurable trait of ARunMagics: type, default, help."""
    from arunner.magics import ARunMagics

    sections = []
    for name, trait in sorted(ARunMagics.class_traits(config=True).items()):
        sections.append(
            f"### `{name}`\n\n"
            f"**Type:** {_trait_type(trait)} · "
            f"**default:** `{trait.default_value_repr()}` · "
            f"**set with:** `c.ARunMagics.{name} = ...`\n\n"
            f"{_one_line(trait.help)}\n"
        )
    return "\n".join(sections)


def doctor(argument: str, page: Page) -> str:
    """What ``python -m arunner doctor`` prints, from a real run in the build's
    environment, so that the sample can never go stale.

    The environment's own path is shown as ``~/.venv``, where a reader's
    would be; a doctor that fails or complains fails the build.
    """
    done = subprocess.run(
        [sys.executable, "-m", "arunner", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 or done.stderr:
        raise RuntimeError(
            f"{page.file.src_path}: python -m arunner doctor failed "
            f"(exit code {done.returncode}): {done.stderr}"
        )
    printed = done.stdout.replace(sys.prefix, "~/.venv").rstrip()
    return f"```console\n$ python -m arunner doctor\n{printed}\n```\n"


def optional_image(argument: str, page: Page) -> str:
    """An image that another part of the project produces, shown once it exists.

    The argument is ``PATH ALT TEXT`` with PATH relative to the page.  Until
    the file exists the page says nothing, so that the strict build passes
    before the browser tests have run for the first time.
    """
    path, _, alt = argument.partition(" ")
    image = Path(page.file.abs_src_path or "").parent / path
    if not image.is_file():
        log.info("%s: %s does not exist yet; left out", page.file.src_path, path)
        return ""
    return f"![{alt}]({path})"


def quote(argument: str, page: Page) -> str:
    """A section of another page, copied in at build time.

    The argument is ``PAGE HEADING``: the page's path relative to this one
    and the heading's text, e.g. ``benchmarks.md Interrupt to idle``.  The
    section runs to the next heading of the same or a higher level.  Quoting
    at build time keeps measured numbers in one place, the page that
    regenerates them; a heading that is no longer there fails the build.
    """
    path, _, heading = argument.partition(" ")
    source = Path(page.file.abs_src_path or "").parent / path
    lines = source.read_text(encoding="utf-8").splitlines()
    levels = [_heading_level(line) for line in lines]
    titles = [
        line[level + 1 :].strip() if level else ""
        for line, level in zip(lines, levels, strict=True)
    ]
    if heading not in titles:
        raise ValueError(f"{page.file.src_path}: no heading {heading!r} in {path}")
    start = titles.index(heading)
    end = next(
        (
            index
            for index in range(start + 1, len(lines))
            if 0 < levels[index] <= levels[start]
        ),
        len(lines),
    )
    anchor = slugify(heading.replace("`", ""), "-")
    body = "\n".join(lines[start + 1 : end]).strip()
    indented = "\n".join(f"    {line}" if line else "" for line in body.splitlines())
    title = heading.replace("`", "").replace('"', "'")
    source_link = f"    [{path}: {heading}]({path}#{anchor})"
    return f'!!! quote "{title}"\n\n{source_link}\n\n{indented}\n'


def _heading_level(line: str) -> int:
    """How many ``#`` open a Markdown heading line; 0 for any other line."""
    level = len(line) - len(line.lstrip("#"))
    return level if 0 < level <= 6 and line[level : level + 1] == " " else 0


GENERATORS: dict[str, Callable[[str, Page], str]] = {
    "magic-usage": magic_usage,
    "magic-options": magic_options,
    "config-traits": config_traits,
    "doctor": doctor,
    "optional-image": optional_image,
    "quote": quote,
}

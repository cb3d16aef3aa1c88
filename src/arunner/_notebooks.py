"""``python -m arunner notebooks [DIR]``: copy the example notebooks out.

The notebooks ship inside the package, so that someone who only ran ``pip
install ipython-arunner`` has them too; this command puts copies where
Jupyter can open them.  It never overwrites: a notebook already in DIR is
the user's, perhaps run and edited, so the command names the files in the
way and what to write instead, and copies nothing.
"""

from __future__ import annotations

import shutil
import sys
from importlib.resources import files
from pathlib import Path

__all__ = ["DEFAULT_DIR", "NotCopied", "copy_notebooks", "main", "shipped"]

#: Where the copies go when no DIR is given (relative to the current one).
DEFAULT_DIR = "arunner-notebooks"


class NotCopied(Exception):
    """The copy cannot be made; the message says why and what to do instead."""


def shipped() -> list[str]:
    """The names of the notebooks in the installed package, sorted."""
    package = files("arunner") / "notebooks"
    return sorted(p.name for p in package.iterdir() if p.name.endswith(".ipynb"))


def copy_notebooks(directory: Path) -> list[Path]:
    """Copy every shipped notebook into ``directory`` (made if need be).

    Raises ``NotCopied``, before copying anything, when a notebook of that
    name is already there or ``directory`` cannot be written to.
    """
    names = shipped()
    if directory.exists() and not directory.is_dir():
        raise NotCopied(
            f"{directory} is a file, not a directory; "
            "name a directory: python -m arunner notebooks DIR"
        )
    taken = [name for name in names if (directory / name).exists()]
    if taken:
        raise NotCopied(
            f"{directory} already has {', '.join(taken)}, which are not "
            "overwritten: nothing was copied. Name another directory "
            "(python -m arunner notebooks NEW_DIR), or move those files away "
            "and run it again"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        copied = []
        for name in names:
            source = files("arunner") / "notebooks" / name
            target = directory / name
            with source.open("rb") as reading, target.open("xb") as writing:
                shutil.copyfileobj(reading, writing)
            copied.append(target)
    except OSError as exc:
        raise NotCopied(
            f"cannot write to {directory} ({exc.strerror or exc}); name a "
            "directory you can write to: python -m arunner notebooks DIR"
        ) from exc
    return copied


def main(directory: str) -> int:
    """Copy the notebooks into ``directory``; say where they are, or why not."""
    try:
        copied = copy_notebooks(Path(directory))
    except NotCopied as exc:
        print(f"python -m arunner notebooks: {exc}", file=sys.stderr)
        return 1
    print(f"copied {len(copied)} notebooks into {Path(directory).resolve()}:")
    for path in copied:
        print(f"  {path.name}")
    print(f"open them in Jupyter, e.g. jupyter lab {directory}")
    return 0

"""``python -m arunner COMMAND``: command-line helpers (for now, ``doctor``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from arunner import _doctor

COMMANDS: dict[str, tuple[Callable[[], int], str]] = {
    "doctor": (_doctor.main, "print what a bug report needs"),
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m arunner",
        description="Helpers for arunner, asyncio that works in Jupyter and IPython.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        commands.add_parser(name, help=help_text)
    options = parser.parse_args(argv)  # exits with code 2 and usage when wrong
    command, _ = COMMANDS[options.command]
    return command()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``python -m arunner COMMAND``: command-line helpers (``doctor``, ``notebooks``)."""

from __future__ import annotations

import argparse
import sys

from arunner import _doctor, _notebooks


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m arunner",
        description="Helpers for arunner, asyncio that works in Jupyter and IPython.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="print what a bug report needs")
    copy = commands.add_parser(
        "notebooks",
        help="copy the example notebooks into a directory",
        description="Copy arunner's example notebooks (quickstart, background "
        "tasks, widgets, configuration, migrating) into DIR, made if need be. "
        "Files already there are never overwritten.",
    )
    copy.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        default=_notebooks.DEFAULT_DIR,
        help=f"where to put them (default: ./{_notebooks.DEFAULT_DIR})",
    )
    options = parser.parse_args(argv)  # exits with code 2 and usage when wrong
    if options.command == "notebooks":
        return _notebooks.main(options.directory)
    return _doctor.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Reading the options at the start of a ``%arun`` line, as argparse and a shell would.

argparse alone would re-split the whole line on spaces and lose the
quoting of the code that follows the options, so only the option words go
to the parser: this module finds where they end, reading them as a shell
reads words, and leaves the code verbatim.  It does not know IPython: its
errors are ``OptionError`` with the message to show.
"""

from __future__ import annotations

import argparse
import functools
import re
import shlex

__all__ = ["OptionError", "defaults", "split_options", "with_usage"]


class OptionError(ValueError):
    """The options could not be read; the message says why and what to write."""


@functools.cache
def _takes_value(parser: argparse.ArgumentParser) -> dict[str, bool]:
    """Each option string of ``parser``, and whether it takes a value."""
    return {
        option: action.nargs != 0
        for action in parser._actions
        for option in action.option_strings
    }


#: One shell word: unquoted characters, backslash escapes, '...' and "...".
_SHELL_WORD = re.compile(r"""(?:[^\s'"\\]|\\.|'[^']*'|"(?:[^"\\]|\\.)*")+""")


def split_options(line: str, parser: argparse.ArgumentParser) -> tuple[list[str], str]:
    """The option words at the start of ``line``, and the code after them.

    Options and their values are read the way a shell reads words (quotes
    group, backslashes escape, both are removed), so ``-n 'my task'`` names
    a task "my task".  The code starts at the first word that is not an
    option (or after ``--``) and is kept verbatim: shell rules would mangle
    Python's own quoting.
    """
    words: list[str] = []
    value_expected = False
    position = 0
    while (start := len(line) - len(line[position:].lstrip())) < len(line):
        if not value_expected:
            if line[start : start + 3].rstrip() == "--":  # a word of its own
                return words, line[start + 2 :]
            if line[start] != "-" or line[start + 1 : start + 2].isdigit():
                return words, line[start:]
        word = _SHELL_WORD.match(line, start)
        position = start if word is None else word.end()
        if position < len(line) and not line[position].isspace():
            problem = (
                "it ends in a lone backslash"
                if line[position] == "\\"
                else f"its quote {line[position]} is never closed"
            )
            raise OptionError(
                with_usage(
                    parser,
                    f"cannot read {line[start:]!r}: {problem}; write a value that has "
                    "spaces in matching quotes, as in %arun -b -n 'my task' fetch()",
                )
            )
        words.append(shlex.split(line[start:position])[0])
        value_expected = not value_expected and _needs_next_word(words[-1], parser)
    return words, ""


def _needs_next_word(word: str, parser: argparse.ArgumentParser) -> bool:
    """Whether the option word ``word`` takes the next word as its value.

    The rules are argparse's, which then reads the words: ``--name=x`` and
    ``-nx`` hold their value, a long option may be shortened to any prefix
    that names one option (``--nam x``), and short flags combine, a
    value-taking one last (``-bn x``, ``-bnx``).
    """
    takes_value = _takes_value(parser)
    if word.startswith("--"):
        if "=" in word:
            return False
        named = (
            [word]
            if word in takes_value
            else [option for option in takes_value if option.startswith(word)]
        )
        # An unknown or ambiguous option: argparse says which it is.
        return len(named) == 1 and takes_value[named[0]]
    for end, letter in enumerate(word[1:], start=2):
        option = f"-{letter}"
        if option not in takes_value:
            where = f" in {word}" if len(word) > 2 else ""
            raise OptionError(with_usage(parser, f"unknown option {option}{where}"))
        if takes_value[option]:
            return end == len(word)
    return False


def with_usage(parser: argparse.ArgumentParser, problem: str) -> str:
    """``problem``, then how to write the options."""
    usage = " ".join(parser.format_usage().removeprefix("::").split())
    return f"{problem}\nusage: {usage} [EXPR]  (options first; %arun? explains each)"


@functools.cache
def defaults(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """What ``parser`` gives for no options at all."""
    return parser.parse_args([])

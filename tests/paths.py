"""Whether text a user sees names arunner's own source, wherever the checkout is.

A check for "arunner/" also matches the checkout's folder when it is named
arunner, as a clone is by default, and with it every file under it: the
tests, and the virtualenvs nox makes there, IPython's files included.
"""

from __future__ import annotations

import os

from IPython.utils.path import compress_user

import arunner

#: arunner's package directory, in full and as IPython shortens a path under ~.
_SOURCE = {
    path + os.sep
    for path in (
        os.path.dirname(arunner.__file__),
        compress_user(os.path.dirname(arunner.__file__)),
    )
}


def names_arunner_source(text: str) -> bool:
    """Whether ``text`` (a traceback, say) names a file of arunner's package."""
    return any(path in text for path in _SOURCE)

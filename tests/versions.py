"""What the IPython and Python under test can do, for tests that depend on it."""

from __future__ import annotations

import sys

import IPython
import pytest

#: ``x = !cmd`` in a cell: IPython 7's transforms cannot read it on Python
#: 3.12+ (tokenize changed there), in a plain cell as in ``%%arun``.
needs_assigned_shell_escapes = pytest.mark.skipif(
    IPython.version_info < (8,) and sys.version_info >= (3, 12),
    reason="IPython 7 cannot read 'x = !cmd' on Python 3.12+, even in a plain cell",
)

"""Clients that users run kernels with, each driving a real kernel.

The kernels start from the kernel tier's private kernelspec for this
interpreter, found through ``JUPYTER_PATH`` as a client finds any kernel,
so no user-wide "python3" kernel can stand in for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernel.conftest import kernel_spec_in


@pytest.fixture(scope="session")
def jupyter_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data directory whose kernels/ holds only the test kernelspec."""
    path = tmp_path_factory.mktemp("jupyter")
    (path / "kernels").mkdir()
    kernel_spec_in(path / "kernels")
    return path

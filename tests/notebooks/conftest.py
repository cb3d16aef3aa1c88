"""The notebooks, each executed once per session in a fresh kernel.

They run with the tour's own client (scripts/tour.py), which files a
background task's output under the cell that started it, as JupyterLab
does; so what the tests read is what a notebook user sees.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[2]


def _load_tour() -> Any:
    spec = importlib.util.spec_from_file_location("tour", ROOT / "scripts" / "tour.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tour"] = module
    spec.loader.exec_module(module)
    return module


tour: Any = _load_tour()


@pytest.fixture(scope="session")
def executed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], NotebookNode]:
    """``executed("quickstart.ipynb")``: that notebook after a fresh run."""
    done: dict[str, NotebookNode] = {}

    def run(name: str) -> NotebookNode:
        if name not in done:
            log = tmp_path_factory.mktemp("kernel") / "kernel.log"
            done[name] = tour.execute(tour.NOTEBOOKS / name, log)
        return done[name]

    return run

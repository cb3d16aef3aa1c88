"""The tests do not depend on where the checkout lives.

A clone is named arunner by default, and nox puts its virtualenvs inside
it, so in such a checkout "arunner/" occurs in the path of every file:
the tests' own, and IPython's, whose frames a traceback shows.  Tests that
check a traceback for arunner's frames ask ``tests.paths`` instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import arunner
import tests.paths

#: Where each file lives in a clone named arunner, relative to the clone.
IPYTHON_FILE = (
    ".nox/tests-3-11/lib/python3.11/site-packages/IPython/core/interactiveshell.py"
)
A_TEST_FILE = "tests/shell/test_magics.py"
A_SOURCE_FILE = "src/arunner/magics.py"


def test_only_arunners_own_files_count_as_its_source_in_a_clone_named_arunner(
    tmp_path: Path,
) -> None:
    """Checked from a copy of the package in ``<home>/arunner/src``, as in a clone."""
    clone = tmp_path / "arunner"
    shutil.copytree(Path(arunner.__file__).parent, clone / "src" / "arunner")
    (clone / "tests").mkdir()
    (clone / "tests" / "__init__.py").write_text("")
    shutil.copy(tests.paths.__file__, clone / "tests" / "paths.py")
    script = textwrap.dedent(
        f"""
        import json, os
        import arunner
        from tests.paths import names_arunner_source

        assert arunner.__file__.startswith({str(clone)!r}), arunner.__file__
        seen = {{}}
        for name in {[IPYTHON_FILE, A_TEST_FILE, A_SOURCE_FILE]!r}:
            for shown in (os.path.join({str(clone)!r}, name), "~/arunner/" + name):
                seen[shown] = names_arunner_source(
                    f"File {{shown}}:2493, in InteractiveShell.run_cell_magic"
                )
        print(json.dumps(seen))
        """
    )
    env = dict(
        os.environ, HOME=str(tmp_path), PYTHONPATH=f"{clone / 'src'}{os.pathsep}{clone}"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert all("arunner/" in shown for shown in seen)  # what a bare check trips on
    assert seen == {
        shown: name == A_SOURCE_FILE
        for name in (IPYTHON_FILE, A_TEST_FILE, A_SOURCE_FILE)
        for shown in (str(clone / name), "~/arunner/" + name)
    }

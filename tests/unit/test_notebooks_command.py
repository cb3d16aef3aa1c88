"""``python -m arunner notebooks [DIR]``: the shipped notebooks copied out, never over
a user's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from arunner.__main__ import main
from tests.unit.test_doctor import run_arunner

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "src" / "arunner" / "notebooks"


def notebooks_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_every_shipped_notebook_is_copied_into_a_new_directory(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "examples"
    done = run_arunner("notebooks", str(target), data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert notebooks_in(target) == notebooks_in(SHIPPED)
    assert {"quickstart.ipynb", "configuration.ipynb"} <= set(notebooks_in(target))
    lines = done.stdout.splitlines()
    assert lines[0] == f"copied 5 notebooks into {target}:"
    assert lines[-1] == f"open them in Jupyter, e.g. jupyter lab {target}"


def test_without_dir_they_go_to_arunner_notebooks_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["notebooks"]) == 0
    assert notebooks_in(tmp_path / "arunner-notebooks") == notebooks_in(SHIPPED)
    assert capsys.readouterr().out.startswith(
        f"copied 5 notebooks into {tmp_path / 'arunner-notebooks'}:"
    )


def test_a_notebook_already_there_is_kept_and_nothing_is_copied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "quickstart.ipynb").write_text("my edited quickstart")
    assert main(["notebooks", str(tmp_path)]) == 1
    assert notebooks_in(tmp_path) == {"quickstart.ipynb": b"my edited quickstart"}
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err == (
        f"python -m arunner notebooks: {tmp_path} already has quickstart.ipynb, "
        "which are not overwritten: nothing was copied. Name another directory "
        "(python -m arunner notebooks NEW_DIR), or move those files away and "
        "run it again\n"
    )


def test_a_second_copy_into_the_same_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notebooks", str(tmp_path)]) == 0
    first = notebooks_in(tmp_path)
    assert main(["notebooks", str(tmp_path)]) == 1
    assert notebooks_in(tmp_path) == first
    assert "not overwritten: nothing was copied" in capsys.readouterr().err


def test_a_file_given_as_dir_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    assert main(["notebooks", str(afile)]) == 1
    assert afile.read_text() == "mine"
    assert capsys.readouterr().err == (
        f"python -m arunner notebooks: {afile} is a file, not a directory; "
        "name a directory: python -m arunner notebooks DIR\n"
    )


def test_a_dir_that_cannot_be_made_says_so_and_what_to_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Under a file no directory can be made, whoever runs the test (root
    # ignores permission bits, so a read-only directory would not do).
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "examples"
    assert main(["notebooks", str(target)]) == 1
    assert capsys.readouterr().err == (
        f"python -m arunner notebooks: cannot write to {target} (Not a directory); "
        "name a directory you can write to: python -m arunner notebooks DIR\n"
    )

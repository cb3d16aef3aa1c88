#!/usr/bin/env python3
"""CPython 3.14 and 3.15 for the test command, from Debian unstable's binary packages.

    python3 scripts/pythons.py            # fetch them once; print where they are
    python3 scripts/pythons.py --refresh  # fetch them again (sid moves on)

``scripts/dev.py test`` calls ``ensure()`` before nox runs, and noxfile.py's
``interpreters()`` finds what it unpacked.  A version the machine already
has (``python3.14`` on PATH, or a pyenv install) is not fetched.

How, on Debian or Ubuntu (root is not needed): ``apt-get update`` and
``apt-get download`` with an apt configuration of our own (sources, lists
and cache all under ``.pythons/apt``: the system's is left as it is), each
package unpacked with ``dpkg-deb -x`` into ``.pythons/sid`` (never installed),
and the interpreters pointed at that folder's loader and libraries with
patchelf (sid's own, run through that loader), because they need a newer
glibc than the machine's.  About 45 MB to download (some 180 MB unpacked,
the test suites included); once there, a run costs nothing.
Anywhere else this says why those versions are skipped, and the tests run
on the Pythons the machine has.  Standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".pythons"
APT = HOME / "apt"
#: The one folder every package is unpacked into.
SID = HOME / "sid"
#: Written last: what was unpacked, and where (the interpreters hold the path).
MARKER = SID / ".arunner-pythons.json"

VERSIONS = ("3.14", "3.15")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SOURCES = f"""\
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: {KEYRING}
"""
#: Debian architecture -> multiarch folder, dynamic loader.
LOADERS = {
    "amd64": ("x86_64-linux-gnu", "ld-linux-x86-64.so.2"),
    "arm64": ("aarch64-linux-gnu", "ld-linux-aarch64.so.1"),
}
#: Unstable's runtime libraries: its Pythons want glibc 2.42 or newer.
RUNTIME = [
    "libc6",
    "libgcc-s1",
    "libstdc++6",
    "libc-gconv-modules-extra",
    "libssl3t64",
    "openssl-provider-legacy",
    "libffi8",
    "libexpat1",
    "libmpdec4",
    "libsqlite3-0",
    "libdb5.3t64",
    "libuuid1",
    "zlib1g",
    "libbz2-1.0",
    "liblzma5",
    "libzstd1",
    "libncursesw6",
    "libreadline8t64",
    "libtinfo6",
    "python3-pip-whl",
    "python3-setuptools-whl",
    "patchelf",  # run through the unpacked loader: the machine needs none
]
#: What the interpreters must import for the tests (and users) to mean anything.
MODULES = "ssl, ctypes, sqlite3, lzma, bz2, zlib, readline, decimal, uuid, pyexpat"


def packages(version: str) -> list[str]:
    """One version's interpreter, standard library, venv and test suite."""
    return [
        f"python{version}",
        f"python{version}-minimal",
        f"libpython{version}-minimal",
        f"libpython{version}-stdlib",
        f"libpython{version}",
        f"python{version}-venv",
        # test.test_asyncio.test_runners, which tests/conformance runs
        f"libpython{version}-testsuite",
    ]


def say(message: str) -> None:
    print(f"pythons: {message}", flush=True)


def executable(version: str) -> Path:
    return SID / "usr" / "bin" / f"python{version}"


def on_machine(version: str) -> str | None:
    """The machine's own interpreter of ``version``, if it has one."""
    found = shutil.which(f"python{version}")
    if found:
        return found
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    try:
        installed = sorted(pyenv_root.glob(f"versions/{version}*/bin/python{version}"))
    except OSError:  # a pyenv we may not read
        return None
    return str(installed[0]) if installed else None


def runs(python: Path) -> bool:
    try:
        done = subprocess.run(
            [str(python), "-c", f"import {MODULES}"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def unpacked() -> dict[str, str]:
    """What a previous run unpacked here and that still runs: version -> path."""
    try:
        marker = json.loads(MARKER.read_text())
    except (OSError, ValueError):
        return {}
    if marker.get("root") != str(SID):  # the checkout moved: paths are baked in
        return {}
    return {
        version: str(executable(version))
        for version in marker.get("versions", [])
        if runs(executable(version))
    }


def why_not() -> str | None:
    """Why this machine cannot fetch them, or None."""
    if os.name != "posix" or not sys.platform.startswith("linux"):
        return "not Linux"
    for tool in ("apt-get", "dpkg-deb", "dpkg"):
        if shutil.which(tool) is None:
            return f"no {tool} (not Debian or Ubuntu)"
    if not KEYRING.is_file():
        return f"no {KEYRING} (apt-get install debian-archive-keyring)"
    return None


def apt_options() -> list[str]:
    """A private apt configuration: sid only, lists and cache of its own."""
    return [
        f"-oDir::Etc::SourceList={APT / 'sources.list'}",
        f"-oDir::Etc::SourceParts={APT / 'sources.list.d'}",
        f"-oDir::Etc::PreferencesParts={APT / 'preferences.d'}",
        f"-oDir::State::Lists={APT / 'lists'}",
        f"-oDir::Cache={APT / 'cache'}",
        # As root, apt hands downloads to the _apt user, who may not write
        # into our folders: it would warn and do it as root anyway.
        "-oAPT::Sandbox::User=root",
    ]


def run(*command: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False, timeout=900
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:2])} failed ({done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-2000:]}"
        )
    return done.stdout


def fetch(versions: list[str]) -> dict[str, str]:
    """Download, unpack and patch ``versions``; raise RuntimeError on failure."""
    architecture = run("dpkg", "--print-architecture").strip()
    if architecture not in LOADERS:
        raise RuntimeError(f"no loader known for architecture {architecture}")
    multiarch, loader_name = LOADERS[architecture]
    shutil.rmtree(SID, ignore_errors=True)
    shutil.rmtree(APT, ignore_errors=True)
    for folder in ("sources.list.d", "preferences.d", "lists/partial", "debs"):
        (APT / folder).mkdir(parents=True)
    (APT / "cache" / "archives" / "partial").mkdir(parents=True)
    (APT / "sources.list").write_text("")
    (APT / "sources.list.d" / "sid.sources").write_text(SOURCES)

    wanted = RUNTIME + [name for version in versions for name in packages(version)]
    say(f"fetching CPython {', '.join(versions)} from Debian unstable (apt-get)")
    run("apt-get", *apt_options(), "-q", "update")
    run("apt-get", *apt_options(), "-q", "download", *wanted, cwd=APT / "debs")

    SID.mkdir(parents=True)
    got = {}
    for deb in sorted((APT / "debs").glob("*.deb")):
        run("dpkg-deb", "-x", str(deb), str(SID))
        name, version = run("dpkg-deb", "-f", str(deb), "Package", "Version").split(
            "\n"
        )[:2]
        got[name.partition(": ")[2]] = version.partition(": ")[2]

    libraries = SID / "usr" / "lib" / multiarch
    loader = libraries / loader_name
    # sid's patchelf, run by sid's loader: the machine needs none of its own.
    tool = SID / "usr" / "bin" / "patchelf"
    patchelf = [str(loader), "--library-path", str(libraries), str(tool)]
    for version in versions:
        python = executable(version)
        # In this order and in two runs: both changes in one run (or the
        # loader first) give a binary that crashes at start (patchelf 0.18).
        run(*patchelf, "--force-rpath", "--set-rpath", str(libraries), str(python))
        run(*patchelf, "--set-interpreter", str(loader), str(python))
        if not runs(python):
            raise RuntimeError(f"{python} does not run or cannot import {MODULES}")
    shutil.rmtree(APT)  # the lists and .debs are not needed again
    MARKER.write_text(
        json.dumps({"root": str(SID), "versions": versions, "packages": got}, indent=1)
        + "\n"
    )
    say(
        "unpacked "
        + ", ".join(f"python{v} {got.get(f'python{v}', '?')}" for v in versions)
        + f" into {SID.relative_to(ROOT)}"
    )
    return {version: str(executable(version)) for version in versions}


def ensure(*, refresh: bool = False) -> dict[str, str]:
    """CPython 3.14 and 3.15 as this folder has them: version -> executable.

    Fetched at most once (``refresh`` fetches again); never fails: whatever
    cannot be had is skipped with a line saying why.
    """
    missing = [version for version in VERSIONS if on_machine(version) is None]
    if not missing:
        return {}
    have = {} if refresh else unpacked()
    if set(have) == set(missing):
        return have
    reason = why_not()
    if reason is not None:
        say(f"CPython {', '.join(missing)} skipped: {reason}")
        return {}
    try:
        return fetch(missing)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        say(f"CPython {', '.join(missing)} skipped: {exc}")
        shutil.rmtree(SID, ignore_errors=True)
        return {}


def main(argv: list[str]) -> int:
    if argv not in ([], ["--refresh"]):
        print(__doc__)
        return 2
    for version, python in ensure(refresh=argv == ["--refresh"]).items():
        print(f"{version} {python}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Private JupyterLab and Notebook 7 servers for the browser tests.

Everything Jupyter reads or writes (kernelspecs, config, runtime files,
settings, workspaces, IPython profile) lives in one temporary directory, so
neither a user-wide kernelspec nor a user's settings can change what the
tests see.  The only kernelspec offered is one for this interpreter.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.kernel.conftest import KERNEL_NAME, kernel_spec_in

#: Seconds the server may take to answer; beyond any healthy start.
STARTUP_PATIENCE = 90.0

#: Frontend plugins that would put a toast over the page on first start.
DISABLED_PLUGINS = ["@jupyterlab/apputils-extension:announcements"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class JupyterLab:
    """``jupyter lab`` on 127.0.0.1 with a token, a temporary root and config."""

    #: The module that ``python -m`` starts the server with.
    app = "jupyterlab"

    def __init__(self, home: Path) -> None:
        self.home = home
        self.root = home / "notebooks"
        self.token = secrets.token_hex(24)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "jupyterlab.log"
        self.kernel_display_name = ""
        self._process: subprocess.Popen[bytes] | None = None

    def _private_environment(self) -> dict[str, str]:
        """Write the kernelspec and page config; point Jupyter only at them."""
        data = self.home / "data"
        config = self.home / "config"
        specs = kernel_spec_in(_mkdir(data / "kernels"))
        self.kernel_display_name = specs.get_kernel_spec(KERNEL_NAME).display_name
        (_mkdir(config / "labconfig") / "page_config.json").write_text(
            json.dumps({"disabledExtensions": dict.fromkeys(DISABLED_PLUGINS, True)})
        )
        private = {
            "JUPYTER_PATH": data,
            "JUPYTER_DATA_DIR": data,
            "JUPYTER_CONFIG_DIR": config,
            "JUPYTER_RUNTIME_DIR": self.home / "runtime",
            "JUPYTERLAB_SETTINGS_DIR": self.home / "settings",
            "JUPYTERLAB_WORKSPACES_DIR": self.home / "workspaces",
            "IPYTHONDIR": self.home / "ipython",
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
        return env | {name: str(path) for name, path in private.items()}

    def start(self) -> None:
        self.root.mkdir()
        command = [
            sys.executable,
            "-m",
            self.app,
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.allow_root=True",  # CI runs as root
            # Only the spec written above: not even the one ipykernel ships.
            "--KernelSpecManager.ensure_native_kernel=False",
            f"--KernelSpecManager.allowed_kernelspecs={KERNEL_NAME}",
        ]
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                env=self._private_environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_PATIENCE
        request = urllib.request.Request(  # noqa: S310 - our own http URL
            f"{self.url}/api/status",
            headers={"Authorization": f"token {self.token}"},
        )
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(request, timeout=5):  # noqa: S310
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise TimeoutError(
            f"JupyterLab did not answer within {STARTUP_PATIENCE} s:\n"
            f"{self.log.read_text()}"
        )

    def lab_url(self) -> str:
        """The address of a JupyterLab page with a fresh workspace."""
        return f"{self.url}/lab?reset&token={self.token}"

    def notebook_url(self, name: str) -> str:
        """The address of the notebook ``name`` in the root directory."""
        return f"{self.url}/notebooks/{name}?token={self.token}"

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class Notebook7(JupyterLab):
    """``jupyter notebook`` (Notebook 7), set up as privately as JupyterLab."""

    app = "notebook"


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path

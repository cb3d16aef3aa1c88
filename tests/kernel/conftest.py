"""Real Jupyter kernels through jupyter_client, as a notebook frontend drives them.

Each kernel is started from a kernelspec written for this interpreter (so a
user-wide "python3" spec can never be picked up by mistake), with its
stdout and stderr kept in a file the tests can read.
"""

from __future__ import annotations

import json
import queue
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

KERNEL_NAME = "arunner-test"

#: A bound on anything a test waits for from the kernel; far beyond what a
#: passing test needs, so that a hang fails instead of blocking the suite.
PATIENCE = 30.0


@dataclass
class Reply:
    """Everything the kernel published for one execute request."""

    msg_id: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    status: str = ""
    #: the cell's In[N], from the kernel's reply
    execution_count: int | None = None
    interrupted_at: float | None = None
    idle_at: float = 0.0
    prompts: list[str] = field(default_factory=list)
    #: the msg_id each input request named as its parent (the cell asking)
    input_parents: list[str] = field(default_factory=list)

    def _stream(self, name: str) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.outputs
            if m["msg_type"] == "stream" and m["content"]["name"] == name
        )

    @property
    def stdout(self) -> str:
        return self._stream("stdout")

    @property
    def stderr(self) -> str:
        return self._stream("stderr")

    @property
    def error(self) -> dict[str, Any] | None:
        errors = [m["content"] for m in self.outputs if m["msg_type"] == "error"]
        return errors[-1] if errors else None

    @property
    def ename(self) -> str | None:
        return None if self.error is None else self.error["ename"]

    @property
    def result(self) -> str | None:
        results = [
            m["content"] for m in self.outputs if m["msg_type"] == "execute_result"
        ]
        return results[-1]["data"]["text/plain"] if results else None

    @property
    def displays(self) -> list[str]:
        return [
            m["content"]["data"]["text/plain"]
            for m in self.outputs
            if m["msg_type"] == "display_data"
        ]

    def printed_before_error(self, text: str) -> bool:
        """Whether ``text`` was printed before the cell's error message came.

        The order of the cell's iopub messages, as a frontend shows them:
        "cleanup" before the error proves that the cell ended only once its
        cleanup had run, which a later cell (queued behind it) cannot.
        """
        printed = ""
        for m in self.outputs:
            if m["msg_type"] == "error":
                return text in printed
            if m["msg_type"] == "stream":
                printed += m["content"]["text"]
        return False

    @property
    def interrupt_to_idle(self) -> float:
        assert self.interrupted_at is not None, "the cell was not interrupted"
        return self.idle_at - self.interrupted_at


_RECORD_COMPLAINTS = """import logging
logging.captureWarnings(True)
_complaints = logging.FileHandler({path!r})
_complaints.setLevel(logging.WARNING)
logging.getLogger().addHandler(_complaints)
"""


class Kernel:
    """A running kernel and a client, with helpers that wait on iopub."""

    def __init__(self, manager: KernelManager, log: Path) -> None:
        self.manager = manager
        self.log = log
        self.log_file: IO[str] | None = None
        self.client = manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        #: iopub messages whose parent was not the request being awaited,
        #: keyed by that parent's msg_id (output of background tasks).
        self.elsewhere: dict[str, list[dict[str, Any]]] = {}
        #: every update_display_data message, whatever its parent: a
        #: frontend updates a display id wherever it is shown.
        self.display_updates: list[dict[str, Any]] = []

    def execute(
        self,
        code: str,
        *,
        interrupt_on: str | None = None,
        interrupts: int = 1,
        gap: float = 0.2,
        delay: float = 0.0,
        answers: Sequence[str] = (),
        press: Callable[[], object] | None = None,
    ) -> Reply:
        """Run ``code`` and collect its iopub messages until the kernel is idle.

        With ``interrupt_on``, once that text has appeared in the cell's
        output (proof that the code started) send ``interrupts`` interrupts,
        ``gap`` seconds apart, through ``interrupt_kernel()`` (or ``press``),
        the first one ``delay`` seconds after that text appeared.
        ``answers`` are typed, in order, into the input requests
        (``input()``, ``getpass()``) the cell makes; their prompts are kept
        in ``Reply.prompts``.

        A request that the kernel aborted is sent once more: this one is
        sent only after the previous cell's reply, but ipykernel before 6.29
        aborts a request that arrives before it has finished "aborting the
        queue" behind a failed cell (seen in 1 of 10 interrupted plain cells
        on 6.17, without arunner).
        """
        for _ in range(2):
            reply = self._execute(
                code,
                interrupt_on=interrupt_on,
                interrupts=interrupts,
                gap=gap,
                delay=delay,
                answers=answers,
                press=press or self.manager.interrupt_kernel,
            )
            if reply.status != "aborted":
                break
        return reply

    def _execute(
        self,
        code: str,
        *,
        interrupt_on: str | None,
        interrupts: int,
        gap: float,
        delay: float,
        answers: Sequence[str],
        press: Callable[[], object],
    ) -> Reply:
        reply = Reply(self.client.execute(code, allow_stdin=bool(answers)))
        deadline = time.monotonic() + PATIENCE
        printed = ""
        unanswered = list(answers)
        while True:
            if unanswered:
                self._answer_input(reply, unanswered)
            try:
                msg = self._next_iopub(
                    deadline, code, poll=0.05 if unanswered else None
                )
            except TimeoutError as error:  # say how far the cell got
                stopped = "no" if reply.interrupted_at is None else "an"
                raise TimeoutError(
                    f"{error}\nit printed {printed!r}; {stopped} interrupt was sent"
                ) from None
            if msg is None:
                continue
            if msg["msg_type"] == "update_display_data":
                self.display_updates.append(msg)
            if msg["parent_header"].get("msg_id") != reply.msg_id:
                self.elsewhere.setdefault(
                    msg["parent_header"].get("msg_id"), []
                ).append(msg)
            elif msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    reply.idle_at = time.monotonic()
                    break
            elif msg["msg_type"] in {
                "stream",
                "error",
                "execute_result",
                "display_data",
            }:
                reply.outputs.append(msg)
                printed += msg["content"].get("text", "")
                if interrupt_on is not None and interrupt_on in printed:
                    interrupt_on = None
                    reply.interrupted_at = self._interrupt(
                        interrupts, gap, delay, press
                    )
        content = self._shell_reply(reply.msg_id)["content"]
        reply.status = content["status"]
        reply.execution_count = content.get("execution_count")
        return reply

    def _next_iopub(
        self, deadline: float, code: str, poll: float | None = None
    ) -> dict[str, Any] | None:
        """The next iopub message, or None after ``poll`` seconds without one."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                return self.client.get_iopub_msg(
                    timeout=min(remaining, poll or remaining)
                )  # type: ignore[no-any-return]
            except queue.Empty:
                if poll is not None:
                    return None
        raise TimeoutError(f"kernel still busy after {PATIENCE} s with:\n{code}")

    def _answer_input(self, reply: Reply, unanswered: list[str]) -> None:
        """Type the next answer into a pending input request, if there is one."""
        try:
            request = self.client.get_stdin_msg(timeout=0.01)
        except queue.Empty:
            return
        if request["msg_type"] == "input_request":
            reply.prompts.append(request["content"]["prompt"])
            reply.input_parents.append(request["parent_header"].get("msg_id"))
            self.client.input(unanswered.pop(0))

    def _interrupt(
        self, count: int, gap: float, delay: float, press: Callable[[], object]
    ) -> float:
        """Send ``count`` interrupts; return when the last one was sent."""
        for i in range(count):
            time.sleep(gap if i else delay)
            sent = time.monotonic()
            press()
        return sent

    def _shell_reply(self, msg_id: str) -> dict[str, Any]:
        while True:
            reply = self.client.get_shell_msg(timeout=PATIENCE)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply  # type: ignore[no-any-return]

    def ok(self, code: str) -> Reply:
        reply = self.execute(code)
        assert reply.error is None, "\n".join(reply.error["traceback"])
        return reply

    def value(self, expression: str) -> str | None:
        """The text/plain repr of ``expression`` evaluated in the kernel."""
        return self.ok(expression).result

    def wait_elsewhere(
        self, msg_id: str, text: str, timeout: float = PATIENCE
    ) -> list[dict[str, Any]]:
        """Wait until output under an earlier cell ``msg_id`` contains ``text``."""

        def printed(messages: list[dict[str, Any]]) -> str:
            return "".join(m["content"].get("text", "") for m in messages)

        return self._wait_elsewhere(
            msg_id,
            lambda messages: text in printed(messages),
            lambda messages: (
                f"{text!r} never appeared under {msg_id}: {printed(messages)!r}"
            ),
            timeout,
        )

    def wait_idle_elsewhere(
        self, msg_id: str, timeout: float = PATIENCE
    ) -> list[dict[str, Any]]:
        """Wait until the kernel is idle again after a request sent with ``send``."""
        return self._wait_elsewhere(
            msg_id,
            lambda messages: any(
                m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                for m in messages
            ),
            lambda messages: f"request {msg_id} never finished",
            timeout,
        )

    def _wait_elsewhere(
        self,
        msg_id: str,
        done: Callable[[list[dict[str, Any]]], bool],
        failure: Callable[[list[dict[str, Any]]], str],
        timeout: float,
    ) -> list[dict[str, Any]]:
        """Collect iopub messages by parent until those of ``msg_id`` are ``done``."""
        self._collect_until(
            lambda: done(self.elsewhere.get(msg_id, [])),
            lambda: failure(self.elsewhere.get(msg_id, [])),
            timeout,
        )
        return self.elsewhere.get(msg_id, [])

    def _collect_until(
        self, done: Callable[[], bool], failure: Callable[[], str], timeout: float
    ) -> None:
        """Read iopub messages, filed by parent, until ``done()``."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(failure())
            try:
                msg = self.client.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            parent = msg["parent_header"].get("msg_id")
            self.elsewhere.setdefault(parent, []).append(msg)
            if msg["msg_type"] == "update_display_data":
                self.display_updates.append(msg)

    def wait_display_update(
        self, display_id: str, text: str, timeout: float = PATIENCE, *, after: int = 0
    ) -> dict[str, Any]:
        """Wait for an update of the display ``display_id`` whose text has
        ``text``, among the updates after the first ``after`` received."""

        def update() -> dict[str, Any] | None:
            return next(
                (
                    m
                    for m in self.display_updates[after:]
                    if m["content"]["transient"].get("display_id") == display_id
                    and text in m["content"]["data"]["text/plain"]
                ),
                None,
            )

        self._collect_until(
            lambda: update() is not None,
            lambda: (
                f"no update of display {display_id} showed {text!r}; updates: "
                f"{[m['content']['data']['text/plain'] for m in self.display_updates]}"
            ),
            timeout,
        )
        found = update()
        assert found is not None
        return found

    def send(self, code: str, *, subshell_id: str | None = None) -> str:
        """Send an execute request without waiting for it; return its msg_id.

        Its output is collected in ``elsewhere`` by whatever waits next.
        ``subshell_id`` sends it to an ipykernel 7 subshell (see
        ``create_subshell``) instead of the main shell.
        """
        msg = self.client.session.msg(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": False,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        if subshell_id is not None:
            msg["header"]["subshell_id"] = subshell_id
        self.client.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def create_subshell(self) -> str:
        """Create an ipykernel 7 subshell (JEP 91) and return its subshell_id.

        A subshell is a thread of the kernel with its own shell-message
        queue: requests whose header names its ``subshell_id`` run there,
        concurrently with the main shell.
        """
        msg = self.client.session.msg("create_subshell_request", {})
        self.client.control_channel.send(msg)
        while True:
            reply = self.client.get_control_msg(timeout=PATIENCE)
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                break
        content = reply["content"]
        assert content["status"] == "ok", content
        return str(content["subshell_id"])

    def record_complaints(self, path: Path) -> Path:
        """Keep the kernel's warnings and error logs (asyncio's too) in ``path``.

        At shutdown they would go to the frontend through iopub, which is
        gone by then, and never reach the kernel's log: a file keeps them.
        """
        self.ok(_RECORD_COMPLAINTS.format(path=str(path)))
        return path

    def stop(self) -> None:
        self.client.stop_channels()
        if self.manager.is_alive():
            self.manager.shutdown_kernel(now=True)
        if self.log_file is not None:
            self.log_file.close()


def kernel_spec_in(directory: Path) -> KernelSpecManager:
    """A kernelspec for this interpreter in ``directory``, visible to no one else."""
    spec = directory / KERNEL_NAME
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    sys.executable,
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "arunner tests",
                "language": "python",
                # As ipykernel's own spec and arunner's say: JupyterLab
                # offers its debugger only for a kernel whose spec does.
                "metadata": {"debugger": True},
            }
        )
    )
    return KernelSpecManager(kernel_dirs=[str(directory)])


def launch_kernel(
    kernel_spec_manager: KernelSpecManager, log: Path, *, load: bool = True
) -> Kernel:
    """Start a kernel (arunner loaded unless told otherwise) logging to ``log``.

    Plain function rather than fixture so that benchmarks/ drives kernels
    exactly as the tests do; the caller must ``stop()`` it.
    """
    manager = KernelManager(
        kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_spec_manager
    )
    out = log.open("w")  # kept open: a restart launches with the same files
    manager.start_kernel(stdout=out, stderr=out)
    kernel = Kernel(manager, log)
    kernel.log_file = out
    if load:
        try:
            kernel.ok("%load_ext arunner")
        except BaseException:
            kernel.stop()
            raise
    return kernel


@pytest.fixture(scope="session")
def kernel_spec_manager(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """A kernelspec for this interpreter, visible to no one else."""
    return kernel_spec_in(tmp_path_factory.mktemp("kernels"))


@pytest.fixture(scope="module")
def start_kernel(
    kernel_spec_manager: KernelSpecManager, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Kernel]]:
    """Start kernels (arunner loaded unless told otherwise); stopped with the module.

    Not at the end of the session: each running kernel's client keeps a
    heartbeat thread in this process, and a tier that forks after this one
    (the terminal tier's pty) would fork a multi-threaded process, which
    Python 3.15 warns about (an error here) because the child may deadlock.
    """
    started: list[Kernel] = []

    def start(*, load: bool = True) -> Kernel:
        log = tmp_path_factory.mktemp("kernel-log") / "kernel.log"
        kernel = launch_kernel(kernel_spec_manager, log, load=load)
        started.append(kernel)
        return kernel

    yield start
    for kernel in started:
        kernel.stop()


@pytest.fixture(scope="module")
def kernel(start_kernel: Callable[..., Kernel]) -> Kernel:
    """One kernel with arunner loaded, shared by the tests of a module."""
    return start_kernel()

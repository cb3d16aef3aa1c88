"""The reliability suite: real kernels under interrupts, load and bad input.

Every test here drives real kernels with the helpers of the kernel tier.
The default run is sized to finish in a few minutes on a small machine;
``ARUNNER_RELIABILITY=full`` runs the long variants (10,000 soak cells, a
longer interrupt storm).
"""

from __future__ import annotations

import json
import os
from typing import Any

# The kernel tier's fixtures, shared rather than copied.
from tests.kernel.conftest import Kernel, kernel_spec_manager, start_kernel

__all__ = [
    "FULL",
    "PROBE_FUNCTION",
    "kernel_spec_manager",
    "probe",
    "scaled",
    "start_kernel",
]

#: Whether the long variants run (ARUNNER_RELIABILITY=full).
FULL = os.environ.get("ARUNNER_RELIABILITY", "") == "full"


def scaled(default: int, full: int) -> int:
    """``full`` under ARUNNER_RELIABILITY=full, else ``default``."""
    return full if FULL else default


#: Defines ``_arunner_probe()`` in a kernel: a JSON string of what it holds
#: that a leak would grow (benchmarks/ uses it too).
PROBE_FUNCTION = """
def _arunner_probe():
    import gc, json, os, sys, threading, arunner
    tasks = len(arunner.get_runner().tasks())  # first: it may start the runner
    gc.collect()
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return json.dumps({
        "rss": resident,
        "blocks": sys.getallocatedblocks(),
        "threads": threading.active_count(),
        "os_threads": len(os.listdir("/proc/self/task")),
        "tasks": tasks,
    })
"""


def probe(kernel: Kernel) -> dict[str, Any]:
    """Memory (resident bytes, Python's allocated blocks), threads and tasks.

    Linux only (it reads /proc), like the rest of the suite's memory checks.
    """
    printed = kernel.ok(PROBE_FUNCTION + "print(_arunner_probe())").stdout
    figures: dict[str, Any] = json.loads(printed)
    return figures

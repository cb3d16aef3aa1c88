"""Start a kernel from the "Python 3 (arunner)" kernelspec and run one %%arun cell.

tests/release runs this with the python of a venv that holds the built wheel
and ipykernel and nothing else of the project, and reads the JSON it prints.
Only the kernelspecs under the directory given as the argument count, so
the kernel is the one the wheel installed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

SPEC_NAME = "python3-arunner"

#: No %load_ext: the kernelspec must have loaded the extension.
CELL = """%%arun
import asyncio, sys, threading
await asyncio.sleep(0.01)
print("awaited on", threading.current_thread().name, "in", sys.prefix)
"""


def main(kernels: str) -> int:
    specs = KernelSpecManager(kernel_dirs=[kernels])
    manager = KernelManager(kernel_name=SPEC_NAME, kernel_spec_manager=specs)
    found = {
        "command": manager.format_kernel_cmd(),
        "resource_dir": manager.kernel_spec.resource_dir,
        "display_name": manager.kernel_spec.display_name,
    }
    output: list[str] = []

    def collect(message: dict[str, Any]) -> None:
        content = message["content"]
        if message["msg_type"] == "stream":
            output.append(content["text"])
        elif message["msg_type"] == "error":
            output.append("\n".join(content["traceback"]))

    manager.start_kernel()
    client = manager.client()
    try:
        client.start_channels()
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(CELL, timeout=60, output_hook=collect)
        found["status"] = reply["content"]["status"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel()
    found["output"] = "".join(output)
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""Debian's Chromium, as the browser tests and the Playwright corpus start it."""

from __future__ import annotations

from pathlib import Path

#: ``apt-get install chromium``; never a browser that Playwright downloads.
CHROMIUM = Path("/usr/bin/chromium")

#: Headless, no sandbox (root in CI), quiet on the network (this machine's
#: is closed), nothing from a profile.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

#: Why a test that needs it skips.
CHROMIUM_MISSING = (
    f"Chromium is not installed at {CHROMIUM}: run "
    "'sudo apt-get install chromium' (scripts/dev.py test does it as root)"
)

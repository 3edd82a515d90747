"""How the project starts a real browser: Debian's Chromium, headless, offline.

Shared by the review page's browser test and ``scripts/review_screenshot.py``.
Without the background-networking flags Chromium keeps trying hosts this
machine cannot reach; Playwright's own browser download cannot work here, so
its ``executable_path`` points at Debian's ``chromium``.
"""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

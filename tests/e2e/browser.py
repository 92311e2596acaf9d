"""A real browser for the UI tests: Playwright driving Debian's Chromium (`.ci/run` installs it), so no browser
is downloaded and the one a user would open is the one tested."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Page, sync_playwright


@contextmanager
def chromium_page() -> Iterator[Page]:
    """A fresh page of headless Chromium, with a window large enough for the DAG graph and the dashboard."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root in CI, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1000})
        finally:
            browser.close()

"""Headless Chromium for the browser tests (Debian's chromium + chromium-driver).

Under ``CI=true`` a browser that cannot start fails the test; elsewhere it
skips with a message saying what to install.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import pytest

from tests.support.redis import in_ci

__all__ = ["start_chromium", "wait_for"]

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER_PATHS = ("/usr/bin/chromedriver",)


def _first_existing(paths: tuple[str, ...], name: str) -> str | None:
    return next((p for p in paths if os.path.exists(p)), None) or shutil.which(name)


def start_chromium():
    """Start a headless Chromium driven by selenium; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = _first_existing(CHROMIUM_PATHS, "chromium")
    driver_path = _first_existing(DRIVER_PATHS, "chromedriver")
    if not binary or not driver_path:
        message = (
            "Chromium is not available: apt-get install chromium chromium-driver "
            "(the browser tests drive Debian's headless Chromium)"
        )
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-test-')}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver_path), options=options)


def wait_for(driver: Any, script: str, timeout: float = 10.0) -> Any:
    """Poll a JavaScript expression in the page until it is truthy; return it."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script("return " + script)
    )

"""Headless Chromium (Debian's chromium and chromium-driver packages) driving the real admin on a live server.

Nothing is downloaded at run time: the tests skip, saying why, where /usr/bin/chromium is absent. With
SCREENSHOT_DIR set (e.g. ``SCREENSHOT_DIR=docs/screenshots``) they save a PNG of each key page there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser() -> Iterator[object]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Chromium is not installed (Debian packages chromium and chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1100"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser):  # type: ignore[no-untyped-def]
    """Save the current page as SCREENSHOT_DIR/<name>.png, the whole page tall; a no-op without the variable."""
    directory = os.environ.get("SCREENSHOT_DIR")

    def save(name: str) -> None:
        if not directory:
            return
        Path(directory).mkdir(parents=True, exist_ok=True)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1500, min(max(height, 900), 4000))
        path = Path(directory) / f"{name}.png"
        browser.save_screenshot(str(path))
        # A 256-colour palette keeps an admin page legible at a fraction of the size (they are committed).
        with Image.open(path) as image:
            small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
        browser.set_window_size(1500, 1100)

    return save

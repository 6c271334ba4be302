"""Headless Chromium through selenium and the Debian chromium/chromium-driver packages.

Used by tests/test_report_browser.py and by the screenshot command for the docs:

    .venv/bin/python -m tests.browser docs/img/report.png

audits the bundled sample into a temporary folder and saves a full-page screenshot of its report.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_CANDIDATES = ("chromedriver",)


def find_chromium() -> tuple[str, str] | None:
    """(browser, driver) paths, or None when either is not installed."""
    browser = next((p for c in CHROMIUM_CANDIDATES if (p := shutil.which(c))), None)
    driver = next((p for c in DRIVER_CANDIDATES if (p := shutil.which(c))), None)
    if browser is None or driver is None:
        return None
    return browser, driver


def open_chromium(width: int = 1280, height: int = 900) -> Any:
    """A headless Chromium WebDriver that keeps the browser console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    if found is None:
        raise RuntimeError("chromium and chromium-driver are not installed")
    browser, driver = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",  # tests run as root in containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--lang=zh-CN",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """Browser console entries of level SEVERE (errors, CSP violations, failed loads)."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(report: Path, out: Path, width: int = 1280) -> None:
    """Save a full-page PNG of ``report``."""
    driver = open_chromium(width)
    try:
        driver.get(report.resolve().as_uri())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, int(height) + 120)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


def main() -> None:
    from tests.cli import run_egress

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/report.png")
    sample = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "case"
        result = run_egress("audit", sample, "--out", case, "--quiet")
        if result.returncode != 0:
            sys.exit(f"egress audit failed: {result.stderr}")
        screenshot(case / "report.html", out)
    print(out)


if __name__ == "__main__":
    main()

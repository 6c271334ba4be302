"""report.html in headless Chromium (Debian chromium + chromium-driver, via selenium): no console
errors, key figures as in summary.json, the language switch works, hostile host names stay text,
and the docs screenshot command works."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sensor.outputs.report import write_report
from tests.browser import console_errors, find_chromium, open_chromium, screenshot
from tests.cli import run_egress
from tests.report_case import ACME, HOSTILE_HOST, PROCESSORS, make_alert, write_case

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="chromium and chromium-driver are not installed (bash deploy/install.sh --test)",
)
SAMPLE = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    browser = open_chromium()
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def sample_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = tmp_path_factory.mktemp("browser") / "case"
    result = run_egress("audit", SAMPLE, "--out", case, "--quiet")
    assert result.returncode == 0, result.stderr
    return case


def _text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def test_sample_report_figures_match_summary(driver: Any, sample_case: Path) -> None:
    from selenium.webdriver.common.by import By

    summary = json.loads((sample_case / "summary.json").read_text())
    alerts = [json.loads(x) for x in (sample_case / "alerts.jsonl").read_text().splitlines()]
    driver.get((sample_case / "report.html").resolve().as_uri())
    assert console_errors(driver) == []
    assert driver.title.startswith("数据出境审计报告")
    assert _text(driver, "#fig-alerts") == str(summary["counts"]["alerts"])
    assert _text(driver, "#fig-exports") == str(summary["counts"]["exports"])
    assert _text(driver, "#fig-individuals") == str(summary["individuals_in_exported_objects"])
    exported = [a for a in alerts if a["cross_border"]["is_export"]]
    assert _text(driver, "#fig-recipients") == str(
        len({a["destination"]["domain"] for a in exported})
    )
    shown = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#destinations tbody tr"):
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        shown[cells[0].split()[-1]] = int(cells[1].replace(",", ""))
    assert shown == summary["individuals_in_exported_objects_by_destination"]
    assert _text(driver, "#log-head") == summary["audit_log"]["head_sha256"]
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg.chart")) == 4
    assert console_errors(driver) == []


def test_language_switch(driver: Any, sample_case: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get((sample_case / "report.html").resolve().as_uri())
    heading = driver.find_element(By.CSS_SELECTOR, "#figures h2")
    assert "关键数据" in heading.text and "Key figures" in heading.text
    driver.find_element(By.CSS_SELECTOR, '#lang button[data-lang="en"]').click()
    assert heading.text == "Key figures"
    driver.find_element(By.CSS_SELECTOR, '#lang button[data-lang="zh"]').click()
    assert heading.text == "关键数据"
    assert console_errors(driver) == []


def test_hostile_names_stay_text(driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    alerts = [
        make_alert(1, HOSTILE_HOST, "US", 3, processor=ACME),
        make_alert(2, "ok.example", "JP", 2),
    ]
    write_case(tmp_path, alerts, PROCESSORS)
    driver.get(write_report(tmp_path, "T").resolve().as_uri())
    assert driver.execute_script("return window.__pwned === undefined")
    assert driver.find_elements(By.TAG_NAME, "img") == []
    assert HOSTILE_HOST in _text(driver, "#recipients")
    assert [e.get_attribute("data-processor") for e in driver.find_elements(By.CSS_SELECTOR, ".processor")] == ["acme-sz", "unassigned"]  # fmt: skip
    assert console_errors(driver) == []


def test_screenshot_command(sample_case: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.png"
    screenshot(sample_case / "report.html", out)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 1280 and height > 2000  # the whole page, not just the first screen


def test_empty_case_report(driver: Any, tmp_path: Path) -> None:
    write_case(tmp_path, [], processors=None)
    driver.get(write_report(tmp_path, "T").resolve().as_uri())
    assert _text(driver, "#fig-exports") == "0"
    assert "no exports" in _text(driver, "#charts")
    assert console_errors(driver) == []

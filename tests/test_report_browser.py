"""The smoke run's index.html as a reader opens it, in headless Chromium at 1280x800: the first screen holds the
glance table, nothing widens the page, headers sort their tables, every image loads and nothing is fetched."""
from __future__ import annotations

import runpy
from pathlib import Path

from conftest import REPO

SCREEN = runpy.run_path(str(REPO / "benchmarks/report_first_screen.py"))

# (header text, cell texts) of a column, as the page shows it now
COLUMN_JS = """
const table = arguments[0], column = arguments[1];
return [...table.tBodies[0].rows].map(row => row.cells[column].textContent.trim());
"""


def _numbers(cells: list[str]) -> list[float]:
    return [float(c.split(" ")[0].replace(",", "")) for c in cells if c != "n/a"]


def test_first_screen_is_the_glance_table_and_the_page_sorts_loads_and_fits(ci_run: Path, chromium) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium.driver
    SCREEN["set_viewport"](driver, 1280, 800)
    driver.get((ci_run / "reports/all/index.html").as_uri())
    WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.readyState") == "complete"
                                     and d.find_elements(By.ID, "protocol"))
    screen = SCREEN["first_screen"](driver)
    assert screen["glance_top_px"] < 800 and screen["overflowing"] == [] and screen["scroll_width"] <= 1280
    first = driver.execute_script("return document.querySelector('table.glance').parentElement"
                                  ".previousElementSibling.textContent")
    assert first == "mnist"  # params/ci.yaml's first dataset, and its unconditional group leads
    assert driver.execute_script("return document.querySelector('table.glance th').textContent") == \
        "unconditional model"
    h2 = [e.get_attribute("id") for e in driver.find_elements(By.TAG_NAME, "h2")]
    assert h2[0] == "glance" and h2[-1] == "protocol"
    # a wide full table scrolls inside its own box
    assert driver.execute_script("const box = document.querySelector('table.sortable').parentElement;"
                                 "return box.scrollWidth > box.clientWidth")

    table = driver.find_elements(By.CSS_SELECTOR, "table.sortable")[0]
    headers = table.find_elements(By.CSS_SELECTOR, "thead th")
    column = next(i for i, h in enumerate(headers) if h.text == "train s")
    before = driver.execute_script(COLUMN_JS, table, column)
    headers[column].click()
    ascending = driver.execute_script(COLUMN_JS, table, column)
    headers[column].click()
    descending = driver.execute_script(COLUMN_JS, table, column)
    assert sorted(before) == sorted(ascending) and len(set(ascending)) > 1 and ascending != before
    assert _numbers(ascending) == sorted(_numbers(ascending))
    assert _numbers(descending) == sorted(_numbers(descending), reverse=True)

    broken = driver.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)")
    assert broken == [] and driver.find_elements(By.CSS_SELECTOR, "img.thumb")
    fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [url for url in fetched if not url.startswith("data:")] == []
    links = driver.execute_script("return [...document.querySelectorAll('[src], [href]')]"
                                  ".map(e => e.getAttribute('src') || e.getAttribute('href'))")
    assert all(link.startswith(("data:image/png;base64,", "#")) for link in links)

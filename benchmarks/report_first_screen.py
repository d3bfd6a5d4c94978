"""The first screen of a report's index.html as a reader sees it: a screenshot at a given window size (default
1280x800) in headless Debian Chromium, and what overflows the page horizontally.

    python benchmarks/report_first_screen.py reports/all/index.html docs/report_first_screen.png

Prints a JSON record: the screenshot's path, the page's scroll width, the first glance table's top and bottom
edges (px) and the elements, outside the tables' own scrolling boxes, whose right edge passes the window.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

# Elements whose right edge passes the viewport, not counting those inside a box that scrolls on its own.
OVERFLOW_JS = """
const width = document.documentElement.clientWidth;
return [...document.body.querySelectorAll("*")]
  .filter(e => !e.closest(".scroll") && e.getBoundingClientRect().right > width + 1)
  .map(e => e.tagName + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : ""));
"""


def open_page(html: Path, width: int, height: int):
    """A headless Chromium (Selenium) showing ``html`` in a ``width`` x ``height`` viewport, parsed to its end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    set_viewport(driver, width, height)
    driver.get(Path(html).resolve().as_uri())
    WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.readyState") == "complete"
                                     and d.find_elements(By.ID, "protocol"))
    return driver


def set_viewport(driver, width: int, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def first_screen(driver) -> dict:
    top, bottom = driver.execute_script(
        "const r = document.querySelector('table.glance').getBoundingClientRect(); return [r.top, r.bottom];")
    return {"scroll_width": driver.execute_script("return document.documentElement.scrollWidth"),
            "glance_top_px": round(top), "glance_bottom_px": round(bottom),
            "overflowing": driver.execute_script(OVERFLOW_JS)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("screenshot", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args()
    driver = open_page(args.html, args.width, args.height)
    try:
        record = first_screen(driver)
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.screenshot))
    finally:
        driver.quit()
    print(json.dumps({"screenshot": str(args.screenshot), "viewport": [args.width, args.height], **record}, indent=1))


if __name__ == "__main__":
    main()

"""Human evaluation: the HYPE-infinity scores, the exported CSV's checks, and the page driven in headless
Chromium (a whole session clicked through, exported and scored)."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from genbench.cli import main
from genbench.io import InputError
from genbench.metrics.hype import REAL, hype_scores, wilson_interval
from genbench.report.hype import CSV_COLUMNS, HypeImage, image_png, read_judgements, render_hype_page, score_files


def test_wilson_interval_matches_the_closed_form_values():
    # Reference values (Newcombe 1998, Table I style): 0/10 -> [0, 0.2775], 5/10 -> [0.2366, 0.7634]
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    assert wilson_interval(10, 10) == pytest.approx((0.72247, 1.0), abs=1e-5)
    with pytest.raises(ValueError):
        wilson_interval(3, 0)


def by_source(records: list[dict]) -> dict[str, dict]:
    return {r["source"]: r for r in records}


def test_perfect_discrimination_scores_zero_and_chance_scores_one_half():
    sources = [REAL] * 20 + ["good"] * 20 + ["bad"] * 20
    # every real judged real; "good" judged real half of the time; "bad" never
    answers = [True] * 20 + [True, False] * 10 + [False] * 20
    scores = by_source(hype_scores(sources, answers))
    assert scores["bad"]["fooling_rate"] == 0.0 and scores["bad"]["hype_infinity"] == 0.0
    assert scores["good"]["fooling_rate"] == 0.5 and scores["good"]["hype_infinity"] == 0.25
    assert scores[REAL]["fooling_rate"] == 1.0 and math.isnan(scores[REAL]["hype_infinity"])
    low, high = scores["good"]["hype_ci_low"], scores["good"]["hype_ci_high"]
    assert low < 0.25 < high and 0.0 <= low and high <= 0.5
    assert hype_scores(sources, answers) == hype_scores(sources, answers)  # seeded bootstrap


def test_without_real_judgements_hype_is_undefined_but_fooling_rate_is_not():
    scores = by_source(hype_scores(["m"] * 4, [True, True, False, True]))
    assert scores["m"]["fooling_rate"] == 0.75 and math.isnan(scores["m"]["hype_infinity"])
    assert REAL not in scores


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in [CSV_COLUMNS, *rows]) + "\n")
    return path


def test_bad_exports_fail_with_one_line_naming_file_and_row(tmp_path: Path):
    bad_answer = write_csv(tmp_path / "a.csv", [["x", "1", "i", "mnist", "real", "maybe", "10"]])
    with pytest.raises(InputError, match=r"a\.csv: row 2: answer 'maybe'"):
        read_judgements(bad_answer)
    (tmp_path / "b.csv").write_text("evaluator,trial\nx,1\n")
    with pytest.raises(InputError, match=r"b\.csv: missing column 'image_id'"):
        read_judgements(tmp_path / "b.csv")
    with pytest.raises(InputError, match="file not found"):
        read_judgements(tmp_path / "missing.csv")
    assert main(["hype-score", str(bad_answer)]) == 2


def tiny_page_images() -> list[HypeImage]:
    rng = np.random.default_rng(0)
    images = []
    for source, n in (("good/direct", 3), ("bad/direct", 3), (REAL, 6)):
        for i in range(n):
            pixels = rng.integers(0, 256, (1, 8, 8), dtype=np.uint8)
            images.append(HypeImage(f"mnist-{source.replace('/', '-')}-{i}", "mnist", source, image_png(pixels)))
    return images


def wait_for_file(folder: Path, name: str, timeout: float = 20) -> Path:
    deadline = time.monotonic() + timeout
    while not (folder / name).is_file():
        assert time.monotonic() < deadline, f"{name} was not downloaded into {folder}"
        time.sleep(0.2)
    return folder / name


@pytest.mark.slow  # a headless browser
def test_page_session_in_headless_chromium_exports_a_csv_that_scores(chromium, tmp_path: Path, capsys):
    """An evaluator who always spots 'bad' and never spots 'good': fooling rates 0 and 1, reals kept."""
    from selenium.webdriver.common.by import By

    page = tmp_path / "hype.html"
    page.write_text(render_hype_page(tiny_page_images(), profile="test"))
    driver = chromium.driver
    driver.get(page.as_uri())
    assert driver.find_element(By.ID, "total").text == "12"
    name = driver.find_element(By.ID, "evaluator")
    name.clear()
    name.send_keys("tester")
    driver.find_element(By.ID, "start").click()
    shown = []
    for trial in range(12):
        assert driver.find_element(By.ID, "progress").text == f"image {trial + 1} of 12"
        source = driver.execute_script("return IMAGES[order[trial]].source")
        shown.append(driver.execute_script("return IMAGES[order[trial]].id"))
        driver.find_element(By.ID, "fake" if source == "bad/direct" else "real").click()
    assert sorted(shown) == sorted(im.image_id for im in tiny_page_images())  # each image once
    assert driver.find_element(By.ID, "answered").text == "12"
    driver.find_element(By.ID, "export").click()
    exported = wait_for_file(chromium.downloads, "hype_results.csv")

    table = read_judgements(exported)
    assert list(table["evaluator"].unique()) == ["tester"] and list(table["trial"]) == [str(i) for i in range(1, 13)]
    assert list(table["image_id"]) == shown
    scores = score_files([exported]).set_index("source")
    assert scores.at["good/direct", "fooling_rate"] == 1.0 and scores.at["bad/direct", "fooling_rate"] == 0.0
    assert scores.at[REAL, "fooling_rate"] == 1.0 and scores.at["good/direct", "hype_infinity"] == 0.5
    assert main(["hype-score", str(exported), "--out", str(tmp_path / "scores.csv")]) == 0
    assert "good/direct" in capsys.readouterr().out and (tmp_path / "scores.csv").is_file()

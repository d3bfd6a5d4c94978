"""``reports/all/hype.html``: a human real-vs-fake evaluation page (HYPE-infinity protocol), and its scoring.

The page is self-contained (images as data URIs, inline script, no network): open it from disk, enter a
name, answer "real" or "fake" (buttons, or the R and F keys) for each image shown one at a time in a fresh
random order, then export the answers as CSV. ``genbench hype-score a.csv [b.csv ...]`` pools the files
of several people and prints each model's fooling rate (``genbench.metrics.hype``).

Per dataset the page holds ``images_per_model`` images of every generative model (at its best sampler by
domain FD: the setting the report's tables rank first) and as many real test images as all its models
together, so that half of what a person sees is real, as in the paper.
"""
from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from genbench.data import load_split
from genbench.io import InputError, load_npz
from genbench.metrics.hype import REAL, hype_scores
from genbench.report.collect import Results, run_dir

__all__ = ["CSV_COLUMNS", "HypeImage", "hype_images", "read_judgements", "render_hype_page", "score_files"]

CSV_COLUMNS = ["evaluator", "trial", "image_id", "dataset", "source", "answer", "response_ms"]


@dataclass(frozen=True)
class HypeImage:
    image_id: str
    dataset: str
    source: str  # REAL or "<preset>/<sampler>"
    png: bytes


def image_png(image: np.ndarray) -> bytes:
    """One uint8 (C, H, W) image as PNG bytes (mode L or RGB)."""
    pixels = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="PNG")
    return buf.getvalue()


def best_samplers(results: Results) -> pd.DataFrame:
    """Generative models only (no image-to-image outputs): one row per (dataset, preset, seed), the sampler
    with the lowest domain FD (the first listed where FD is missing)."""
    rows = results.summary[results.summary["task"].fillna("") == ""]
    if "fd_domain" in rows:
        rows = rows.sort_values("fd_domain", na_position="last", kind="stable")
    return rows.drop_duplicates(["dataset", "preset", "seed"]).sort_values(["dataset", "preset", "seed"])


def hype_images(results: Results, results_root: Path, data_root: Path, *, images_per_model: int,
                seed: int = 0) -> list[HypeImage]:
    """Seeded choice of the images the page shows (first seed of each model), real ones last per dataset."""
    rng = np.random.default_rng(seed)
    chosen: list[HypeImage] = []
    models = best_samplers(results)
    models = models[models["seed"] == models.groupby(["dataset", "preset"])["seed"].transform("min")]
    for dataset, rows in models.groupby("dataset", sort=True):
        for row in rows.itertuples():
            path = run_dir(results_root, dataset, row.preset, row.seed) / "samples" / f"{row.sampler}.npz"
            fakes = load_npz(path, required=("images",))["images"]
            if len(fakes) < images_per_model:
                raise InputError(f"{path}: has {len(fakes)} images, report.hype_images_per_model asks for "
                                 f"{images_per_model}; lower it or re-run the sample rule")
            for i in np.sort(rng.choice(len(fakes), images_per_model, replace=False)):
                chosen.append(HypeImage(f"{dataset}-{row.preset}-{row.sampler}-{i}", dataset,
                                        f"{row.preset}/{row.sampler}", image_png(fakes[i])))
        reals, _ = load_split(data_root / dataset, "test")
        for i in np.sort(rng.choice(len(reals), images_per_model * len(rows), replace=False)):
            chosen.append(HypeImage(f"{dataset}-real-{i}", dataset, REAL, image_png(reals[i])))
    return chosen


def render_hype_page(images: Sequence[HypeImage], *, profile: str) -> str:
    """The page: the images and the script that shows them, records the answers and exports the CSV."""
    items = [{"id": im.image_id, "dataset": im.dataset, "source": im.source,
              "src": "data:image/png;base64," + base64.b64encode(im.png).decode("ascii")} for im in images]
    data = json.dumps(items).replace("</", "<\\/")  # no "</script>" inside the script element
    title = f"genbench human evaluation: profile {profile}"
    return PAGE.replace("@TITLE@", escape(title)).replace("@COLUMNS@", json.dumps(CSV_COLUMNS)).replace(
        "@IMAGES@", data)


def read_judgements(path: Path) -> pd.DataFrame:
    """An exported CSV, checked: the header, and every answer "real" or "fake"."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; export it from reports/all/hype.html") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a CSV exported by hype.html ({err})") from None
    missing = [c for c in CSV_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column '{missing[0]}' (hype.html exports {','.join(CSV_COLUMNS)})")
    bad = table.index[~table["answer"].isin(["real", "fake"])]
    if len(bad):
        raise InputError(f"{path}: row {bad[0] + 2}: answer {table.at[bad[0], 'answer']!r} is neither 'real' nor 'fake'")
    if table.empty:
        raise InputError(f"{path}: no answers; finish a session in hype.html before exporting")
    return table


def score_files(paths: Sequence[Path]) -> pd.DataFrame:
    """Pooled scores of the exported CSVs, one row per (dataset, source): see ``hype_scores``."""
    table = pd.concat([read_judgements(Path(p)) for p in paths], ignore_index=True)
    rows = []
    for dataset, judged in table.groupby("dataset", sort=True):
        for record in hype_scores(list(judged["source"]), list(judged["answer"] == "real")):
            rows.append({"dataset": dataset, **record, "evaluators": judged["evaluator"].nunique()})
    return pd.DataFrame(rows)


def format_scores(scores: pd.DataFrame) -> str:
    """The terminal table of ``genbench hype-score``."""
    lines = [f"{'dataset':<14} {'source':<28} {'n':>5} {'judged real':>11} {'fooling rate (95% CI)':>24} "
             f"{'HYPE-inf (95% CI)':>22}"]
    for r in scores.itertuples():
        hype = ("" if r.source == REAL else
                f"{100 * r.hype_infinity:5.1f}% [{100 * r.hype_ci_low:4.1f}, {100 * r.hype_ci_high:4.1f}]")
        lines.append(f"{r.dataset:<14} {r.source:<28} {r.n:>5} {r.judged_real:>11} "
                     f"{100 * r.fooling_rate:8.1f}% [{100 * r.fooling_ci_low:4.1f}, {100 * r.fooling_ci_high:5.1f}] "
                     f"{hype:>22}")
    lines.append("fooling rate: share of a source's images judged real (for 'real': the evaluators' calibration); "
                 "HYPE-inf: mean of fakes error and reals error, 50% = indistinguishable")
    return "\n".join(lines)


def write_scores_csv(scores: pd.DataFrame) -> str:
    buf = io.StringIO()
    scores.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
    return buf.getvalue()


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>@TITLE@</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; padding: 0 1rem; color: #222;
       text-align: center; }
#stimulus { width: 16rem; height: 16rem; image-rendering: pixelated; border: 1px solid #ccc; margin: 1rem; }
button { font-size: 1.1rem; padding: 0.5rem 1.5rem; margin: 0.5rem; }
.hidden { display: none; }
</style>
</head>
<body>
<h1>@TITLE@</h1>
<section id="intro">
<p>You will see <span id="total"></span> images, one at a time, half of them real photographs or scans from
the datasets and half made by generative models, in a random order. Take as long as you need and answer
whether each image is <b>real</b> or <b>fake</b> (or press R / F).</p>
<label>Your name or initials: <input id="evaluator" value="anonymous"></label>
<p><button id="start">Start</button></p>
</section>
<section id="trial" class="hidden">
<p id="progress"></p>
<img id="stimulus" alt="image to judge">
<p><button id="real">Real (R)</button><button id="fake">Fake (F)</button></p>
</section>
<section id="done" class="hidden">
<p>Done: <span id="answered"></span> answers. Export them and send the file to whoever runs the study;
<code>genbench hype-score hype_results.csv</code> scores one or several files.</p>
<p><button id="export">Export CSV</button></p>
</section>
<script>
"use strict";
const COLUMNS = @COLUMNS@;
const IMAGES = @IMAGES@;
const answers = [];
let order = [], trial = 0, shownAt = 0, evaluator = "";
const $ = (id) => document.getElementById(id);

function shuffled(n) {  // Fisher-Yates over crypto randomness: a fresh order for every session
  const idx = Array.from({length: n}, (_, i) => i);
  const rnd = new Uint32Array(n);
  crypto.getRandomValues(rnd);
  for (let i = n - 1; i > 0; i--) {
    const j = rnd[i] % (i + 1);
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx;
}

function show() {
  if (trial === order.length) {
    $("trial").classList.add("hidden");
    $("done").classList.remove("hidden");
    $("answered").textContent = answers.length;
    return;
  }
  $("progress").textContent = `image ${trial + 1} of ${order.length}`;
  $("stimulus").src = IMAGES[order[trial]].src;
  shownAt = performance.now();
}

function answer(label) {
  if ($("trial").classList.contains("hidden")) return;
  const image = IMAGES[order[trial]];
  answers.push([evaluator, trial + 1, image.id, image.dataset, image.source, label,
                Math.round(performance.now() - shownAt)]);
  trial += 1;
  show();
}

function csvField(value) {
  const text = String(value);
  return /[",\\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

function exportCsv() {
  const lines = [COLUMNS, ...answers].map((row) => row.map(csvField).join(","));
  const blob = new Blob([lines.join("\\n") + "\\n"], {type: "text/csv"});
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "hype_results.csv";
  document.body.appendChild(link);
  link.click();
  link.remove();
}

$("total").textContent = IMAGES.length;
$("start").addEventListener("click", () => {
  evaluator = $("evaluator").value.trim() || "anonymous";
  order = shuffled(IMAGES.length);
  $("intro").classList.add("hidden");
  $("trial").classList.remove("hidden");
  show();
});
$("real").addEventListener("click", () => answer("real"));
$("fake").addEventListener("click", () => answer("fake"));
$("export").addEventListener("click", exportCsv);
document.addEventListener("keydown", (event) => {
  if (event.key === "r" || event.key === "R") answer("real");
  if (event.key === "f" || event.key === "F") answer("fake");
});
</script>
</body>
</html>
"""

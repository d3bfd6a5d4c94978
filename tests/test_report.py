"""genbench.report on synthetic result files (no training): tables, self-contained HTML, errors naming paths."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import recorded_config, recorded_kinds
from genbench.images import make_grid, save_grid
from genbench.io import InputError, write_json
from genbench.report import build_report

DATASETS = ("mnist", "fashion_mnist")
PRESETS = {"dcgan": ("direct",), "ddpm": ("ddim50", "ddpm1000")}
SHA = {"mnist": "a" * 64, "fashion_mnist": "b" * 64}
BENCHMARK = ("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
             "12.5\t0:00:12\t812.3\t2000.1\t700.0\t710.0\t1.0\t2.0\t95.0\t11.9\n")


def _protocol(dataset: str, **extra) -> dict:
    return {"feature_space": "domain", "extractor_sha256": SHA[dataset], "n_real": 64, "n_fake": 64,
            "reference_split": "test", "resize": "none", **extra}


def write_results(root: Path, seeds=(0,), *, benchmark: bool = True) -> None:
    rng = np.random.default_rng(0)
    for dataset in DATASETS:
        write_json(root / dataset / "domain/classifier.json", {
            "test_accuracy": 0.97, "n_train": 1000, "n_test": 500, "epochs": 1, "train_seconds": 3.0,
            "sha256": SHA[dataset]})
        for preset, samplers in PRESETS.items():
            for seed in seeds:
                run = root / dataset / preset / f"seed{seed}"
                run.mkdir(parents=True, exist_ok=True)
                (run / "config.yaml").write_text(recorded_config(preset))
                write_json(run / "train_summary.json", {
                    "family": preset, **recorded_kinds(preset), "preset": preset, "dataset": dataset, "seed": seed,
                    "steps": 20,
                    "train_seconds": 4.2, "images_per_second": 300.0, "n_parameters": 12345, "device": "cpu",
                    "mlflow_run_id": "abc"})
                names = ("loss_g", "loss_d") if preset == "dcgan" else ("loss",)
                lines = ["step,name,value"] + [f"{s},{n},{1 / (s + 1):.4f}" for s in range(0, 20, 5) for n in names]
                (run / "losses.csv").write_text("\n".join(lines) + "\n")
                if benchmark:
                    (run / "train.benchmark.tsv").write_text(BENCHMARK)
                for sampler in samplers:
                    write_json(run / "samples" / f"{sampler}.json", {
                        "sampler": sampler, "algo": sampler.rstrip("0123456789"), "steps": 50, "eta": 0.0,
                        "n": 64, "seconds": 1.0, "images_per_second": 64.0})
                    images = rng.integers(0, 256, (8, 1, 8, 8), dtype=np.uint8)
                    save_grid(images[:4], run / "samples" / f"{sampler}.png")
                    np.savez(run / "samples" / f"{sampler}.npz", images=images)
                    fd = float(rng.uniform(1, 50))
                    write_json(run / "metrics" / f"{sampler}.json", {
                        "dataset": dataset, "preset": preset, "family": preset, "sampler": sampler, "seed": seed,
                        "metrics": {
                            "fd_domain": {"value": fd, "protocol": _protocol(dataset, samples_sha256=f"{fd}")},
                            "kid_domain": {"value": 0.01, "std": 0.002, "protocol": _protocol(dataset, subsets=10)},
                            "is_domain": {"value": 8.5, "std": 0.1, "protocol": _protocol(dataset, splits=10)},
                            "precision_domain": {"value": 0.7, "protocol": _protocol(dataset, k=3)},
                            "recall_domain": {"value": 0.5, "protocol": _protocol(dataset, k=3)}}})


def _build(tmp_path: Path, seeds=(0,)) -> Path:
    out = tmp_path / "reports" / "all"
    build_report(tmp_path / "results", out, profile="test", datasets=DATASETS, presets=tuple(PRESETS), seeds=seeds)
    return out


def test_report_tables_figures_and_pages(tmp_path):
    write_results(tmp_path / "results")
    out = _build(tmp_path)
    with open(out / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 3  # 2 datasets x (dcgan/direct + ddpm/ddim50 + ddpm/ddpm1000)
    for column in ("dataset", "preset", "family", "sampler", "seed", "fd_domain", "kid_domain", "kid_domain_std",
                   "is_domain_std", "precision_domain", "recall_domain", "n_real", "n_fake", "feature_space",
                   "extractor_sha256", "train_seconds", "peak_rss_mb", "train_images_per_second",
                   "sample_images_per_second", "n_parameters"):
        assert column in rows[0], column
    assert {r["peak_rss_mb"] for r in rows} == {"812.3"} and {r["n_real"] for r in rows} == {"64"}
    assert not (out / "summary_by_model.csv").exists()  # one seed only
    with open(out / "domain_classifiers.csv") as fh:
        assert [r["dataset"] for r in csv.DictReader(fh)] == list(DATASETS)
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert "losses_mnist_dcgan.png" in figures and "fd_fashion_mnist.png" in figures
    # losses, FD and precision/recall, timeline.png; per dataset the glance's quality-vs-cost figure, mosaic and a
    # thumbnail per model (dcgan, ddpm at one sampler setting)
    assert "precision_recall_mnist.png" in figures and len(figures) == 2 * 2 + 2 * 2 + 1 + 2 * 2 + 2 * 2
    assert {"quality_cost_mnist.png", "mosaic_fashion_mnist.png", "thumb_mnist_dcgan_direct.png"} <= set(figures)
    assert sorted(p.name for p in (out / "grids").iterdir())[:2] == ["fashion_mnist_dcgan_direct.png",
                                                                      "fashion_mnist_ddpm_ddim50.png"]
    markdown = (out / "report.md").read_text()
    assert "| model | family | sampler |" in markdown and "|---|" in markdown
    # the glance table first, the protocol last
    assert markdown.index("## At a glance") < markdown.index("| unconditional model | FD ↓ |") < markdown.index(
        "## Results") < markdown.index("## How it was measured") < markdown.index("n_real=64")
    assert "n_real=64" in markdown and SHA["mnist"] in markdown and "Warning" not in markdown
    assert "No Inception Score in the Inception space (is_inception): it is not available offline" in markdown
    assert "settings that differ from the paper's (this run's config.yaml): " in markdown  # ddpm's reference rows
    page = (out / "index.html").read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?://", page)
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert page.count("<script") == 1 and "<script>" in page  # the inline sorting script, nothing loaded
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(figures) + 6 and all(s.startswith("data:image/png;base64,") for s in sources)
    # results and GAN table per dataset, timeline (of the train.benchmark.tsv files), references, classifiers
    assert page.count("<table>") == len(DATASETS) + 3
    assert page.count('<table class="glance">') == page.count('<table class="sortable">') == len(DATASETS)
    assert "<h3>GANs: mnist</h3>" in page and "### GANs: mnist" in markdown


def test_html_tables_are_sorted_by_fd_and_escaped(tmp_path):
    write_results(tmp_path / "results")
    summary = tmp_path / "results/mnist/dcgan/seed0/train_summary.json"
    summary.write_text(summary.read_text().replace('"family": "dcgan"', '"family": "<b>gan</b>"'))
    page = (_build(tmp_path) / "index.html").read_text()
    assert "<b>gan</b>" not in page and "&lt;b&gt;gan&lt;/b&gt;" in page
    mnist = page.split("<h3>mnist: unconditional</h3>")[1].split("</table>")[0]
    fds = [float(cells[4].split(" ")[0]) for cells in re.findall(r"<tr>((?:<td>[^<]*</td>)+)</tr>", mnist)
           for cells in [re.findall(r"<td>([^<]*)</td>", cells)]]
    assert len(fds) == 3 and fds == sorted(fds)


def test_several_seeds_give_by_model_means(tmp_path):
    write_results(tmp_path / "results", seeds=(0, 1), benchmark=False)
    out = _build(tmp_path, seeds=(0, 1))
    with open(out / "summary_by_model.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and {r["n_seeds"] for r in rows} == {"2"}
    assert {"fd_domain_mean", "fd_domain_seed_std", "kid_domain_std_mean"} <= set(rows[0])
    with open(out / "summary.csv") as fh:
        assert {r["peak_rss_mb"] for r in csv.DictReader(fh)} == {"n/a"}  # no benchmark files
    assert " ± " in (out / "report.md").read_text()


def test_missing_metrics_file_names_it_and_keeps_old_report(tmp_path):
    write_results(tmp_path / "results")
    out = _build(tmp_path)
    missing = tmp_path / "results/fashion_mnist/ddpm/seed0/metrics/ddim50.json"
    missing.unlink()
    with pytest.raises(InputError, match=re.escape(str(missing))):
        _build(tmp_path)
    assert (out / "index.html").is_file()  # the previous report is untouched
    assert [p.name for p in out.parent.iterdir()] == ["all"]  # no temp dirs left behind


@pytest.mark.parametrize("relative", ["fashion_mnist/domain/classifier.json", "mnist/vae",
                                      "mnist/dcgan/seed0/losses.csv", "mnist/ddpm/seed0/samples/ddim50.png"])
def test_other_missing_inputs_name_the_path(tmp_path, relative):
    write_results(tmp_path / "results")
    presets = tuple(PRESETS) + (("vae",) if relative == "mnist/vae" else ())
    path = tmp_path / "results" / relative
    if path.exists():
        path.unlink()
    with pytest.raises(InputError, match=re.escape(str(path))):
        build_report(tmp_path / "results", tmp_path / "out", profile="test", datasets=DATASETS, presets=presets,
                     seeds=(0,))


def test_grid_layout_and_png_modes(tmp_path):
    images = np.arange(5 * 3 * 4 * 4, dtype=np.uint8).reshape(5, 3, 4, 4)
    grid = make_grid(images, nrow=2)
    assert grid.shape == (3 * 6 + 2, 2 * 6 + 2, 3)
    assert np.array_equal(grid[2:6, 8:12], images[1].transpose(1, 2, 0))
    save_grid(images, tmp_path / "rgb.png")
    save_grid(images[:, :1], tmp_path / "gray.png")
    assert Image.open(tmp_path / "rgb.png").mode == "RGB" and Image.open(tmp_path / "gray.png").mode == "L"
    with pytest.raises(ValueError, match="uint8"):
        make_grid(images.astype(np.float32))


def test_rows_of_different_code_versions_are_flagged():
    """genbench.code_version: the report names a family trained by two versions of its code, and metrics
    measured by two versions of the metric code; one version each says nothing."""
    from types import SimpleNamespace

    import pandas as pd

    from genbench.report.tables import code_warnings

    rows = pd.DataFrame({"family": ["dcgan", "dcgan", "vae"], "code_train": ["a" * 16, "a" * 16, "c" * 16],
                         "code_metrics": ["m" * 16] * 3})
    assert code_warnings(SimpleNamespace(summary=rows)) == []
    rows.loc[1, ["code_train", "code_metrics"]] = ["b" * 16, "n" * 16]
    warnings = code_warnings(SimpleNamespace(summary=rows))
    assert len(warnings) == 2
    assert "2 versions of the metric code (mmmmmmmm: 2 rows, nnnnnnnn: 1 rows)" in warnings[0]
    assert "family dcgan was trained by 2 versions of its code (aaaaaaaa, bbbbbbbb)" in warnings[1]


def test_bits_per_dim_column_and_likelihood_section(tmp_path):
    write_results(tmp_path / "results")
    for dataset, bits in (("mnist", 1.25), ("fashion_mnist", 3.5)):
        write_json(tmp_path / "results" / dataset / "ddpm" / "seed0" / "likelihood.json", {
            "primary": "vlb", "protocol": {"n": 100, "unit": "bits/dim"}, "seconds": 10.0, "images_per_second": 10.0,
            "estimates": {"vlb_prior": {"bits_per_dim": 0.001, "standard_error": 0.0, "how": "L_T"},
                          "vlb": {"bits_per_dim": bits, "standard_error": 0.02, "how": "variational bound"}}})
    out = _build(tmp_path)
    with open(out / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    bits = {(r["dataset"], r["preset"], r["sampler"]): r["bits_per_dim"] for r in rows}
    assert bits[("mnist", "ddpm", "ddim50")] == bits[("mnist", "ddpm", "ddpm1000")] == "1.25"
    assert bits[("mnist", "dcgan", "direct")] == "n/a"  # a GAN has no likelihood
    markdown = (out / "report.md").read_text()
    assert "bits/dim ↓" in markdown and "### Likelihood vs sample quality" in markdown
    section = markdown.split("### Likelihood vs sample quality")[1]
    assert "| mnist | ddpm | ddpm | vlb * | 1.25 |" in section and "vlb_prior" in section
    assert (out / "figures").is_dir() and not (out / "figures" / "likelihood_vs_fd_mnist.png").exists()  # one point


def test_the_first_screen_and_the_memorisation_row_show_the_main_sampler(tmp_path):
    from genbench.report.collect import collect
    from genbench.report.glance import best_models
    from genbench.report.memorisation import memorisation_section
    from genbench.report.tables import by_model

    root = tmp_path / "results"
    write_results(root)
    for dataset in DATASETS:  # a truncated setting of dcgan with the best FD of all: not what stands for the model
        run = root / dataset / "dcgan/seed0"
        write_json(run / "samples/psi05.json", {"sampler": "psi05", "algo": "direct", "steps": 1, "psi": 0.5, "n": 64,
                                                "seconds": 1.0, "images_per_second": 64.0})
        for suffix in (".png", ".npz"):
            (run / f"samples/psi05{suffix}").write_bytes((run / f"samples/direct{suffix}").read_bytes())
        write_json(run / "metrics/psi05.json",
                   {"metrics": {"fd_domain": {"value": 0.1, "protocol": _protocol(dataset)}}})
    run = root / "mnist/dcgan/seed0"
    write_json(run / "memorisation/direct.json", {
        "protocol": {"n_fake": 64, "n_train": 1000}, "median_fake_to_train": 4.0, "median_test_to_train": 3.0,
        "distance_ratio": 1.3, "near_copy_rate": 0.01, "quantile": 0.05})
    (run / "memorisation/direct.png").write_bytes((run / "samples/direct.png").read_bytes())
    results = collect(root, datasets=DATASETS, presets=tuple(PRESETS), seeds=(0,))
    models = by_model(results)
    for main, expected in (({"dcgan": "direct"}, "direct"), (None, "direct"), ({"dcgan": "psi05"}, "psi05")):
        best = best_models(results, models, main)  # without a main: the best untruncated setting
        assert set(best.loc[best["preset"] == "dcgan", "sampler"]) == {expected}, main
    assert memorisation_section(results, root).rows[0][2] == "direct (untruncated)"

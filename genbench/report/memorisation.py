"""The memorisation section of the report: per generative model, its copy statistics and the figure of its
samples nearest to the training set (``<run>/memorisation/<sampler>.{json,png}``, genbench.jobs.memorisation)."""
from __future__ import annotations

from pathlib import Path

from genbench.io import InputError, read_json
from genbench.report.collect import Results, run_dir, sampler_with_setting
from genbench.report.experiments import Section
from genbench.report.tables import fmt

__all__ = ["memorisation_section"]


def memorisation_section(results: Results, results_root: Path) -> Section | None:
    """None when no run has a memorisation record (the check is off: ``memorisation.enabled: false``)."""
    section = Section(
        "Memorisation check (nearest training images)",
        "Each model's samples at its main sampler setting (the preset's main:; its truncation named beside it) "
        "against its whole train split in the domain feature space. Distance ratio: median "
        "sample-to-nearest-training-image distance over the same median for unseen test images: about 1 for a "
        "model that generalises, well below 1 for one that copies (above 1: samples off the data manifold). "
        "Near-copy rate: share of samples closer to the training set than the closest 5 % of test images "
        "(5 % expected without copying). Figures: the samples nearest to the training set, each beside its "
        "nearest training images with their distances.",
        ["dataset", "model", "sampler", "seed", "n samples", "n train", "median d(sample, train)",
         "median d(test, train)", "distance ratio", "near-copy rate"])
    runs = results.summary[["dataset", "preset", "seed"]].drop_duplicates()
    for run in runs.sort_values(["dataset", "preset", "seed"]).itertuples():
        folder = run_dir(results_root, run.dataset, run.preset, run.seed) / "memorisation"
        for path in sorted(folder.glob("*.json")):
            record = read_json(path)
            figure = path.with_suffix(".png")
            if not figure.is_file():
                raise InputError(f"{figure}: file not found; re-run the memorisation rule that makes it")
            try:
                protocol = record["protocol"]
                sampler = sampler_with_setting(results.summary, run.dataset, run.preset, path.stem)
                section.rows.append([run.dataset, run.preset, sampler, str(run.seed), str(protocol["n_fake"]),
                                     str(protocol["n_train"]), fmt(record["median_fake_to_train"]),
                                     fmt(record["median_test_to_train"]), fmt(record["distance_ratio"], 3),
                                     f"{fmt(record['near_copy_rate'], 3)} (expected {fmt(record['quantile'])})"])
            except KeyError as err:
                raise InputError(f"{path}: missing key {err}; re-run its memorisation rule") from None
            section.figures[f"memorisation_{run.dataset}_{run.preset}_{path.stem}_seed{run.seed}.png"] = \
                figure.read_bytes()
    return section if section.rows else None


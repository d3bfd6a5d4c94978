"""The FD-over-training section of the report: per generative model, FD in the domain space at its milestone
steps and at the end (``<run>/training_curve/<sampler>.json``, genbench.jobs.training_curve), one figure per dataset."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from genbench.io import InputError, read_json
from genbench.report.collect import Results, run_dir, sampler_with_setting
from genbench.report.experiments import Section
from genbench.images import figure_png
from genbench.report.tables import fmt

__all__ = ["training_curve_section", "training_curve_figure"]


def training_curve_figure(curves: dict[str, list[dict]], title: str) -> bytes:
    """One line per model (``{label: points}``); log scale: early FDs are often 10x the final ones."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for label, points in curves.items():
        ax.plot([p["step"] for p in points], [p["fd_domain"] for p in points], marker="o", label=label)
    ax.set(title=title, xlabel="training step", ylabel="FD (domain features, lower is better)", yscale="log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return figure_png(fig)


def training_curve_section(results: Results, results_root: Path) -> Section | None:
    """None when no run has a training-curve record (``training_curve.enabled: false``)."""
    section = Section(
        "FD over training steps",
        "Each model's sampling network (its EMA weights where it keeps them) at evenly spaced steps "
        "(train.curve_points) and at the end, sampled with its main sampler setting (the preset's main:; its "
        "truncation named beside it) from the same seed and "
        "measured against the same real reference. Fewer samples than the tables use (training_curve.n_fake), "
        "so these FDs compare with each other, not with the tables' values (FD is biased upwards at small n).",
        ["dataset", "model", "sampler", "seed", "n_fake", "n_real", "FD by step", "first / last FD"])
    by_dataset: dict[str, dict[str, list[dict]]] = {}
    runs = results.summary[["dataset", "preset", "seed"]].drop_duplicates()
    for run in runs.sort_values(["dataset", "preset", "seed"]).itertuples():
        folder = run_dir(results_root, run.dataset, run.preset, run.seed) / "training_curve"
        for path in sorted(folder.glob("*.json")):
            record = read_json(path)
            try:
                points, protocol = record["points"], record["protocol"]
                by_step = ", ".join(f"{p['step']}: {fmt(p['fd_domain'], 3)}" for p in points)
                ratio = points[0]["fd_domain"] / points[-1]["fd_domain"] if points[-1]["fd_domain"] else float("nan")
                sampler = sampler_with_setting(results.summary, run.dataset, run.preset, path.stem)
                section.rows.append([run.dataset, run.preset, sampler, str(run.seed), str(protocol["n_fake"]),
                                     str(protocol["n_real"]), by_step, f"{fmt(ratio, 3)}x"])
            except (KeyError, IndexError) as err:
                raise InputError(f"{path}: missing {err}; re-run its training_curve rule") from None
            label = f"{run.preset} / {path.stem}" + (f" (seed {run.seed})" if runs["seed"].nunique() > 1 else "")
            by_dataset.setdefault(run.dataset, {})[label] = points
    for dataset, curves in by_dataset.items():
        section.figures[f"training_curve_{dataset}.png"] = training_curve_figure(curves, f"FD over training: {dataset}")
    return section if section.rows else None


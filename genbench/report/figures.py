"""Report figures as PNG bytes: loss curves, FD bars, precision/recall scatter.

Uses matplotlib's object API; ``genbench.images.figure_png`` renders on the Agg canvas (no pyplot, no global
backend state) and strips the "Software" metadata so the same numbers give the same bytes.
"""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from genbench.images import figure_png
from genbench.report.collect import Results


def _label(row: pd.Series) -> str:
    return f"{row['preset']} / {row['sampler']}"


def loss_figure(losses: pd.DataFrame, title: str) -> bytes:
    """One line per loss name (and seed, when there are several)."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    several_seeds = losses["seed"].nunique() > 1
    for (name, seed), curve in losses.groupby(["name", "seed"], sort=True):
        curve = curve.sort_values("step")
        ax.plot(curve["step"], curve["value"], label=f"{name} (seed {seed})" if several_seeds else str(name))
    ax.set(title=title, xlabel="step", ylabel="loss")
    ax.grid(alpha=0.3)
    if len(ax.get_lines()):
        ax.legend(fontsize="small")
    return figure_png(fig)


def fd_figure(models: pd.DataFrame, title: str) -> bytes:
    """Bar per model+sampler, error bars = standard deviation across seeds where there are several."""
    rows = models.sort_values("fd_domain_mean", na_position="last", kind="stable")
    fig = Figure(figsize=(max(5, 1.1 * len(rows) + 2), 4), layout="constrained")
    ax = fig.add_subplot()
    errors = rows["fd_domain_seed_std"].fillna(0) if (rows["n_seeds"] > 1).any() else None
    ax.bar([_label(r) for _, r in rows.iterrows()], rows["fd_domain_mean"], yerr=errors, capsize=4, color="#4c72b0")
    ax.set(title=title, ylabel="FD (domain features, lower is better)")
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(axis="y", alpha=0.3)
    return figure_png(fig)


def precision_recall_figure(models: pd.DataFrame, title: str) -> bytes:
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    markers = "osD^vP*X"
    for i, (_, row) in enumerate(models.iterrows()):  # a legend, not annotations: points often coincide
        ax.scatter(row["recall_domain_mean"], row["precision_domain_mean"], s=50, marker=markers[i % len(markers)],
                   alpha=0.8, label=_label(row))
    ax.set(title=title, xlabel="recall (domain, k-NN)", ylabel="precision (domain, k-NN)",
           xlim=(-0.05, 1.05), ylim=(-0.05, 1.05))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower left")
    return figure_png(fig)


def render_figures(results: Results, models: pd.DataFrame) -> dict[str, bytes]:
    """``{file name: PNG bytes}`` for every figure the results support (a metric absent -> no figure)."""
    figures: dict[str, bytes] = {}
    for (dataset, preset), losses in results.losses.groupby(["dataset", "preset"], sort=False):
        figures[f"losses_{dataset}_{preset}.png"] = loss_figure(losses, f"training losses: {dataset} / {preset}")
    for dataset, rows in models.groupby("dataset", sort=False):
        if "fd_domain_mean" in rows and rows["fd_domain_mean"].notna().any():
            figures[f"fd_{dataset}.png"] = fd_figure(rows, f"FD (domain): {dataset}")
        pr = [f"{m}_mean" for m in ("precision_domain", "recall_domain")]
        if all(c in rows for c in pr) and rows[pr].notna().all(axis=1).any():
            figures[f"precision_recall_{dataset}.png"] = precision_recall_figure(
                rows.dropna(subset=pr), f"precision / recall: {dataset}")
    return figures

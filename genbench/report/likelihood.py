"""The report's "Likelihood vs sample quality": every likelihood estimate of every model that has one
(``likelihood.json``, genbench.jobs.likelihood) beside its sample quality, and a scatter of the two.

A likelihood and a sample-quality score answer different questions (Theis, van den Oord & Bethge 2016, "A note
on the evaluation of generative models", https://arxiv.org/abs/1511.01844): a model can spend its probability
mass well on pixel statistics (backgrounds, stroke edges) and still draw poor digits, or draw sharp digits while
covering the data badly. The section shows whether the two rank this profile's models alike.
"""
from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from genbench.report.collect import Results
from genbench.report.experiments import Section
from genbench.images import figure_png
from genbench.report.tables import fmt

__all__ = ["likelihood_section"]

QUALITY = "fd_domain"


def _best_quality(summary: pd.DataFrame, dataset: str, preset: str) -> tuple[float, str]:
    """The model's lowest FD over its sampler settings (seed mean) and that setting's name."""
    rows = summary[(summary["dataset"] == dataset) & (summary["preset"] == preset)]
    if QUALITY not in rows or rows[QUALITY].isna().all():
        return math.nan, ""
    means = rows.groupby("sampler", sort=False)[QUALITY].mean()
    return float(means.min()), str(means.idxmin())


def _scatter(points: pd.DataFrame, dataset: str) -> bytes:
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = fig.subplots()
    for row in points.itertuples():
        ax.scatter(row.bits_per_dim, row.fd, s=30)
        ax.annotate(f"{row.preset} ({row.estimate})", (row.bits_per_dim, row.fd), fontsize=8,
                    xytext=(4, 3), textcoords="offset points")
    ax.margins(x=0.2, y=0.12)  # room for the labels at the edges
    ax.set_xlabel("bits/dim on test images (lower = more likely)")
    ax.set_ylabel(f"{QUALITY}, best sampler (lower = better)")
    ax.set_title(f"{dataset}: likelihood vs sample quality", fontsize=10)
    return figure_png(fig)


def likelihood_section(results: Results) -> Section | None:
    """None when no model of the profile has a likelihood record (``likelihood.presets`` empty)."""
    table = results.likelihood
    if table.empty:
        return None
    section = Section(
        "Likelihood vs sample quality",
        "Negative log-likelihood of the first n test images in bits per 8-bit sub-pixel (-log2 P(x) / D; 8 = "
        "a uniform distribution over the 256 levels), on the same rows for every model. PixelCNN's is exact; "
        "the others are upper bounds, so a lower one is a stronger claim: the flow's through uniform "
        "dequantisation, the VAE's negative ELBO and its importance-weighted (IWAE) bound, which is never looser, "
        "and the DDPM's variational bound L_vlb with its prior, denoising and decoder terms. GANs define no "
        "likelihood. The figure puts each model's tightest estimate against the FD of its best sampler: "
        "likelihood and sample quality need not agree (Theis et al. 2016).",
        ["dataset", "model", "family", "estimate", "bits/dim ↓", "± s.e.", "n", "seeds", "images/s",
         f"best {QUALITY} (sampler)", "how"])
    keys = ["dataset", "preset", "family", "estimate"]
    grouped = table.groupby(keys, sort=False).agg(
        bits_per_dim=("bits_per_dim", "mean"), standard_error=("standard_error", "mean"), n=("n", "first"),
        seeds=("seed", "nunique"), primary=("primary", "first"), how=("how", "first"),
        images_per_second=("images_per_second", "mean")).reset_index()
    points = []
    for row in grouped.itertuples():
        fd, sampler = _best_quality(results.summary, row.dataset, row.preset)
        quality = f"{fmt(fd, 4)} ({sampler})" if sampler else "n/a"
        section.rows.append([row.dataset, row.preset, row.family, row.estimate + (" *" if row.primary else ""),
                             fmt(row.bits_per_dim, 4), fmt(row.standard_error, 2), str(row.n), str(row.seeds),
                             fmt(row.images_per_second, 3), quality, row.how])
        if row.primary and not math.isnan(fd):
            points.append({"dataset": row.dataset, "preset": row.preset, "estimate": row.estimate,
                           "bits_per_dim": row.bits_per_dim, "fd": fd})
    section.text += " * = the estimate shown as bits/dim in the results tables."
    frame = pd.DataFrame(points)
    for dataset in dict.fromkeys(grouped["dataset"]):
        here = frame[frame["dataset"] == dataset] if not frame.empty else frame
        if len(here) >= 2:
            section.figures[f"likelihood_vs_fd_{dataset}.png"] = _scatter(here, dataset)
    return section

"""The diffusion sections of the report: the sampler step sweep, the classifier-free guidance sweep, and the
loss-guidance and SDEdit experiments.

The sweeps are views of the per-sampler rows already collected (one checkpoint, many sampler settings), so a
preset gets a section exactly when its samplers vary the knob: several step counts of one algorithm, or
several guidance scales. The experiments come from ``experiments/{loss_guidance,sdedit}.json``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from genbench.report.collect import Results
from genbench.report.experiments import Section, read_png
from genbench.images import figure_png
from genbench.report.judged import JUDGED_HEADERS, judged_cells, judged_notes, scoring_text
from genbench.report.tables import fmt

__all__ = ["diffusion_sections"]

# one line of the step sweep: all but the step count fixed (a cascade's base stage alone is another model)
SWEEP_KEYS = ["algo", "eta", "guidance", "stage", "n_fake"]


def _line_label(algo: str, eta: float, guidance: float, stage: str, n_fake: str) -> str:
    name = "DDPM ancestral" if algo == "ddpm" else f"{algo.upper()} eta={fmt(eta)}"
    return (name + ("" if guidance == 1.0 else f" s={fmt(guidance)}") + (f" {stage} stage" if stage else "")
            + f" (n={n_fake})")


def step_sweep_section(rows: pd.DataFrame, dataset: str, preset: str) -> Section | None:
    """FD against network evaluations per image, one line per sampler (algo, eta) and sample count: the
    analogue of DDIM paper Table 1. ``rows``: one preset's summary rows on one dataset."""
    means = rows.groupby(SWEEP_KEYS + ["sampler_steps"], sort=False)[
        ["fd_domain", "sample_images_per_second"]].mean().reset_index()
    if means.groupby(SWEEP_KEYS, sort=False)["sampler_steps"].nunique().max() < 2:
        return None  # no sampler was run at more than one step count
    steps = sorted(means["sampler_steps"].unique())
    lines = sorted(means.groupby(SWEEP_KEYS, sort=False), key=lambda item: (item[0][0] != "ddim", item[0][1:]))
    section = Section(f"Sampler step sweep: {dataset} / {preset}",
                      "One checkpoint sampled with each setting (DDIM paper Table 1): FD (domain) by network "
                      "evaluations per image; images/s in brackets, on this run's device. Compare rows at the same "
                      "n only: FD grows as n shrinks.",
                      ["sampler", *(f"{s:g} steps" for s in steps)])
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for key, line in lines:
        by_steps = line.set_index("sampler_steps")
        section.rows.append([_line_label(*key), *(
            f"{fmt(by_steps.at[s, 'fd_domain'])} ({fmt(by_steps.at[s, 'sample_images_per_second'], 3)}/s)"
            if s in by_steps.index else "" for s in steps)])
        line = line.sort_values("sampler_steps")
        ax.plot(line["sampler_steps"], line["fd_domain"], "o-", label=_line_label(*key))
    ax.set(xscale="log", xlabel="network evaluations per image (steps)", ylabel="FD (domain, lower is better)",
           title=f"FD vs sampling steps: {dataset} / {preset}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    section.figures[f"step_sweep_{dataset}_{preset}.png"] = figure_png(fig)
    return section


def guidance_section(rows: pd.DataFrame, dataset: str, preset: str) -> Section | None:
    """Classifier-free guidance scale against fidelity (IS, class accuracy, precision) and diversity (recall, FD)."""
    if rows["guidance"].nunique() < 2:
        return None
    metrics = [m for m in ("fd_domain", "is_domain", "class_accuracy_domain", "class_accuracy_judge", "precision_domain",
                           "recall_domain") if m in rows.columns and rows[m].notna().any()]
    table = (rows.groupby(["n_fake", "guidance", "sampler"], sort=False)[metrics].mean().reset_index()
             .sort_values(["n_fake", "guidance"], key=lambda c: c.astype(float)))
    # The figure compares settings at one n (FD grows as n shrinks): the n that covers the most scales.
    covered = table.groupby("n_fake")["guidance"].nunique()
    n_plotted = max(covered.index, key=lambda n: (covered[n], float(n)))
    sweep = table[table["n_fake"] == n_plotted]
    section = Section(f"Classifier-free guidance: {dataset} / {preset}",
                      "Guidance scale s (eps_null + s (eps_y - eps_null); 0 = unconditional, 1 = conditional "
                      "alone): higher s trades diversity (recall, FD) for fidelity (IS, class accuracy). Class "
                      "accuracy by the domain classifier and, as a second opinion, by the judge (another architecture "
                      "trained on half the train split). Compare rows at the same n only; the figure shows "
                      f"n={n_plotted}.",
                      ["s", "sampler", "n", *metrics],
                      [[fmt(r["guidance"]), r["sampler"], str(r["n_fake"]), *(fmt(r[m]) for m in metrics)]
                       for _, r in table.iterrows()])
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    positions = np.arange(len(sweep))
    labels = [fmt(s) for s in sweep["guidance"]]
    for metric, marker in (("class_accuracy_domain", "o-"), ("class_accuracy_judge", "o--"), ("precision_domain", "s-"),
                           ("recall_domain", "^-")):
        if metric in metrics:
            left.plot(positions, sweep[metric], marker, label=metric.removesuffix("_domain"))
    left.set(xticks=positions, xticklabels=labels, xlabel="guidance scale s", ylim=(-0.05, 1.05),
             title=f"fidelity vs diversity: {dataset} / {preset} (n={n_plotted})")
    left.grid(alpha=0.3)
    left.legend(fontsize="small")
    if {"fd_domain", "is_domain"} <= set(metrics):
        right.plot(sweep["fd_domain"], sweep["is_domain"], "o-")
        for (_, row), label in zip(sweep.iterrows(), labels):
            right.annotate(f"s={label}", (row["fd_domain"], row["is_domain"]), textcoords="offset points",
                           xytext=(4, 4), fontsize="small")
        right.set(xlabel="FD (domain)", ylabel="IS (domain)", title="FD vs IS as s grows")
        right.grid(alpha=0.3)
    section.figures[f"guidance_{dataset}_{preset}.png"] = figure_png(fig)
    return section


def pixel_vs_latent_section(diffusion: pd.DataFrame, dataset: str, label_kinds: dict[str, str]) -> Section | None:
    """Unconditional diffusion presets side by side on the sampler settings they share: quality and cost.
    ``label_kinds``: family -> its runs' label kind ("" = unconditional)."""
    unconditional = diffusion["family"].map(lambda family: label_kinds.get(family) == "").astype(bool)
    rows = diffusion[(diffusion["dataset"] == dataset) & unconditional]
    shared = rows.groupby("sampler")["preset"].nunique()
    rows = rows[rows["sampler"].isin(shared[shared > 1].index)]
    if rows["family"].nunique() < 2:
        return None
    columns = ["fd_domain", "precision_domain", "recall_domain", "train_seconds", "train_images_per_second",
               "sample_images_per_second", "n_parameters"]
    columns = [c for c in columns if c in rows.columns]
    means = rows.groupby(["sampler", "preset", "family"], sort=True)[columns].mean().reset_index()
    return Section(f"Pixel vs latent diffusion: {dataset}",
                   "The same sampler settings on each unconditional diffusion model (pixel-space DDPM, latent "
                   "diffusion on autoencoder latents): quality and cost, means over seeds.",
                   ["sampler", "model", "family", *columns],
                   [[r["sampler"], r["preset"], r["family"], *(fmt(float(r[c])) for c in columns)]
                    for _, r in means.iterrows()])


# What the base UNet of a t2i run reads of a caption (model.text_conditioning; runs from before the key: pooled)
TEXT_CONDITIONING = {"cross_attention": "tokens by cross-attention + pooled",
                     "pooled": "pooled embedding only"}
CONDITIONING_LINES = {
    "cross_attention": "MiniLM's token embeddings, read by cross-attention at the base UNet's lower resolutions, "
                       "and the pooled embedding added to the timestep embedding (Imagen's design)",
    "pooled": "the pooled (mean, L2-normalised) MiniLM embedding added to the timestep embedding only"}
# caption alignment by each classifier: the domain network's and, where evaluated, the judge's second opinion
ALIGNMENT = {"class_accuracy_domain": "caption alignment (domain)", "class_accuracy_judge": "caption alignment (judge)"}


def _text_conditioning(grid: Path) -> str:
    """A run's model.text_conditioning, from the config.yaml its train job wrote beside its samples/ folder."""
    path = grid.parents[1] / "config.yaml"
    if not path.is_file():
        return ""
    model = ((yaml.safe_load(path.read_text()) or {}).get("spec") or {}).get("model") or {}
    return model.get("text_conditioning", "pooled")


def text_to_image_section(results: Results, diffusion: pd.DataFrame, dataset: str) -> Section | None:
    """Caption alignment (class accuracy of the caption's class, held-out phrasings) and FD per sampler setting
    of each text-conditioned model, the models at one setting side by side with what each conditions on, and
    the grids with the captions the first images were asked for."""
    # a plain bool list: DataFrame.apply of an empty frame returns a frame, not a boolean Series
    captioned = [f"{dataset}_{preset}_{sampler}.png" in results.captions
                 for preset, sampler in zip(diffusion["preset"], diffusion["sampler"])]
    rows = diffusion[(diffusion["dataset"] == dataset) & pd.Series(captioned, index=diffusion.index, dtype=bool)]
    if rows.empty:
        return None
    metrics = [m for m in (*ALIGNMENT, "fd_domain", "is_domain", "precision_domain", "recall_domain")
               if m in rows.columns]
    keys = ["preset", "sampler", "stage", "guidance", "n_fake"]
    means = rows.groupby(keys, sort=False)[metrics].mean().reset_index()
    # the whole cascade first, then setting by setting, each with every model's row next to the others'
    means = means.assign(_base=means["stage"] != "").sort_values(["_base", "sampler", "preset"], kind="stable")
    conditioning = {preset: _text_conditioning(results.grids[f"{dataset}_{preset}_{sampler}.png"])
                    for preset, sampler in zip(means["preset"], means["sampler"])}
    section = Section(f"Text-to-image: {dataset}",
                      "Captions with phrasings held out of training; caption alignment = a classifier's accuracy on "
                      "the caption's class (domain: the domain classifier; judge: the evaluation's second opinion, "
                      "where evaluated). Stage 'base' is the low-resolution stage alone (upsampled), otherwise the "
                      "whole cascade. Compare FD at the same n only. Grids: the first images, captions listed row "
                      "by row.",
                      ["model", "conditions on", "sampler", "stage", "s", "n",
                       *(ALIGNMENT.get(m, m) for m in metrics)],
                      [[r["preset"], TEXT_CONDITIONING.get(conditioning[r["preset"]], ""), r["sampler"],
                        r["stage"] or "cascade", fmt(r["guidance"]), str(r["n_fake"]), *(fmt(r[m]) for m in metrics)]
                       for _, r in means.iterrows()])
    for preset, kind in conditioning.items():
        if kind:
            section.text += f"\n\n{preset} conditions on {CONDITIONING_LINES.get(kind, kind)}."
    for _, r in means.iterrows():
        name = f"{dataset}_{r['preset']}_{r['sampler']}.png"
        section.figures[f"t2i_{name}"] = results.grids[name].read_bytes()
        words = results.captions[name]
        section.text += f"\n\n{r['preset']} / {r['sampler']}, first row: " + "; ".join(words[:8])
    return section


def loss_guidance_section(records: list[dict], dataset: str) -> Section | None:
    records = [r for r in records if r["dataset"] == dataset]
    if not records:
        return None
    section = Section(f"Loss guidance: {dataset}",
                      "An unconditional model guided at every step by the gradient of -log p(target | x0_hat) under "
                      "the guide, each class in turn from its own starting noise, the same at every scale (scale 0: "
                      "unguided, rates about 1 / classes). "
                      + scoring_text(records[0], "each target's images") + " Grid: one row per target at the largest "
                      "scale.",
                      ["model", "seed", "scale", *JUDGED_HEADERS, "images per target", "DDIM steps"])
    for record in records:
        section.rows += [[record["preset"], str(record["seed"]), fmt(r["scale"]), *judged_cells(r), str(record["n"]),
                          str(record["steps"])] for r in record["rows"]]
        section.figures[f"loss_guidance_{dataset}_{record['preset']}.png"] = read_png(record, record["figure"])
    section.text += judged_notes(records, "scale")
    return section


def sdedit_section(records: list[dict], dataset: str) -> Section | None:
    records = [r for r in records if r["dataset"] == dataset]
    if not records:
        return None
    section = Section(f"img2img (SDEdit): {dataset}",
                      "Train images noised to strength s and denoised: structure kept (SSIM and domain-feature "
                      "distance to the input, label kept by the classifier) against realism (FD to the test "
                      "reference, domain features). s 0 = the inputs themselves. Grid rows: input, then each s.",
                      ["model", "s", "SSIM ↑", "feature distance ↓", "label kept ↑", "FD ↓", "n"])
    for record in records:
        rows = sorted(record["rows"], key=lambda r: r["strength"])
        section.rows += [[record["preset"], fmt(r["strength"]), fmt(r["ssim"], 3), fmt(r["feature_distance"], 3),
                          fmt(r["label_kept"], 3), fmt(r["fd_domain"]), str(record["n"])] for r in rows]
        fig = Figure(figsize=(5.5, 4), layout="constrained")
        ax = fig.add_subplot()
        ax.plot([r["fd_domain"] for r in rows], [r["ssim"] for r in rows], "o-")
        for r in rows:
            ax.annotate(f"s={fmt(r['strength'])}", (r["fd_domain"], r["ssim"]), textcoords="offset points",
                        xytext=(4, 4), fontsize="small")
        ax.set(xlabel="FD to real test images (domain, lower = more realistic)", ylabel="SSIM to the input",
               title=f"SDEdit trade-off: {dataset} / {record['preset']}")
        ax.grid(alpha=0.3)
        section.figures[f"sdedit_tradeoff_{dataset}_{record['preset']}.png"] = figure_png(fig)
        section.figures[f"sdedit_{dataset}_{record['preset']}.png"] = read_png(record, record["figure"])
    return section


def diffusion_sections(results: Results, experiments: dict[str, list[dict]], datasets: Sequence[str]) -> list[Section]:
    """Every step sweep, guidance sweep and diffusion experiment the results hold, dataset by dataset."""
    summary = results.summary
    sections: list[Section] = []
    diffusion = summary[results.families_of_kind("diffusion")]
    for dataset in datasets:
        if "fd_domain" in summary.columns:
            for preset, rows in diffusion[diffusion["dataset"] == dataset].groupby("preset", sort=False):
                for build in (step_sweep_section, guidance_section):
                    section = build(rows, dataset, preset)
                    if section is not None:
                        sections.append(section)
            for extra in (pixel_vs_latent_section(diffusion, dataset, results.label_kinds),
                          text_to_image_section(results, diffusion, dataset)):
                if extra is not None:
                    sections.append(extra)
        for build_experiment, name in ((loss_guidance_section, "loss_guidance"), (sdedit_section, "sdedit")):
            section = build_experiment(experiments[name], dataset)
            if section is not None:
                sections.append(section)
    return sections

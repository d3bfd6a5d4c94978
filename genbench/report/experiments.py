"""The GAN sections of the report: the GAN table, the truncation sweeps and the experiment records.

Reads ``<run>/experiments/*.json`` (written by ``genbench experiment``) and the per-sampler rows already
collected, and returns ``Section``s that the Markdown and HTML renderers lay out the same way.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from genbench.io import InputError, read_json
from genbench.report.collect import Results, run_dir
from genbench.images import figure_png
from genbench.report.judged import JUDGED_HEADERS, judged_cells, judged_notes, scoring_text
from genbench.report.tables import fmt

__all__ = ["Section", "collect_experiments", "gan_sections", "read_png"]

GAN_METRICS = ("fd_domain", "kid_domain", "precision_domain", "recall_domain", "class_accuracy_domain",
               "class_accuracy_judge", "code_accuracy_domain", "fd_inception")


@dataclass
class Section:
    title: str
    text: str = ""
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG bytes (figures/ in the report)


def collect_experiments(root: Path, *, datasets: Sequence[str], presets: Sequence[str],
                        seeds: Sequence[int]) -> dict[str, list[dict]]:
    """``{experiment: [record, ...]}`` of every ``experiments/<name>.json`` under the profile's runs: whatever
    experiments ran (genbench.experiments), each shown by the section builder of its name, if it has one."""
    found: dict[str, list[dict]] = defaultdict(list)
    for dataset in datasets:
        for preset in presets:
            for seed in seeds:
                folder = run_dir(root, dataset, preset, seed) / "experiments"
                for path in sorted(folder.glob("*.json")):
                    found[path.stem].append({**read_json(path), "_dir": folder})
    return found


def gan_table(results: Results, dataset: str) -> Section:
    rows = results.summary[(results.summary["dataset"] == dataset)
                           & results.families_of_kind("gan")]
    metrics = [m for m in GAN_METRICS if m in rows.columns and rows[m].notna().any()]
    grouped = rows.groupby(["preset", "family", "sampler"], sort=False)[metrics + ["train_seconds"]].mean()
    if "fd_domain" in metrics:
        grouped = grouped.sort_values("fd_domain", kind="stable")
    cells = [[preset, family, sampler, *(fmt(float(v)) for v in values)]
             for (preset, family, sampler), values in grouped.iterrows()]
    return Section(f"GANs: {dataset}", "Every GAN family of the profile, best FD first (means over seeds).",
                   ["model", "family", "sampler", *metrics, "train s"], cells)


def truncation_sections(results: Results, dataset: str) -> list[Section]:
    """Fidelity/diversity trade-off: precision, recall and FD per truncation setting of one preset."""
    sections = []
    rows = results.summary[results.summary["dataset"] == dataset]
    for preset, group in rows.groupby("preset", sort=False):
        for knob, off in (("psi", 1.0), ("truncation", 0.0)):
            if knob not in group or group[knob].nunique() < 2:
                continue
            sweep = group.groupby(knob)[["precision_domain", "recall_domain", "fd_domain"]].mean()
            # strongest truncation first, "off" (psi 1, truncation 0) last
            order = sorted(sweep.index, key=lambda x: math.inf if x == off else x)
            sweep = sweep.loc[order]
            labels = ["off" if x == off else fmt(float(x)) for x in order]
            fig = Figure(figsize=(6, 4), layout="constrained")
            ax = fig.add_subplot()
            positions = np.arange(len(sweep))
            ax.plot(positions, sweep["precision_domain"], "o-", label="precision")
            ax.plot(positions, sweep["recall_domain"], "s-", label="recall")
            ax.set(xticks=positions, xticklabels=labels, xlabel=knob, ylabel="precision / recall (domain, k=3)",
                   ylim=(-0.05, 1.05), title=f"truncation sweep: {dataset} / {preset}")
            ax.legend(loc="lower left")
            twin = ax.twinx()
            twin.plot(positions, sweep["fd_domain"], "^--", color="grey")
            twin.set_ylabel("FD (domain), dashed")
            name = f"truncation_{dataset}_{preset}.png"
            cells = [[lab, fmt(r["precision_domain"]), fmt(r["recall_domain"]), fmt(r["fd_domain"])]
                     for lab, (_, r) in zip(labels, sweep.iterrows())]
            sections.append(Section(f"Truncation sweep: {dataset} / {preset} ({knob})",
                                    "Lower truncation trades diversity (recall) for fidelity (precision).",
                                    [knob, "precision", "recall", "FD"], cells, {name: figure_png(fig)}))
    return sections


def steering_section(records: list[dict], dataset: str) -> Section | None:
    records = [r for r in records if r["dataset"] == dataset]
    if not records:
        return None
    section = Section(f"Controllable generation: {dataset}",
                      "Latents moved along the guide's target-logit gradient, n of them per target class (steps 0: "
                      "the same latents, unsteered). " + scoring_text(records[0], "each target's images") + " The "
                      "heatmap is the change of every class probability under the guide (rows: target); off-diagonal "
                      "entries show entangled classes.",
                      ["model", "seed", "steps", *JUDGED_HEADERS, "images per target", "step size"])
    for record in records:
        section.rows += [[record["preset"], str(record["seed"]), str(r["steps"]), *judged_cells(r), str(record["n"]),
                          fmt(record["step_size"])] for r in record["rows"]]
        delta = np.array(record["delta"])
        co_raised = []
        for target, row in zip(record["targets"], delta):
            others = np.delete(np.arange(len(row)), target)
            co = others[np.argmax(row[others])]
            co_raised.append(f"{target} → {co} ({row[co]:+.3f})")
        section.text += f"\n\n{record['preset']}, most co-raised class per target (Δp): " + ", ".join(co_raised)
        fig = Figure(figsize=(6, 5), layout="constrained")
        ax = fig.add_subplot()
        limit = float(np.abs(delta).max()) or 1.0
        image = ax.imshow(delta, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set(xlabel="class", ylabel="steered towards", xticks=range(delta.shape[1]), yticks=range(delta.shape[0]),
               title=f"Δ class probability: {dataset} / {record['preset']}")
        fig.colorbar(image, ax=ax)
        section.figures[f"steering_{dataset}_{record['preset']}.png"] = figure_png(fig)
        section.figures[f"steered_{dataset}_{record['preset']}.png"] = read_png(record, record["figure"])
    section.text += judged_notes(records, "steps")
    return section


def probe_section(records: list[dict], dataset: str) -> Section | None:
    records = [r for r in records if r["dataset"] == dataset]
    if not records:
        return None
    return Section(f"Discriminator features as a representation: {dataset}",
                   "Linear probe (softmax regression) on discriminator features, trained network vs the same "
                   "network untrained.", ["model", "seed", "trained D", "untrained D", "feature dim", "n_train"],
                   [[r["preset"], str(r["seed"]), fmt(r["trained_accuracy"]), fmt(r["untrained_accuracy"]),
                     str(r["feature_dim"]), str(r["n_train"])] for r in records])


def augmentation_section(records: list[dict], dataset: str) -> Section | None:
    records = [r for r in records if r["dataset"] == dataset]
    if not records:
        return None
    section = Section(f"GAN data augmentation: {dataset}",
                      "The domain-classifier recipe trained on a mix: each image real with probability p_real, "
                      "else generated by the conditional GAN; accuracy on the real test split.",
                      ["model", "seed", "p_real", "real images", "test accuracy"])
    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.add_subplot()
    for record in records:
        rows = sorted(record["rows"], key=lambda row: row["p_real"])
        section.rows += [[record["preset"], str(record["seed"]), fmt(r["p_real"]), str(r["n_real"]),
                          fmt(r["test_accuracy"])] for r in rows]
        ax.plot([r["p_real"] for r in rows], [r["test_accuracy"] for r in rows], "o-",
                label=f"{record['preset']} seed {record['seed']}")
    ax.set(xlabel="p_real (fraction of real training images)", ylabel="test accuracy",
           title=f"real + generated training data: {dataset}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    section.figures[f"augmentation_{dataset}.png"] = figure_png(fig)
    return section


def walks_section(records: list[dict], dataset: str) -> Section | None:
    records = [r for r in records if r["dataset"] == dataset and r["seed"] == min(x["seed"] for x in records)]
    if not records:
        return None
    section = Section(f"Latent walks: {dataset}",
                      "Rows interpolate between two latents (slerp); label grids: row = class (or InfoGAN code "
                      "value), column = one latent.")
    for record in records:
        for name in record["figures"]:
            section.figures[f"walk_{dataset}_{record['preset']}_{name}"] = read_png(record, name)
    return section


def read_png(record: dict, name: str) -> bytes:
    path = Path(record["_dir"]) / name
    if not path.is_file():
        raise InputError(f"{path}: file not found; re-run the experiment rule that makes it")
    return path.read_bytes()


def gan_sections(results: Results, experiments: dict[str, list[dict]], datasets: Sequence[str]) -> list[Section]:
    """Every GAN section the results support, dataset by dataset."""
    sections: list[Section] = []
    for dataset in datasets:
        if (results.summary["dataset"] == dataset).any() and \
                results.families_of_kind("gan").any():
            sections.append(gan_table(results, dataset))
        sections += truncation_sections(results, dataset)
        for build, name in ((steering_section, "steering"), (probe_section, "probe"),
                            (augmentation_section, "augmentation"), (walks_section, "walks")):
            section = build(experiments[name], dataset)
            if section is not None:
                sections.append(section)
    return sections

"""The report's first screen: per dataset, one row per model at its main sampler setting (the preset's main:),
grouped by task so that unlike things are not ranked together, with a thumbnail of its samples; a quality-vs-cost
figure (one point per model, coloured by family kind) and a sample mosaic (one row of samples per model).

A pure view of the rows already collected (``by_model`` means over seeds); the thumbnails and the mosaic read the
first images of each model's ``samples/<sampler>.npz`` of its first seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from genbench.images import make_grid
from genbench.io import load_npz
from genbench.report.collect import Results, run_dir, truncation_text
from genbench.images import figure_png
from genbench.report.hype import image_png
from genbench.report.tables import LOWER_IS_BETTER, display_table, fmt, perf_cell, sort_metric

__all__ = ["GLANCE_TEXT", "TASKS", "Glance", "glance_sections", "kind_group", "model_tasks", "task_tables"]


@dataclass(frozen=True)
class Task:
    name: str
    metric: str  # the task's own metric, as the report's task section names it
    label: str
    generative: bool = True  # a sampler setting is a choice (best one kept); else a direction, each kept
    digits: int = 3


TASKS = (Task("unconditional", "is_domain", "IS ↑"), Task("conditional", "class_accuracy_domain", "class accuracy ↑"),
         Task("image-to-image", "class_accuracy_domain", "label preservation ↑", generative=False),
         Task("super-resolution", "psnr", "PSNR dB ↑", generative=False, digits=4),
         Task("text-to-image", "class_accuracy_domain", "caption alignment ↑"))
# GenerativeModel.kind (the family registry's grouping) -> the four kinds the figures colour by; the image-to-image
# families (pix2pix, CycleGAN, MUNIT, SRGAN) train adversarially
KIND_GROUPS = {"gan": "GAN", "translation": "GAN", "vae": "VAE", "diffusion": "diffusion",
               "autoregressive": "likelihood", "flow": "likelihood"}
KIND_COLOURS = {"GAN": "#c44e52", "VAE": "#55a868", "diffusion": "#4c72b0", "likelihood": "#8172b2", "other": "#777777"}
TASK_MARKERS = {"unconditional": "o", "conditional": "s", "image-to-image": "D", "super-resolution": "v",
                "text-to-image": "^"}
GLANCE_TEXT = ("Each dataset's models grouped by task, so that unlike things are not ranked together: one row per "
               "model at its main sampler setting (the preset's main:, named in the row; untruncated, psi 1, unless "
               "the row says otherwise), best first by {metric} (by the task's own metric where there is none); its "
               "cost beside it. "
               "Every setting is in the full tables below; how each number was measured is at the end.")
HEADERS = ["FD ↓", "precision / recall ↑", "", "train s", "sample img/s", "parameters", "samples"]
THUMBNAIL_IMAGES, MOSAIC_IMAGES = 4, 8


def kind_group(kind: str) -> str:
    """The glance's group of a family kind ("gan", "diffusion", ...)."""
    return KIND_GROUPS.get(kind, "other")


def model_tasks(results: Results, frame: pd.DataFrame) -> pd.Series:
    """The task of each row of ``frame`` (dataset, preset, family, sampler): from the sample record's ``task``
    (image-to-image outputs), captions (text-to-image: any setting of the preset has them) or the family's labels."""
    summary = results.summary
    recorded = {(r.dataset, r.preset, r.sampler): r.task for r in summary.itertuples() if isinstance(r.task, str)}
    text = {(r.dataset, r.preset) for r in summary.itertuples()
            if f"{r.dataset}_{r.preset}_{r.sampler}.png" in results.captions}

    def task(row: pd.Series) -> str:
        recorded_task = recorded.get((row["dataset"], row["preset"], row["sampler"]), "")
        if recorded_task:
            return "super-resolution" if recorded_task == "super_resolution" else "image-to-image"
        if (row["dataset"], row["preset"]) in text:
            return "text-to-image"
        return "conditional" if results.label_kinds.get(row["family"]) == "class" else "unconditional"

    return frame.apply(task, axis=1) if len(frame) else pd.Series(dtype=str)


def _datasets(results: Results) -> list[str]:
    return list(dict.fromkeys(results.summary["dataset"]))


def _rank(rows: pd.DataFrame, headline: str | None, task: Task) -> pd.DataFrame:
    keys, ascending = [], []
    for column, lower in ((headline, headline is not None and headline.startswith(LOWER_IS_BETTER)),
                          (task.metric, False)):
        if column is not None and f"{column}_mean" in rows.columns:
            keys.append(f"{column}_mean")
            ascending.append(lower)
    return rows.sort_values(keys, ascending=ascending, na_position="last", kind="stable") if keys else rows


def _main_rows(results: Results, rows: pd.DataFrame, main: Mapping[str, str]) -> pd.DataFrame:
    """Of ranked rows, one per preset: its main sampler setting; a preset whose main the report was not told (a
    report built by hand): its best untruncated setting, else its best. A truncated setting would stand for the
    model with samples pulled towards its mode."""
    kept = []
    for preset, group in rows.groupby("preset", sort=False):
        named = group[group["sampler"] == main.get(preset)]
        if named.empty:
            untruncated = [truncation_text(results.summary, r.dataset, r.preset, r.sampler) == "untruncated"
                           for r in group.itertuples()]
            named = group[untruncated] if any(untruncated) else group
        kept.append(named.index[0])
    return rows[rows.index.isin(kept)]


def best_models(results: Results, models: pd.DataFrame, main: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per model (a generative model at its main sampler setting, ``main``: preset -> sampler; every
    direction of an image-to-image model), with its ``task`` and ``kind``, in dataset, task and rank order."""
    headline = sort_metric(results)
    models = models.assign(task=model_tasks(results, models))
    chosen = []
    for dataset in _datasets(results):
        for task in TASKS:
            rows = _rank(models[(models["dataset"] == dataset) & (models["task"] == task.name)], headline, task)
            chosen.append(_main_rows(results, rows, main or {}) if task.generative else rows)
    best = pd.concat(chosen, ignore_index=True) if chosen else models.iloc[:0]
    return best.assign(kind=best["family"].map(lambda family: kind_group(results.family_kinds.get(family, ""))))


def task_tables(results: Results, models: pd.DataFrame) -> list[tuple[str, str, list[str], list[list[str]]]]:
    """The full results tables, one per (dataset, task), every sampler setting: (dataset, task, headers, rows)."""
    tasks = model_tasks(results, models)
    tables = []
    for dataset in _datasets(results):
        for task in TASKS:
            rows = models[(models["dataset"] == dataset) & (tasks == task.name)]
            if len(rows):
                tables.append((dataset, task.name, *display_table(results, rows, dataset)))
    return tables


@dataclass
class GlanceGroup:
    task: str
    headers: list[str]  # the first names the task, the fourth is its own metric (HEADERS' blank)
    rows: list[list[str]]  # text cells, without the thumbnail
    thumbnails: list[str]  # figure name of each row's thumbnail


@dataclass
class Glance:
    dataset: str
    groups: list[GlanceGroup] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)  # thumbnails, quality_cost_*, mosaic_*

    @property
    def overview(self) -> list[str]:
        """The names of the figures shown under the table (not the thumbnails)."""
        return [name for name in self.figures if not name.startswith("thumb_")]


def _value(row: pd.Series, column: str) -> float:
    value = row.get(f"{column}_mean", math.nan)
    return math.nan if value is None else float(value)


def _model_label(row: pd.Series, targets: dict, setting: str) -> str:
    family = f" ({row['family']})" if row["family"] != row["preset"] else ""
    target = targets.get((row["dataset"], row["preset"], row["sampler"]), "")
    where = f" (in {target})" if target and target != row["dataset"] else ""
    truncated = f" ({setting})" if setting not in ("", "untruncated") else ""
    return f"{row['preset']}{family} / {row['sampler']}{truncated}{where}"


def _cells(row: pd.Series, task: Task, label: str) -> list[str]:
    precision, recall = _value(row, "precision_domain"), _value(row, "recall_domain")
    pr = fmt(math.nan) if math.isnan(precision) and math.isnan(recall) else f"{fmt(precision, 3)} / {fmt(recall, 3)}"
    return [label, fmt(_value(row, "fd_domain")), pr, fmt(_value(row, task.metric), task.digits),
            perf_cell(row, "train_seconds"), _rate(_value(row, "sample_images_per_second")), perf_cell(row, "n_parameters")]


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else fmt(value, 3)


def _first_images(root: Path, results: Results, row: pd.Series, n: int) -> np.ndarray:
    summary = results.summary
    seed = summary.loc[(summary["dataset"] == row["dataset"]) & (summary["preset"] == row["preset"])
                       & (summary["sampler"] == row["sampler"]), "seed"].min()
    path = run_dir(root, row["dataset"], row["preset"], int(seed)) / "samples" / f"{row['sampler']}.npz"
    return load_npz(path, required=("images",))["images"][:n]


def _rgb(images: np.ndarray) -> np.ndarray:
    return np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images


def cost_figure(best: pd.DataFrame, dataset: str, quality: str, quality_label: str) -> bytes:
    """Quality against training seconds and against network evaluations per image, one point per model."""
    fig = Figure(figsize=(11, 4.2))  # fixed margins: constrained layout doubles the drawing time here
    axes = fig.subplots(1, 2, sharey=True, gridspec_kw={"left": 0.07, "right": 0.99, "bottom": 0.12, "top": 0.9,
                                                        "wspace": 0.04})
    for ax, cost, xlabel in ((axes[0], "train_seconds", "training seconds (log)"),
                             (axes[1], "sampler_steps", "network evaluations per image (log)")):
        for _, row in best.iterrows():
            x, y = _value(row, cost), _value(row, quality)
            if math.isnan(x) or math.isnan(y) or x <= 0:
                continue
            ax.scatter(x, y, s=45, color=KIND_COLOURS[row["kind"]], marker=TASK_MARKERS[row["task"]], alpha=0.85)
            ax.annotate(row["preset"], (x, y), textcoords="offset points", xytext=(4, 3), fontsize="x-small")
        ax.set(xscale="log", xlabel=xlabel)
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
        ax.margins(x=0.1)
    axes[0].set_ylabel(quality_label)
    handles = [axes[1].scatter([], [], color=colour, label=kind) for kind, colour in KIND_COLOURS.items()
               if (best["kind"] == kind).any()]
    handles += [axes[1].scatter([], [], color="#999999", marker=TASK_MARKERS[t], label=t)
                for t in TASK_MARKERS if (best["task"] == t).any()]
    axes[1].legend(handles=handles, fontsize="small", loc="best")
    fig.suptitle(f"quality vs cost: {dataset} (one point per model at its main sampler setting)")
    return figure_png(fig)


def mosaic_figure(strips: list[tuple[str, np.ndarray]], dataset: str) -> bytes:
    """One row of samples per model, its name on the left (one image, so that it draws fast)."""
    rows = [make_grid(_rgb(images), nrow=MOSAIC_IMAGES) for _, images in strips]
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    heights = np.cumsum([0] + [row.shape[0] for row in rows])
    height = 0.5 * len(strips) * rows[0].shape[0] / 32  # inches: ~0.5 per row of 28-pixel images
    fig = Figure(figsize=(2.6 + height * width / heights[-1], 0.5 + height), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(np.concatenate(rows), interpolation="nearest")
    ax.set_yticks((heights[:-1] + heights[1:]) / 2, [label for label, _ in strips], fontsize="small")
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"samples: {dataset}, the first {MOSAIC_IMAGES} of each model (first seed)", fontsize="medium")
    return figure_png(fig)


def glance_sections(results: Results, models: pd.DataFrame, results_root: Path,
                    main: Mapping[str, str] | None = None) -> list[Glance]:
    """Per dataset: the glance table by task (``main``: each preset's main sampler), its thumbnails, the
    quality-vs-cost figure and the mosaic."""
    best = best_models(results, models, main)
    targets = {(r.dataset, r.preset, r.sampler): r.target_dataset for r in results.summary.itertuples()
               if isinstance(r.target_dataset, str)}
    headline = sort_metric(results)
    glances = []
    for dataset in _datasets(results):
        glance, strips = Glance(dataset), []
        rows = best[best["dataset"] == dataset]
        for task in TASKS:
            group = GlanceGroup(task.name, [f"{task.name} model", *HEADERS], [], [])
            group.headers[3] = task.label
            for _, row in rows[rows["task"] == task.name].iterrows():
                label = _model_label(row, targets, truncation_text(results.summary, dataset, row["preset"],
                                                                   row["sampler"]))
                images = _first_images(Path(results_root), results, row, MOSAIC_IMAGES)
                name = f"thumb_{dataset}_{row['preset']}_{row['sampler']}.png"
                glance.figures[name] = image_png(make_grid(images[:THUMBNAIL_IMAGES], nrow=THUMBNAIL_IMAGES)
                                                 .transpose(2, 0, 1))
                group.rows.append(_cells(row, task, label))
                group.thumbnails.append(name)
                strips.append((label, images))
            if group.rows:
                glance.groups.append(group)
        quality = headline if headline and rows.get(f"{headline}_mean", pd.Series(dtype=float)).notna().any() \
            else next(t.metric for t in TASKS if t.name == rows["task"].iloc[0])  # e.g. super-resolution alone
        better = "lower" if quality.startswith(LOWER_IS_BETTER) else "higher"
        label = f"{quality} ({better} is better)"
        glance.figures[f"quality_cost_{dataset}.png"] = cost_figure(rows, dataset, quality, label)
        glance.figures[f"mosaic_{dataset}.png"] = mosaic_figure(strips, dataset)
        glances.append(glance)
    return glances

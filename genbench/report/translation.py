"""The image-to-image sections of the report: FCN-score rows as in pix2pix Table 1 / CycleGAN Table 2,
CycleGAN's and MUNIT's two directions (with their diversity and MUNIT's grids of styles), the super-resolution
table beside bicubic, and input | output | target grids.

Views of the per-sampler rows already collected: a row belongs here when its sample record has a ``task``
(``genbench.jobs.translate``). The papers' own numbers are on other data (Cityscapes, Set5/Set14/BSD100), so
they are quoted for orientation under "protocol differs", never compared cell by cell.
"""
from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Mapping

import pandas as pd

from genbench.io import read_json

from genbench.report.collect import Results
from genbench.report.experiments import Section
from genbench.report.tables import fmt

__all__ = ["style_transfer_section", "translation_sections"]

FCN = ("fcn_per_pixel_accuracy", "fcn_per_class_accuracy", "fcn_class_iou")
SR = ("psnr", "ssim", "lpips")
PAPER_NOTES = {
    "fcn": "Protocol differs: the papers score Cityscapes labels -> photos with an FCN-8s at 256x256 "
           "(pix2pix Table 1, L1+cGAN: per-pixel 0.66, per-class 0.23, IoU 0.17; ground truth 0.80 / 0.26 / "
           "0.21). Here: MNIST-M label maps (11 classes) at 28x28, the pipeline's own segmenter.",
    "sr": "Protocol differs: SRGAN Table 2 is Set5/Set14/BSD100 at x4 (Set14: bicubic 25.99 dB / 0.7486, "
          "SRResNet 28.49 dB / 0.8184, SRGAN 26.02 dB / 0.7397). Here: 64x64 crops of held-out package "
          "photos, PSNR on Y with a 4-pixel border cropped.",
}


def _value(row: pd.Series, name: str) -> float:
    value = row.get(name, math.nan)
    return math.nan if value is None else float(value)


def _direction(row: pd.Series) -> str:
    return f"{row['preset']} / {row['sampler']}" + (f" (in {row['target_dataset']})" if row.get("target_dataset")
                                                  and row["target_dataset"] != row["dataset"] else "")


def fcn_section(rows: pd.DataFrame, dataset: str) -> Section | None:
    if "fcn_per_pixel_accuracy" not in rows.columns:
        return None
    rows = rows[rows["fcn_per_pixel_accuracy"].notna()]
    if rows.empty:
        return None
    section = Section(f"Image-to-image, FCN-score: {dataset}",
                      "A segmentation network trained on real train images labels the outputs; its labels are "
                      "scored against the label maps of the inputs. The 'ground truth' row is the same network on "
                      "the real test images of the same rows. FD and label preservation (the domain classifier "
                      "recovers the source digit) in the target domain. " + PAPER_NOTES["fcn"],
                      ["model / direction", "per-pixel acc ↑", "per-class acc ↑", "class IoU ↑", "FD ↓",
                       "label preservation ↑", "n"])
    for _, row in rows.iterrows():
        section.rows.append([_direction(row), *(fmt(_value(row, m), 3) for m in FCN), fmt(_value(row, "fd_domain")),
                             fmt(_value(row, "class_accuracy_domain"), 3), str(row["n_samples"])])
    real = rows.iloc[0]
    section.rows.append(["ground truth (real images)", *(fmt(_value(real, f"{m}_real"), 3) for m in FCN), "", "",
                         str(real["n_samples"])])
    return section


def cycle_section(rows: pd.DataFrame, dataset: str, grids: Mapping[str, Path] | None = None) -> Section | None:
    rows = rows[rows["task"] == "unpaired"]
    if rows.empty:
        return None
    section = Section(f"Unpaired translation (CycleGAN): {dataset}",
                      "Each direction measured in its target domain: FD with that domain's classifier features, "
                      "and label preservation = the fraction of outputs that classifier labels as the input's digit "
                      "(the paper's target: >= 70 % both ways here). Diversity (MUNIT Table 1): mean LPIPS between "
                      "outputs of one input under different random styles; CycleGAN is deterministic, so its "
                      "diversity is 0 by construction, as is that of a fixed style (MUNIT's *_fixed rows). Grids: "
                      "one input per row, then its translations under several random styles.",
                      ["model / direction", "target domain", "FD ↓", "label preservation ↑", "diversity ↑", "n"])
    for _, row in rows.iterrows():
        section.rows.append([_direction(row), str(row.get("target_dataset") or dataset), fmt(_value(row, "fd_domain")),
                             fmt(_value(row, "class_accuracy_domain"), 3), fmt(_value(row, "diversity"), 3),
                             str(row["n_samples"])])
        styles = _styles_grid(grids or {}, row, dataset)
        if styles is not None:
            section.figures[f"styles_{dataset}_{row['preset']}_{row['sampler']}.png"] = styles.read_bytes()
    return section


def _styles_grid(grids: Mapping[str, Path], row: pd.Series, dataset: str) -> Path | None:
    """The translate job's one-input-several-styles grid beside the sampler's grid, where the styles differ."""
    grid = grids.get(f"{dataset}_{row['preset']}_{row['sampler']}.png")
    if grid is None or not _value(row, "diversity") > 0:
        return None
    styles = grid.with_name(f"{row['sampler']}_styles.png")
    return styles if styles.is_file() else None


def super_resolution_section(rows: pd.DataFrame, dataset: str) -> Section | None:
    rows = rows[rows["task"] == "super_resolution"]
    if rows.empty:
        return None
    section = Section(f"Super-resolution x4: {dataset}",
                      "Against the 64x64 test patches: PSNR (dB, Y channel), SSIM, LPIPS (VGG16 with the lpips 0.1.4 "
                      "heads); bicubic = PIL's bicubic upscale of the same 16x16 inputs. " + PAPER_NOTES["sr"],
                      ["model", "PSNR ↑", "SSIM ↑", "LPIPS ↓", "sample img/s", "n"])
    first = rows.iloc[0]
    section.rows.append(["bicubic", *(fmt(_value(first, f"{m}_bicubic"), 4) for m in SR), "", str(first["n_samples"])])
    for _, row in rows.iterrows():
        section.rows.append([row["preset"], *(fmt(_value(row, m), 4) for m in SR),
                             fmt(_value(row, "sample_images_per_second"), 3), str(row["n_samples"])])
    return section


def translation_sections(results: Results) -> list[Section]:
    summary = results.summary
    if "task" not in summary.columns:
        return []
    translated = summary[summary["task"].fillna("") != ""]
    sections: list[Section] = []
    for dataset, rows in translated.groupby("dataset", sort=False):
        for build in (fcn_section, partial(cycle_section, grids=results.grids), super_resolution_section):
            section = build(rows, dataset)
            if section is not None:
                sections.append(section)
    return sections


def style_transfer_section(results_root: Path) -> Section | None:
    """``style_transfer/style_transfer.json`` (genbench experiment style_transfer), when the profile ran it."""
    path = Path(results_root) / "style_transfer" / "style_transfer.json"
    if not path.is_file():
        return None
    record = read_json(path)
    cfg = record["config"]
    section = Section("Neural style transfer (Gatys et al.)",
                      f"Held-out photos optimised for {cfg['steps']} L-BFGS loss evaluations at {cfg['size']} px "
                      f"(VGG16 relu4_2 content, Gram matrices of relu1_1..relu5_1, style weight "
                      f"{fmt(float(cfg['style_weight']))}); {fmt(record['seconds_per_image'], 3)} s per image on this "
                      "run's device. Grid: first row the styles, then each photo and its restylings.",
                      ["content", "style", "content loss", "style loss", "seconds"])
    section.rows = [[r["content"], r["style"], fmt(r["content_loss"], 3),
                     fmt(r["style_loss"], 3), fmt(r["seconds"], 3)] for r in record["rows"]]
    section.figures["style_transfer.png"] = (path.parent / record["figure"]).read_bytes()
    return section

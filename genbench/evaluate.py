"""Evaluation jobs: the domain feature network, reference features, and metrics of a sample file.

I/O and bookkeeping only; the maths is in ``genbench.metrics`` (pure functions over features).
Every value in ``metrics.json`` carries the protocol that produced it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from genbench import metrics
from genbench.config import DomainConfig, EvaluationConfig
from genbench.data import load_split
from genbench.device import resolve_device, set_threads
from genbench.features.domain import extract, load_classifier, save_classifier, train_domain_classifier
from genbench.io import InputError, load_npz, read_json, save_npz, sha256_file, write_json
from genbench.train.loop import seeded_subset

REFERENCE_SEED = 12345  # fixed: the real subset must not change with the model's seed


def run_domain_training(data_dir: Path, cfg: DomainConfig, *, device: str, threads: int, out: Path) -> dict:
    """Train the per-dataset classifier; writes ``out`` (.pt) and ``out.with_suffix('.json')`` with its accuracy."""
    set_threads(threads)
    train_x, train_y = load_split(data_dir, "train")
    test_x, test_y = load_split(data_dir, "test")
    model, info = train_domain_classifier(train_x, train_y, test_x, test_y, cfg, device=resolve_device(device))
    json_path = out.with_suffix(".json")
    # Wall time stays out of the checkpoint so identical training gives identical bytes (and sha256).
    save_classifier(model, out, {k: v for k, v in info.items() if k != "train_seconds"})
    record = {**info, "sha256": sha256_file(out), "dataset_dir": str(data_dir)}
    write_json(json_path, record)
    return record


def run_reference(data_dir: Path, classifier: Path, *, split: str, n: int, batch_size: int, device: str,
                  threads: int, out: Path) -> None:
    """Domain features and logits of a fixed seeded subset of real images (the reference side of every metric)."""
    set_threads(threads)
    images, labels = load_split(data_dir, split)
    if n > len(images):
        raise InputError(f"{data_dir}/{split}.npz: has {len(images)} images, evaluation.n_real asks for {n}")
    idx = seeded_subset(len(images), n, REFERENCE_SEED)
    dev = resolve_device(device)
    model, _ = load_classifier(classifier, device=dev)
    features, logits = extract(model, images[idx], batch_size=batch_size, device=dev)
    save_npz(out, {"features": features, "logits": logits, "labels": labels[idx], "indices": idx.astype(np.int64),
                   "extractor_sha256": np.array(sha256_file(classifier)), "split": np.array(split)})


def compute_metrics(real_features: np.ndarray, fake_features: np.ndarray, fake_logits: np.ndarray,
                    cfg: EvaluationConfig) -> dict[str, dict]:
    """All foundation metrics in the domain feature space; values plus their own protocol details."""
    kid_mean, kid_std = metrics.kernel_inception_distance(real_features, fake_features, num_subsets=cfg.kid_subsets,
                                                          subset_size=cfg.kid_subset_size, seed=0)
    is_mean, is_std = metrics.inception_score(fake_logits, splits=cfg.is_splits)
    precision, recall = metrics.precision_recall(real_features, fake_features, k=cfg.pr_k)
    subset = metrics.effective_subset_size(len(real_features), len(fake_features), cfg.kid_subset_size)
    return {
        "fd_domain": {"value": metrics.frechet_distance(real_features, fake_features)},
        "kid_domain": {"value": kid_mean, "std": kid_std,
                       "protocol": {"kernel": "cubic polynomial", "subsets": cfg.kid_subsets, "subset_size": subset}},
        "is_domain": {"value": is_mean, "std": is_std, "protocol": {"splits": cfg.is_splits}},
        "precision_domain": {"value": precision, "protocol": {"k": cfg.pr_k}},
        "recall_domain": {"value": recall, "protocol": {"k": cfg.pr_k}},
    }


def run_evaluation(samples: Path, reference: Path, classifier: Path, cfg: EvaluationConfig, *, device: str,
                   threads: int, identity: dict, out: Path) -> dict:
    """Metrics of ``samples`` against ``reference``; ``identity`` (dataset, preset, family, sampler, seed) is copied in."""
    set_threads(threads)
    fake = load_npz(samples, required=("images",))["images"]
    if len(fake) < cfg.n_fake:
        raise InputError(f"{samples}: has {len(fake)} images, evaluation.n_fake asks for {cfg.n_fake}; re-run its sample rule")
    ref = load_npz(reference, required=("features", "logits", "extractor_sha256"))
    extractor_sha = sha256_file(classifier)
    if str(ref["extractor_sha256"]) != extractor_sha:
        raise InputError(f"{reference}: made with another domain classifier than {classifier}; delete it and re-run")
    dev = resolve_device(device)
    model, _ = load_classifier(classifier, device=dev)
    fake_features, fake_logits = extract(model, fake[:cfg.n_fake], batch_size=cfg.batch_size, device=dev)
    values = compute_metrics(ref["features"], fake_features, fake_logits, cfg)
    protocol = {"feature_space": "domain", "extractor_sha256": extractor_sha, "n_real": int(len(ref["features"])),
                "n_fake": int(cfg.n_fake), "reference_split": str(ref["split"]), "resize": "none (native 28x28)",
                "samples_sha256": sha256_file(samples)}
    for record in values.values():
        record["protocol"] = {**protocol, **record.get("protocol", {})}
    result = {**identity, "metrics": values}
    write_json(out, result)
    return result


def final_metric_values(result: dict) -> dict[str, float]:
    """``{'<sampler>/<metric>': value}`` for MLflow, from a ``metrics.json`` record."""
    return {f"{result['sampler']}/{name}": float(rec["value"]) for name, rec in result["metrics"].items()}


def read_train_summary(path: Path) -> dict:
    summary = read_json(path)
    if "mlflow_run_id" not in summary:
        raise InputError(f"{path}: no 'mlflow_run_id'; re-run its train rule")
    return summary

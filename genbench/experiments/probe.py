"""Discriminator features as a representation: a linear probe, against the same probe on random features.

Radford et al. 2016 (DCGAN), sec. 5.1, classify CIFAR-10 with a linear model on the discriminator's
features; the control that makes the number mean something is the same architecture untrained (random
convolutional features are a strong baseline on MNIST-like data). Both probes here are multinomial
logistic regressions on standardised features, fit by full-batch L-BFGS (100 iterations) with a small L2 penalty,
so the result is deterministic for a given seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from genbench.config import bounded
from genbench.data import load_split, seeded_subset
from genbench.device import resolve_device, set_threads
from genbench.experiments.base import EXPERIMENTS, Experiment, ExperimentJob, run_identity
from genbench.io import write_json
from genbench.models import GenerativeModel, build_model
from genbench.train.checkpoint import load_for_sampling

__all__ = ["ProbeConfig", "discriminator_features", "linear_probe_accuracy", "run_probe_job"]


@dataclass(frozen=True)
class ProbeConfig:
    """Linear probe on the discriminator features of the named presets vs the untrained network's."""

    presets: tuple[str, ...] = bounded((), unique=True)
    n_train: int = bounded(5000, ge=10)  # seeded subsets of the train and test splits
    n_test: int = bounded(2000, ge=1)


@torch.no_grad()
def discriminator_features(model: GenerativeModel, images_uint8: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """(N, F) float32 discriminator features of uint8 images (eval mode: BatchNorm running statistics)."""
    model.eval()
    out = []
    for start in range(0, len(images_uint8), batch_size):
        x = torch.from_numpy(images_uint8[start:start + batch_size]).float().div(127.5).sub(1.0).to(model.device)
        out.append(model.discriminator_features(x).float().cpu())
    return torch.cat(out).numpy()


def linear_probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, *,
                          l2: float = 1e-4, iterations: int = 100) -> float:
    """Test accuracy of a softmax regression fit on (train_x, train_y); features standardised by train stats."""
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    x_train = torch.from_numpy((train_x - mean) / std).float()
    x_test = torch.from_numpy((test_x - mean) / std).float()
    y_train = torch.from_numpy(np.asarray(train_y, dtype=np.int64))
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    weight = torch.zeros(x_train.shape[1], num_classes, requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=iterations, history_size=20,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x_train @ weight + bias, y_train) + l2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = (x_test @ weight + bias).argmax(dim=1).numpy()
    return float((predicted == np.asarray(test_y)).mean())


def run_probe_job(job: ExperimentJob) -> dict:
    set_threads(job.threads)
    dev = resolve_device(job.device)
    checkpoint, settings = job.inputs["checkpoint"], job.config
    trained, run_cfg = load_for_sampling(checkpoint, dev)
    torch.manual_seed(run_cfg.seed)
    untrained = build_model(run_cfg.spec.family, dict(run_cfg.spec.model), trained.image, source=str(checkpoint))
    untrained = untrained.to(dev).eval()
    (train_x, train_y), (test_x, test_y) = (load_split(job.inputs["data"], split) for split in ("train", "test"))
    train_idx = seeded_subset(len(train_x), settings.n_train, run_cfg.seed)
    test_idx = seeded_subset(len(test_x), settings.n_test, run_cfg.seed)
    accuracy = {}
    for name, model in (("trained", trained), ("untrained", untrained)):
        features_train = discriminator_features(model, train_x[train_idx])
        features_test = discriminator_features(model, test_x[test_idx])
        accuracy[name] = linear_probe_accuracy(features_train, train_y[train_idx], features_test, test_y[test_idx])
    record = {**run_identity(checkpoint, run_cfg), "trained_accuracy": accuracy["trained"],
              "untrained_accuracy": accuracy["untrained"], "feature_dim": int(features_train.shape[1]),
              "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
              "probe": "softmax regression, standardised features, L-BFGS, L2 1e-4"}
    write_json(job.out, record)
    return record


EXPERIMENTS.add("probe", Experiment(
    config=ProbeConfig, run=run_probe_job, inputs=("checkpoint", "data"),
    applies_to=lambda cls: cls.has_discriminator(), requirement="a family with a discriminator", mem_mb=3000,
    summary=lambda r: f"probe of {r['preset']} on {r['dataset']}: {r['trained_accuracy']:.4f} trained, "
                      f"{r['untrained_accuracy']:.4f} untrained"))

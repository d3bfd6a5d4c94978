"""The guide and the judge: two more classifiers per dataset, for experiments that optimise against a network.

Steering and loss guidance push images up a classifier's gradient. Scoring them with the same classifier is
circular: its gradient can raise its own score with changes no other network (or person) would read as the
target, so that score says little about the images. Each dataset therefore gets

- the **guide**: the domain classifier's architecture and recipe (genbench.features.domain) with another seed,
  trained on one half of the train split; the network the experiments optimise against. Not the domain
  classifier itself: its features define FD, which guidance would then be optimising too.
- the **judge**: another architecture (below), another seed, trained on the other half; used only to score.

The halves come from one seeded permutation (``JudgesConfig.split_seed``) and are disjoint, so the judge has
seen none of the guide's images. A rate the guide reports and the judge does not confirm is the guide being
fooled, and the report says so.

Judge architecture for width w (default 24), 28x28 input: residual, GroupNorm, average pooling and a linear head
on the pooled map, where the domain classifier is plain, BatchNorm, max pooling, a 128-d dense layer and dropout:

    conv5x5(C -> w) GN ReLU, avgpool2                 28 -> 14
    residual(w): [conv3x3 GN ReLU conv3x3 GN] + x, ReLU
    conv3x3(w -> 2w) GN ReLU, avgpool2                14 -> 7
    residual(2w), avgpool2                            7 -> 3
    fc(2w * 3 * 3 -> num_classes)

(The head keeps the 3x3 layout: a global average would discard where a stroke is.)
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genbench.config import DomainConfig, JudgesConfig
from genbench.data import load_split
from genbench.device import resolve_device, set_threads
from genbench.features.domain import (check_training_arrays, classification_accuracy, fit_classifier,
                                      save_classifier, to_input, train_domain_classifier)
from genbench.io import sha256_file, write_json
from genbench.torch_io import load_network, save_network

__all__ = ["JudgeClassifier", "disjoint_halves", "train_judge", "save_judge", "load_judge", "classify",
           "run_judges_training"]

FORMAT = "genbench-judge-classifier"
FORMAT_VERSION = 1


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = _norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = _norm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self.conv1(x)))
        return F.relu(x + self.norm2(self.conv2(h)))


class JudgeClassifier(nn.Module):
    """A small residual CNN classifier of another design than the domain classifier (module docstring)."""

    def __init__(self, *, in_channels: int, num_classes: int, width: int = 24, image_size: int = 28) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2 or width < 1 or image_size < 8:
            raise ValueError(f"bad JudgeClassifier shape: in_channels={in_channels}, num_classes={num_classes}, "
                             f"width={width}, image_size={image_size}")
        self.in_channels, self.num_classes, self.width, self.image_size = in_channels, num_classes, width, image_size
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2, bias=False), _norm(width), nn.ReLU(), nn.AvgPool2d(2),
            _Residual(width),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), _norm(2 * width), nn.ReLU(), nn.AvgPool2d(2),
            _Residual(2 * width), nn.AvgPool2d(2), nn.Flatten(),
        )
        side = image_size // 8
        self.head = nn.Linear(2 * width * side * side, num_classes)

    def shape_config(self) -> dict[str, int]:
        return {"in_channels": self.in_channels, "num_classes": self.num_classes, "width": self.width,
                "image_size": self.image_size}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def disjoint_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(guide's rows, judge's rows): a seeded permutation of ``range(n)`` cut in two, each half sorted."""
    if n < 2:
        raise ValueError(f"need at least 2 training images to halve, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def train_judge(train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
                test_labels: np.ndarray, cfg: JudgesConfig, recipe: DomainConfig, *,
                device: torch.device | str) -> tuple[JudgeClassifier, dict[str, Any]]:
    """The judge, on exactly the rows given, with the domain classifier's optimiser recipe (batch, lr, cosine
    decay) at ``cfg.judge_epochs`` and ``cfg.judge_seed``; returns (model in eval mode, info)."""
    device = torch.device(device)
    train_y, test_y, num_classes = check_training_arrays(train_images, train_labels, test_images, test_labels, None)
    judge_recipe = replace(recipe, epochs=cfg.judge_epochs, seed=cfg.judge_seed, max_train_images=0)

    def build() -> JudgeClassifier:
        return JudgeClassifier(in_channels=train_images.shape[1], num_classes=num_classes, width=cfg.judge_width,
                               image_size=train_images.shape[2])

    model, seconds = fit_classifier(build, torch.as_tensor(train_images), train_y, judge_recipe,
                                    generator=torch.Generator().manual_seed(cfg.judge_seed), device=device)
    accuracy = classification_accuracy(model, torch.as_tensor(test_images), test_y, 256, device)
    return model.eval(), {"test_accuracy": accuracy, "n_train": len(train_images), "n_test": len(test_images),
                          "epochs": cfg.judge_epochs, "train_seconds": round(seconds, 3)}


def save_judge(model: JudgeClassifier, path: str | Path, info: dict[str, Any]) -> None:
    save_network(path, model, info, fmt=FORMAT, version=FORMAT_VERSION)


def load_judge(path: str | Path, *, device: torch.device | str) -> tuple[JudgeClassifier, dict[str, Any]]:
    return load_network(path, JudgeClassifier, what="judge classifier", fmt=FORMAT, version=FORMAT_VERSION,
                        device=device)


@torch.inference_mode()
def classify(model: nn.Module, images_uint8: np.ndarray, *, batch_size: int = 250) -> np.ndarray:
    """Class probabilities (N, classes) float64 of uint8 images (N, C, H, W), in eval mode, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    out = [torch.softmax(model(to_input(torch.from_numpy(np.ascontiguousarray(images_uint8[i:i + batch_size]))
                                        .to(device))), dim=1).double().cpu()
           for i in range(0, len(images_uint8), batch_size)]
    return torch.cat(out).numpy()


def run_judges_training(data_dir: Path, cfg: JudgesConfig, recipe: DomainConfig, *, device: str, threads: int,
                        guide_out: Path, judge_out: Path, record_out: Path) -> dict:
    """Train the guide and the judge on the two halves of ``data_dir``'s train split; writes both networks and
    a record (accuracies, the halves' sizes and checksums, how often the two agree on the test split) last."""
    set_threads(threads)
    dev = resolve_device(device)
    (train_x, train_y), (test_x, test_y) = load_split(data_dir, "train"), load_split(data_dir, "test")
    guide_rows, judge_rows = disjoint_halves(len(train_x), cfg.split_seed)
    guide, guide_info = train_domain_classifier(train_x[guide_rows], train_y[guide_rows], test_x, test_y,
                                                replace(recipe, seed=cfg.guide_seed, max_train_images=0), device=dev)
    judge, judge_info = train_judge(train_x[judge_rows], train_y[judge_rows], test_x, test_y, cfg, recipe, device=dev)
    agreement = float((classify(guide, test_x).argmax(1) == classify(judge, test_x).argmax(1)).mean())
    halves = {"guide": _rows_sha256(guide_rows), "judge": _rows_sha256(judge_rows)}
    # Wall time stays out of the networks' files so identical training gives identical bytes.
    save_classifier(guide, guide_out, {k: v for k, v in guide_info.items() if k != "train_seconds"}
                    | {"rows_sha256": halves["guide"], "role": "guide"})
    save_judge(judge, judge_out, {k: v for k, v in judge_info.items() if k != "train_seconds"}
               | {"rows_sha256": halves["judge"], "role": "judge"})
    record = {"dataset_dir": str(data_dir), "split_seed": cfg.split_seed, "test_agreement": agreement,
              "guide": {**guide_info, "architecture": "domain classifier (genbench.features.domain)",
                        "seed": cfg.guide_seed, "rows_sha256": halves["guide"], "sha256": sha256_file(guide_out)},
              "judge": {**judge_info, "architecture": f"residual GroupNorm CNN, width {cfg.judge_width} "
                        "(genbench.features.judge)", "seed": cfg.judge_seed, "rows_sha256": halves["judge"],
                        "sha256": sha256_file(judge_out)}}
    write_json(record_out, record)
    return record


def _rows_sha256(rows: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()

"""The per-dataset domain classifier: a small CNN whose penultimate activations and softmax feed the metrics.

Inception-v3 features are a poor fit for 28x28 grayscale digits and clothes, so each dataset also gets
its own feature space (``fd_domain``, ``kid_domain``, ``is_domain``, ...), as StudioGAN and many MNIST
GAN papers do. The network is trained by the pipeline, deterministically from ``DomainConfig.seed`` on
CPU, and its test accuracy is reported beside the metrics it defines.

Architecture for width w (default 32), 28x28 input, about 4.8 M multiply-adds per image:

    conv3x3(C -> w)   maxpool2 BN ReLU   28 -> 14
    conv3x3(w -> w)   maxpool2 BN ReLU   14 -> 7
    conv3x3(w -> 2w)           BN ReLU
    conv3x3(2w -> 2w) maxpool2 BN ReLU   7 -> 3
    fc(2w*3*3 -> 128) ReLU                 <- ``features()``: the 128-d embedding
    dropout(0.3) fc(128 -> num_classes)   <- ``forward()``: logits

Pooling comes before BatchNorm/ReLU so those run on a quarter of the activations, and the network runs in
``channels_last`` memory format (oneDNN's fast path): together they halve the CPU step time, which is
what keeps training on the full 60k images within about a minute on 2 cores.

Pixels enter as uint8 and are mapped to [-1, 1] by ``x / 127.5 - 1`` (``to_input``).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genbench.config import DomainConfig
from genbench.data import load_split
from genbench.device import resolve_device, set_threads
from genbench.io import sha256_file, write_json
from genbench.torch_io import load_network, save_network

FEATURE_DIM = 128
FORMAT = "genbench-domain-classifier"
FORMAT_VERSION = 1


def to_input(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [-1, 1], in the channels_last layout the network runs in."""
    x = images_uint8.to(torch.float32) / 127.5 - 1.0
    return x.contiguous(memory_format=torch.channels_last)


def _conv_block(c_in: int, c_out: int, *, pool: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]  # BN supplies the bias
    if pool:
        layers.append(nn.MaxPool2d(2))
    return layers + [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class DomainClassifier(nn.Module):
    """Small CNN classifier for 28x28 images; ``features`` is the post-ReLU 128-d penultimate layer."""

    def __init__(self, *, in_channels: int, num_classes: int, width: int = 32, image_size: int = 28) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2 or width < 1 or image_size < 8:
            raise ValueError(f"bad DomainClassifier shape: in_channels={in_channels}, num_classes={num_classes}, "
                             f"width={width}, image_size={image_size}")
        self.in_channels, self.num_classes, self.width, self.image_size = in_channels, num_classes, width, image_size
        self.body = nn.Sequential(
            *_conv_block(in_channels, width, pool=True),
            *_conv_block(width, width, pool=True),
            *_conv_block(width, 2 * width, pool=False),
            *_conv_block(2 * width, 2 * width, pool=True),
            nn.Flatten(),
        )
        side = image_size // 8
        self.embed = nn.Linear(2 * width * side * side, FEATURE_DIM)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def shape_config(self) -> dict[str, int]:
        """The constructor arguments, as stored in a checkpoint."""
        return {"in_channels": self.in_channels, "num_classes": self.num_classes, "width": self.width,
                "image_size": self.image_size}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float in [-1, 1] -> (N, 128) post-ReLU embeddings."""
        return F.relu(self.embed(self.body(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


# --------------------------------------------------------------------------- training


def _check_images(images: np.ndarray, name: str, *, channels: int | None = None) -> None:
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"{name}: expected uint8 images (N, C, H, W), got {images.dtype} {images.shape}")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(f"{name}: the classifier takes {channels}-channel images, got {images.shape[1]}")


def _seeded_subset(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``size`` of ``range(n)`` drawn without replacement, in increasing order; all of it when size is 0."""
    if size <= 0 or size >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=generator)[:size].sort().values


@torch.inference_mode()
def classification_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                            device: torch.device) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        x = to_input(images[start:start + batch_size].to(device))
        correct += int((model(x).argmax(dim=1).cpu() == labels[start:start + batch_size]).sum())
    return correct / len(images)


def fit_classifier(build: Callable[[], nn.Module], train_x: torch.Tensor, train_y: torch.Tensor, cfg: DomainConfig,
                   *, generator: torch.Generator, device: torch.device) -> tuple[nn.Module, float]:
    """The classifiers' recipe: ``build()`` under ``cfg.seed``, Adam with a cosine decay to 0 over ``cfg.epochs``
    of shuffles drawn from ``generator``; returns (model in train mode, wall seconds). The global RNG state is
    restored afterwards. Images enter as uint8 (``to_input``), so any network taking [-1, 1] inputs fits."""
    steps_per_epoch = math.ceil(len(train_x) / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(cfg.seed)  # weight init and dropout masks
        model = build().to(device, memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        # Cosine decay to 0 over all steps: a few epochs reach the accuracy of many at a constant rate.
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / max(total_steps, 1))))
        started = time.perf_counter()
        model.train()
        for _epoch in range(cfg.epochs):
            order = torch.randperm(len(train_x), generator=generator)
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                x = to_input(train_x[idx].to(device))
                loss = F.cross_entropy(model(x), train_y[idx].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    return model, time.perf_counter() - started


def check_training_arrays(train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
                          test_labels: np.ndarray, num_classes: int | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(train labels, test labels, number of classes) of a classifier's training arrays, or a ValueError."""
    _check_images(train_images, "train_images")
    _check_images(test_images, "test_images", channels=train_images.shape[1])
    if train_images.shape[2] != train_images.shape[3] or test_images.shape[2:] != train_images.shape[2:]:
        raise ValueError(f"expected square images of one size, got {train_images.shape} and {test_images.shape}")
    train_y = torch.as_tensor(np.asarray(train_labels, dtype=np.int64))
    test_y = torch.as_tensor(np.asarray(test_labels, dtype=np.int64))
    if train_y.shape != (len(train_images),) or test_y.shape != (len(test_images),):
        raise ValueError(f"expected one label per image, got {tuple(train_y.shape)} for {len(train_images)} train "
                         f"and {tuple(test_y.shape)} for {len(test_images)} test images")
    num_classes = int(max(train_y.max(), test_y.max())) + 1 if num_classes is None else num_classes
    if int(min(train_y.min(), test_y.min())) < 0 or int(max(train_y.max(), test_y.max())) >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes})")
    return train_y, test_y, num_classes


def train_domain_classifier(train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
                            test_labels: np.ndarray, cfg: DomainConfig, *, device: torch.device | str,
                            num_classes: int | None = None) -> tuple[DomainClassifier, dict[str, Any]]:
    """Train the classifier with Adam and a cosine learning-rate decay; returns (model in eval mode, info).

    ``num_classes`` defaults to the largest label + 1. Initialisation, the optional subset
    (``cfg.max_train_images``), the shuffling and dropout all derive from ``cfg.seed``; the global RNG
    state is restored afterwards. On CPU the weights are bit-identical across runs with the same thread
    count. ``info["train_seconds"]`` is wall time, so keep it out of anything that must be reproducible.
    """
    device = torch.device(device)
    train_y, test_y, num_classes = check_training_arrays(train_images, train_labels, test_images, test_labels,
                                                         num_classes)

    generator = torch.Generator().manual_seed(cfg.seed)
    subset = _seeded_subset(len(train_images), cfg.max_train_images, generator)
    train_x = torch.as_tensor(train_images)[subset]
    train_y = train_y[subset]

    def build() -> DomainClassifier:
        return DomainClassifier(in_channels=train_images.shape[1], num_classes=num_classes, width=cfg.width,
                                image_size=train_images.shape[2])

    model, train_seconds = fit_classifier(build, train_x, train_y, cfg, generator=generator, device=device)
    accuracy = classification_accuracy(model, torch.as_tensor(test_images), test_y, max(cfg.batch_size, 256), device)
    info = {"test_accuracy": accuracy, "n_train": len(train_x), "n_test": len(test_images), "epochs": cfg.epochs,
            "train_seconds": round(train_seconds, 3)}
    return model.eval(), info


# --------------------------------------------------------------------------- checkpoint


def weights_sha256(model: DomainClassifier) -> str:
    """A checksum of the shape config and weights alone (not the info dict): the feature space's identity."""
    digest = hashlib.sha256(json.dumps(model.shape_config(), sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()  # the same bytes whatever the memory format
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def save_classifier(model: DomainClassifier, path: str | Path, info: dict[str, Any]) -> None:
    """Write shape config, state dict and ``info`` (JSON-like values only) atomically, as identical bytes for
    identical weights."""
    save_network(path, model, info, fmt=FORMAT, version=FORMAT_VERSION)


def load_classifier(path: str | Path, *, device: torch.device | str) -> tuple[DomainClassifier, dict[str, Any]]:
    """The classifier saved by ``save_classifier``, in eval mode on ``device``, and its info dict."""
    return load_network(path, DomainClassifier, what="domain classifier", fmt=FORMAT, version=FORMAT_VERSION,
                        device=device)


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


# --------------------------------------------------------------------------- extraction


def extract(model: DomainClassifier, images_uint8: np.ndarray, *, batch_size: int,
            device: torch.device | str) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 (N, 128), logits float32 (N, num_classes)) for uint8 images (N, C, H, W).

    Runs in eval mode (BatchNorm uses its running statistics), so a row does not depend on the batch it
    was in. The model's train/eval mode is restored afterwards.
    """
    _check_images(images_uint8, "images", channels=model.in_channels)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    device = torch.device(device)
    n = images_uint8.shape[0]
    features = np.empty((n, FEATURE_DIM), dtype=np.float32)
    logits = np.empty((n, model.num_classes), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                x = to_input(torch.from_numpy(np.ascontiguousarray(images_uint8[start:start + batch_size])).to(device))
                feats = model.features(x)
                features[start:start + len(x)] = feats.float().cpu().numpy()
                logits[start:start + len(x)] = model.head(feats).float().cpu().numpy()  # dropout is identity in eval
    finally:
        model.train(was_training)
    return features, logits

"""The FCN-score segmenter: a small fully convolutional network from RGB images to per-pixel class logits.

pix2pix (Isola et al. 2017, sec. 4.2) and CycleGAN (Zhu et al. 2017, sec. 5.1.1) score label -> photo
translation by running an FCN trained on real photos over the generated ones and comparing its predicted
label maps with the input maps (``genbench.metrics.fcn_score``). Their FCN-8s for cityscapes does not exist
here, so the pipeline trains its own per dataset, deterministically from ``SegmenterConfig.seed`` on CPU;
its scores on the real test split are the tables' "ground truth" row.

For MNIST-M the 11 classes are background and 1 + digit on the stroke, so a pixel's class needs both the
local contrast (stroke or not) and the whole digit's identity. A two-level encoder-decoder with skips
(a small U-Net) gives the first at full resolution; a global-context vector added at the 7x7 bottleneck
(image-wide mean -> linear -> ReLU, as in ParseNet, Liu et al. 2015) gives the second. For width w:

    enc1  @28: conv3x3(C -> w)                                  BN ReLU   -> skip1
    enc2  @14: maxpool2 conv3x3(w -> 2w), conv3x3(2w -> 2w)     BN ReLU   -> skip2
    mid   @7:  maxpool2 conv3x3(2w -> 4w), conv3x3(4w -> 4w)    BN ReLU   + context(mean over 7x7)
    dec2  @14: up2(mid) ++ skip2 -> conv3x3(6w -> 2w)           BN ReLU
    dec1  @28: up2(dec2) ++ skip1 -> conv3x3(3w -> w)           BN ReLU
    head  @28: conv1x1(w -> num_classes)                                   <- ``forward()``: logits

About 109 k parameters and 17 M multiply-adds per 28x28 image at w = 16. Pooling precedes each level's
convolutions (the cheap order) and the network runs in ``channels_last`` (oneDNN's fast path, 1.3-1.8x
faster per training step on CPU here).

The loss is plain, unweighted cross-entropy, as FCN-8s was trained (Long et al. 2015). Background is ~87 %
of MNIST-M's pixels, but most errors left are at the stroke's anti-aliased rim (MNIST intensity near the
128 threshold), where a class weight only moves the boundary outwards: inverse-sqrt-frequency weights
raised per-class accuracy (stroke recall) from 0.936 to 0.968 but cut mean IoU from 0.871 to 0.791 and
per-pixel accuracy from 0.983 to 0.965 (one epoch at batch 32, lr 2e-3, seed 0).
Pixels enter as uint8 and are mapped to [-1, 1] by the domain classifier's ``to_input``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genbench.config import SegmenterConfig
from genbench.data import load_arrays
from genbench.device import resolve_device, set_threads
from genbench.features.domain import to_input, weights_sha256  # weights_sha256: any shape_config() model
from genbench.io import sha256_file, write_json
from genbench.metrics.fcn_score import class_scores, confusion_matrix, fcn_scores
from genbench.torch_io import load_network, save_network

FORMAT = "genbench-segmenter"
FORMAT_VERSION = 1


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class Segmenter(nn.Module):
    """Two-level encoder-decoder with skips and a global-context vector; (N, C, H, W) -> (N, K, H, W) logits."""

    def __init__(self, *, in_channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2 or width < 1:
            raise ValueError(f"bad Segmenter shape: in_channels={in_channels}, num_classes={num_classes}, "
                             f"width={width}")
        self.in_channels, self.num_classes, self.width = in_channels, num_classes, width
        w = width
        self.enc1 = nn.Sequential(*_conv_bn_relu(in_channels, w))
        self.enc2 = nn.Sequential(nn.MaxPool2d(2), *_conv_bn_relu(w, 2 * w), *_conv_bn_relu(2 * w, 2 * w))
        self.mid = nn.Sequential(nn.MaxPool2d(2), *_conv_bn_relu(2 * w, 4 * w), *_conv_bn_relu(4 * w, 4 * w))
        self.context = nn.Linear(4 * w, 4 * w)
        self.dec2 = nn.Sequential(*_conv_bn_relu(6 * w, 2 * w))
        self.dec1 = nn.Sequential(*_conv_bn_relu(3 * w, w))
        self.head = nn.Conv2d(w, num_classes, 1)

    def shape_config(self) -> dict[str, int]:
        """The constructor arguments, as stored in a checkpoint."""
        return {"in_channels": self.in_channels, "num_classes": self.num_classes, "width": self.width}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip1 = self.enc1(x)
        skip2 = self.enc2(skip1)
        mid = self.mid(skip2)
        mid = mid + F.relu(self.context(mid.mean(dim=(2, 3))))[:, :, None, None]  # image-wide digit identity
        up = self.dec2(torch.cat([F.interpolate(mid, scale_factor=2.0), skip2], dim=1))
        return self.head(self.dec1(torch.cat([F.interpolate(up, scale_factor=2.0), skip1], dim=1)))


# --------------------------------------------------------------------------- training


def _check_pairs(images: np.ndarray, maps: np.ndarray, name: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"{name} images: expected uint8 (N, C, H, W), got {images.dtype} {images.shape}")
    if images.shape[2] % 4 or images.shape[3] % 4:
        raise ValueError(f"{name} images: height and width must be multiples of 4 (two 2x poolings), "
                         f"got {images.shape[2]}x{images.shape[3]}")
    if maps.shape != (images.shape[0], *images.shape[2:]) or not np.issubdtype(maps.dtype, np.integer):
        raise ValueError(f"{name} maps: expected integer (N, H, W) = {(images.shape[0], *images.shape[2:])}, "
                         f"got {maps.dtype} {maps.shape}")


@torch.inference_mode()
def _predict(model: Segmenter, images: np.ndarray, batch_size: int) -> np.ndarray:
    device = next(model.parameters()).device
    out = np.empty((images.shape[0], *images.shape[2:]), dtype=np.uint8)
    for start in range(0, len(images), batch_size):
        x = to_input(torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])).to(device))
        out[start:start + len(x)] = model(x).argmax(dim=1).to(torch.uint8).cpu().numpy()
    return out


def predict_maps(model: Segmenter, images_uint8: np.ndarray, *, batch_size: int) -> np.ndarray:
    """uint8 (N, H, W) arg-max label maps of uint8 images (N, C, H, W), on the model's device.

    Runs in eval mode (BatchNorm uses its running statistics), so a map does not depend on the batch it was
    in; the model's train/eval mode is restored afterwards.
    """
    if images_uint8.dtype != np.uint8 or images_uint8.ndim != 4 or images_uint8.shape[1] != model.in_channels:
        raise ValueError(f"images: expected uint8 (N, {model.in_channels}, H, W), got {images_uint8.dtype} "
                         f"{images_uint8.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if model.num_classes > 256:
        raise ValueError(f"uint8 maps hold at most 256 classes, the model has {model.num_classes}")
    was_training = model.training
    model.eval()
    try:
        return _predict(model, images_uint8, batch_size)
    finally:
        model.train(was_training)


def evaluate_segmenter(model: Segmenter, images: np.ndarray, maps: np.ndarray, *, batch_size: int) -> dict[str, Any]:
    """FCN-scores of the model on real images: the "ground truth" row, plus per-class IoU (None: class absent)."""
    confusion = confusion_matrix(predict_maps(model, images, batch_size=batch_size), maps, model.num_classes)
    _, iou = class_scores(confusion)
    return {**fcn_scores(confusion), "per_class_iou": [None if np.isnan(v) else round(float(v), 6) for v in iou]}


def train_segmenter(train_images: np.ndarray, train_maps: np.ndarray, test_images: np.ndarray,
                    test_maps: np.ndarray, cfg: SegmenterConfig, *, device: torch.device | str,
                    num_classes: int | None = None) -> tuple[Segmenter, dict[str, Any]]:
    """Train with Adam, cosine decay and per-pixel cross-entropy; returns (model in eval mode, info).

    ``num_classes`` defaults to the largest label + 1. ``info`` holds the test FCN-scores
    (``per_pixel_accuracy``, ``per_class_accuracy``, ``class_iou``, ``per_class_iou``), the config, the
    counts and ``train_seconds``. Initialisation, the optional subset (``cfg.n_train``) and the shuffling
    derive from ``cfg.seed`` and the global RNG state is restored afterwards: on CPU the weights are
    bit-identical across runs with the same thread count. ``train_seconds`` is wall time, so keep it out
    of anything that must be reproducible.
    """
    device = torch.device(device)
    train_maps, test_maps = np.asarray(train_maps), np.asarray(test_maps)
    _check_pairs(train_images, train_maps, "train")
    _check_pairs(test_images, test_maps, "test")
    if test_images.shape[1:] != train_images.shape[1:]:
        raise ValueError(f"train and test images differ in shape: {train_images.shape} vs {test_images.shape}")
    top = int(max(train_maps.max(), test_maps.max()))
    num_classes = top + 1 if num_classes is None else num_classes
    if int(min(train_maps.min(), test_maps.min())) < 0 or top >= num_classes or num_classes > 256:
        raise ValueError(f"label maps must lie in [0, {num_classes}), with at most 256 classes (uint8 maps)")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0 or cfg.width < 1 or cfg.n_train < 0:
        raise ValueError(f"bad SegmenterConfig: {cfg}")

    generator = torch.Generator().manual_seed(cfg.seed)
    subset = torch.arange(len(train_images))
    if 0 < cfg.n_train < len(train_images):
        subset = torch.randperm(len(train_images), generator=generator)[:cfg.n_train].sort().values
    train_x = torch.from_numpy(train_images)[subset]
    train_y = torch.from_numpy(train_maps.astype(np.uint8, copy=False))[subset]  # 1/8 of int64's memory
    total_steps = cfg.epochs * math.ceil(len(train_x) / cfg.batch_size)

    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(cfg.seed)  # weight init
        model = Segmenter(in_channels=train_images.shape[1], num_classes=num_classes, width=cfg.width)
        model = model.to(device, memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / max(total_steps, 1))))
        started = time.perf_counter()
        model.train()
        for _epoch in range(cfg.epochs):
            order = torch.randperm(len(train_x), generator=generator)
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                loss = F.cross_entropy(model(to_input(train_x[idx].to(device))), train_y[idx].to(device).long())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
        train_seconds = time.perf_counter() - started
    model.eval()
    scores = evaluate_segmenter(model, test_images, test_maps, batch_size=max(cfg.batch_size, 256))
    info = {**scores, "config": asdict(cfg), "n_train": len(train_x), "n_test": len(test_images),
            "train_seconds": round(train_seconds, 3)}
    return model, info


# --------------------------------------------------------------------------- checkpoint


def save_segmenter(model: Segmenter, path: str | Path, info: dict[str, Any]) -> None:
    """Write shape config, state dict and ``info`` (JSON-like values only) atomically, as identical bytes for
    identical weights and info."""
    save_network(path, model, info, fmt=FORMAT, version=FORMAT_VERSION)


def load_segmenter(path: str | Path, *, device: torch.device | str) -> tuple[Segmenter, dict[str, Any]]:
    """The segmenter saved by ``save_segmenter``, in eval mode on ``device``, and its info dict."""
    return load_network(path, Segmenter, what="segmenter", fmt=FORMAT, version=FORMAT_VERSION, device=device)


# --------------------------------------------------------------------------- job


def run_segmenter_training(data_dir: Path, cfg: SegmenterConfig, *, device: str, threads: int, out: Path) -> dict:
    """Train on the dataset's train ``label_maps``, score on its test split; writes ``out`` (.pt) and
    ``out.with_suffix('.json')`` (the scores, ``train_seconds``, and the file's and weights' sha256)."""
    set_threads(threads)
    train = load_arrays(data_dir, "train", ("images", "label_maps"))
    test = load_arrays(data_dir, "test", ("images", "label_maps"))
    model, info = train_segmenter(train["images"], train["label_maps"], test["images"], test["label_maps"], cfg,
                                  device=resolve_device(device))
    # Wall time stays out of the checkpoint so identical training gives identical bytes (and sha256).
    save_segmenter(model, out, {k: v for k, v in info.items() if k != "train_seconds"})
    record = {**info, "sha256": sha256_file(out), "weights_sha256": weights_sha256(model),
              "dataset_dir": str(data_dir)}
    write_json(Path(out).with_suffix(".json"), record)
    return record

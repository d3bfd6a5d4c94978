"""The Inception part of benchmarks/gpu_acceptance.py: features/s of genbench's extractor and of clean-fid's
``get_folder_features`` with the same network on one device, and how far genbench's features are from
clean-fid's float32 ones (``<= 1e-4`` relative to the largest feature, as tests/test_inception.py holds on a CPU).

Both sides start from the same PNG folder (the first ``n`` MNIST test images) and end with (n, 2048) features;
the helpers are benchmarks/metrics/inception_speed.py's. On CUDA each side runs at float32 (TF32 off) and at
TF32 (cuDNN's default for convolutions, so what the pipeline's evaluate jobs get), and genbench's under bf16
autocast too: what each costs in agreement is recorded, and only the float32 row must pass.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from metrics.inception_speed import cleanfid_features, read_pngs, write_pngs

from genbench.features import inception
from genbench.io import load_npz

TOLERANCE = 1e-4


@contextlib.contextmanager
def precision(name: str, device: torch.device) -> Iterator[None]:
    """fp32: TF32 off; tf32: on for convolutions and matmuls; bf16: fp32 flags plus bf16 autocast."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if name == "bf16" else contextlib.nullcontext()
    try:
        with autocast:
            yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def timed(fn) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def inception_check(device: torch.device, *, n: int, batch_size: int, data: Path = Path("data/mnist/test.npz")) -> dict:
    images = load_npz(data, required=("images",))["images"][:n]
    weights = inception.fetch_inception()  # present and sha256-checked: nothing is fetched
    torchscript = inception.load_torchscript(weights, device=device)
    model, _ = inception.load_inception(weights, device=device)
    workers = min(8, os.cpu_count() or 1) if device.type == "cuda" else 0  # clean-fid's DataLoader resize workers
    precisions = ("fp32", "tf32", "bf16") if device.type == "cuda" else ("fp32",)
    record: dict[str, Any] = {"n": len(images), "batch_size": batch_size, "cleanfid_workers": workers,
                              "tolerance_relative": TOLERANCE, "pipeline_default": _default_precision(device)}
    with tempfile.TemporaryDirectory() as tmp:
        folder, warm = Path(tmp) / "images", Path(tmp) / "warm-up"
        folder.mkdir(), warm.mkdir()
        write_pngs(images, folder)
        write_pngs(images[:4], warm)

        def cleanfid(path: Path) -> np.ndarray:
            return cleanfid_features(path, torchscript, workers=workers, batch_size=batch_size, device=device)

        def ours(path: Path) -> np.ndarray:
            return inception.extract(model, read_pngs(path), batch_size=batch_size, device=device)[0]

        reference = None
        for name in precisions:
            with precision(name, device):
                row: dict[str, Any] = {}
                if name != "bf16":  # clean-fid's TorchScript network is not run under autocast
                    cleanfid(warm)
                    theirs, seconds = timed(lambda: cleanfid(folder))
                    reference = theirs if reference is None else reference
                    row["cleanfid_features_per_second"] = round(len(images) / seconds, 1)
                    row["cleanfid_relative_difference_from_fp32"] = _relative(theirs, reference)
                ours(warm)
                features, seconds = timed(lambda: ours(folder))
                row["genbench_features_per_second"] = round(len(images) / seconds, 1)
                row["max_abs_difference"] = float(np.abs(features - reference).max())
                row["relative_difference"] = _relative(features, reference)
                if "cleanfid_features_per_second" in row:
                    row["speedup"] = round(row["genbench_features_per_second"] / row["cleanfid_features_per_second"], 2)
            record[name] = row
    record["agrees"] = record["fp32"]["relative_difference"] <= TOLERANCE
    return record


def _relative(features: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(features - reference).max() / np.abs(reference).max())


def _default_precision(device: torch.device) -> str:
    return "tf32" if device.type == "cuda" and torch.backends.cudnn.allow_tf32 else "fp32"

"""Task metrics of image-to-image outputs (``genbench.jobs.translate``), measured as the papers measure them.

- FCN-score (pix2pix Table 1, CycleGAN Table 2): a segmentation network trained on real MNIST-M predicts
  the label maps of the outputs, scored against the label maps of the inputs; the same network on the real
  test images of the same rows is the "ground truth" row (``*_real``), the ceiling of the score.
- Super-resolution (SRGAN Table 2): PSNR, SSIM and LPIPS of the outputs against the high-resolution test
  images, each beside the bicubic upscale of the same low-resolution inputs (``*_bicubic``).
- Diversity of unpaired translators (MUNIT Table 1): mean LPIPS between outputs of one input under different
  random styles (``diversity_images`` of the sample file), 0 for a deterministic family.

FD and label preservation in the target domain come from ``genbench.jobs.evaluate`` (domain features; the
outputs carry their source's labels). The maths is in ``genbench.metrics``; this module lines the outputs
up with the real rows and records the protocol.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genbench import metrics
from genbench.data import load_arrays
from genbench.data.photos import resize_bicubic
from genbench.io import InputError, sha256_file

SR_CROP = 4  # pixels cropped at each border before PSNR/SSIM: the scale factor, as SR papers do
PSNR_CAP_DB = 100.0  # an exact reconstruction counts as 100 dB, so the mean stays finite
# Diversity's LPIPS at 28x28 would see VGG's relu5_3 as one pixel and relu4_3 as 3x3; upscaled to the 64x64 patches
# LPIPS was trained on (Zhang et al. 2018, sec. 2: BAPPS 64x64 patches), every layer keeps a spatial extent.
DIVERSITY_SIZE = 64


def fcn_score_metrics(outputs: np.ndarray, index: np.ndarray, data_dir: Path, segmenter_file: Path, *,
                      batch_size: int, device: torch.device) -> dict[str, dict]:
    """FCN-score of ``outputs`` (test rows ``index``) and of the real images of those rows."""
    from genbench.features.segmentation import load_segmenter, predict_maps
    from genbench.metrics.fcn_score import confusion_matrix, fcn_scores

    test = load_arrays(data_dir, "test", ("images", "label_maps"))
    true_maps = _rows(test["label_maps"], index, data_dir)
    model, _ = load_segmenter(segmenter_file, device=device)
    num_classes = model.num_classes
    protocol = {"segmenter_sha256": sha256_file(segmenter_file), "n": int(len(index)), "split": "test",
                "num_classes": num_classes, "ground_truth": "label maps of the inputs"}
    values: dict[str, dict] = {}
    for suffix, images in (("", outputs), ("_real", _rows(test["images"], index, data_dir))):
        pred = predict_maps(model, images, batch_size=batch_size)
        scores = fcn_scores(confusion_matrix(pred, true_maps, num_classes))
        values |= {f"fcn_{name}{suffix}": {"value": float(v), "protocol": protocol} for name, v in scores.items()}
    return values


def super_resolution_metrics(outputs: np.ndarray, index: np.ndarray, data_dir: Path, lpips_file: Path, *,
                             batch_size: int, device: torch.device) -> dict[str, dict]:
    """PSNR (Y channel), SSIM (RGB) and LPIPS (VGG) of ``outputs`` and of bicubic upscales, against HR."""
    from genbench.features.lpips import load_lpips, lpips_distances
    from genbench.metrics.psnr import mean_psnr

    test = load_arrays(data_dir, "test", ("images", "lr"))
    hr, lr = _rows(test["images"], index, data_dir), _rows(test["lr"], index, data_dir)
    if outputs.shape != hr.shape:
        raise InputError(f"{data_dir}/test.npz: outputs are {outputs.shape[1:]}, the high-resolution images "
                         f"{hr.shape[1:]}; re-run the sample rule of this checkpoint")
    lpips = load_lpips(heads_path=lpips_file, device=device)  # VGG16 from its converted file (fetch-weights)
    crop = (slice(None), slice(None), slice(SR_CROP, -SR_CROP), slice(SR_CROP, -SR_CROP))
    protocol = {"n": int(len(index)), "split": "test", "crop_border": SR_CROP,
                "psnr": f"Y channel (BT.601), peak 255, mean of per-image dB capped at {PSNR_CAP_DB}",
                "ssim": "RGB, gaussian 11x11 sigma 1.5", "lpips": "VGG16, lin heads v0.1",
                "lpips_sha256": sha256_file(lpips_file), "bicubic": "PIL bicubic x4 upscale of the stored LR"}
    values: dict[str, dict] = {}
    for suffix, images in (("", outputs), ("_bicubic", resize_bicubic(lr, *hr.shape[-2:]))):
        values[f"psnr{suffix}"] = {"value": mean_psnr(images, hr, y_channel=True, crop_border=SR_CROP,
                                                      max_db=PSNR_CAP_DB)}
        values[f"ssim{suffix}"] = {"value": float(metrics.ssim(images[crop], hr[crop]).mean())}
        values[f"lpips{suffix}"] = {"value": float(lpips_distances(lpips, images, hr, batch_size=batch_size,
                                                                   device=device).mean())}
    return {name: {**record, "protocol": protocol} for name, record in values.items()}


def diversity_metrics(outputs: np.ndarray, lpips_file: Path, *, batch_size: int,
                      device: torch.device) -> dict[str, dict]:
    """``diversity``: mean LPIPS (VGG) of consecutive outputs of each input, ``outputs`` (inputs, styles, C, H, W)."""
    from genbench.features.lpips import load_lpips, lpips_distances

    lpips = None

    def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        nonlocal lpips  # loaded on the first pair that differs: a deterministic family never needs it
        if lpips is None:
            lpips = load_lpips(heads_path=lpips_file, device=device)
        return lpips_distances(lpips, _lpips_view(a), _lpips_view(b), batch_size=batch_size, device=device)

    inputs, styles = outputs.shape[:2]
    protocol = {"n_inputs": int(inputs), "styles_per_input": int(styles), "pairs_per_input": int(styles - 1),
                "pairs": "consecutive outputs (j, j+1) of each input, styles drawn N(0, I) by the sample job's seed",
                "lpips": "VGG16, lin heads v0.1", "lpips_sha256": sha256_file(lpips_file),
                "resize": f"grey repeated to RGB, PIL bicubic to {DIVERSITY_SIZE}x{DIVERSITY_SIZE}",
                "identical_pairs": "distance 0, not measured"}
    return {"diversity": {"value": metrics.diversity(outputs, distance), "protocol": protocol}}


def _lpips_view(images: np.ndarray) -> np.ndarray:
    rgb = np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images
    return resize_bicubic(rgb, DIVERSITY_SIZE, DIVERSITY_SIZE)


def _rows(array: np.ndarray, index: np.ndarray, data_dir: Path) -> np.ndarray:
    if len(index) and index.max() >= len(array):
        raise InputError(f"{data_dir}/test.npz: has {len(array)} rows, the outputs name row {index.max()}; "
                         "re-run the sample rule against this dataset")
    return array[index]

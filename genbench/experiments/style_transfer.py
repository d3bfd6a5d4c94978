"""Neural style transfer: Gatys, Ecker & Bethge 2016, "Image Style Transfer Using Convolutional Neural
Networks" (CVPR; https://arxiv.org/abs/1508.06576), with the VGG16 of ``genbench.features.vgg``.

The image x itself is optimised, starting from the content image p, to minimise (eq. 7)

    L(x) = alpha L_content(p, x) + beta L_style(a, x)

- L_content (eq. 1): squared error of the relu4_2 activations F(x) and P = F(p) (the paper's "conv4_2": its
  Caffe blobs are taken after the in-place ReLU), here the mean rather than half the sum;
- L_style (eqs. 3-5): sum over relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of w_l = 1/5 times the squared
  error of the Gram matrices G = F F^T / (C H W) of x and A of the style image a, again the mean over the
  C x C entries. The paper's 1 / (4 N^2 M^2) on unnormalised Grams is 1/4 of the summed error of these.

Means keep both terms roughly independent of the image size. The paper's ratio alpha/beta = 1e-3 or 1e-4
(fig. 2) belongs to its own losses (sums) and network (Caffe's VGG19 on [0, 255] inputs, about 60 times the
scale of ours; for a ReLU network content scales with that squared, style with its fourth power), so it does
not carry over. The
default beta/alpha = 1e6 was chosen on the skimage photos (chelsea restyled by flower at 256 px, 100
evaluations): 1e5 barely changes the content image, 1e7 loses its layout (seen at 128 px), 1e6 gives a stylised
image that keeps it, the regime of the paper's fig. 2 (B-D). Max pooling is kept (the paper's average
pooling is "slightly more appealing", not needed).

Optimiser: L-BFGS by default, as Gatys et al. use: the objective is smooth, deterministic and full-batch,
the case quasi-Newton steps with a strong-Wolfe line search are made for, and it needs no learning rate
tuned. On chelsea restyled by flower at 128 px its total loss after 100 and 300 evaluations was 29.8 and
24.5, Adam's 30.6 and 24.8 (lr 0.05) or 32.5 and 25.9 (lr 0.02). Adam (``optimizer: adam``, ``lr``
0.02-0.05 in [-1, 1] pixel units) is there for comparison and keeps no history. ``steps`` counts loss
evaluations for both, so equal steps cost the same. The image is clipped to [-1, 1] only at the end.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from genbench.config import PresetConfig, ProfileConfig, bounded
from genbench.data import photos
from genbench.device import resolve_device, set_threads
from genbench.errors import ConfigError
from genbench.experiments.base import EXPERIMENTS, Experiment, ExperimentJob
from genbench.features.vgg import VGG16Features, load_vgg16
from genbench.images import save_grid
from genbench.io import sha256_file, write_json

__all__ = ["NeuralStyleConfig", "StyleTransferConfig", "transfer_style", "gram_matrix", "run_style_transfer_job",
           "CONTENT_LAYER", "STYLE_LAYERS"]

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")


@dataclass(frozen=True)
class NeuralStyleConfig:
    """Gatys et al. neural style transfer of held-out photos, once per profile: one optimisation per (content,
    style) pair, no training; photo names from genbench.data.photos."""

    enabled: bool = False
    # test photos: never seen by any trained model
    contents: tuple[str, ...] = bounded(("chelsea", "coffee"), min_items=1, unique=True)
    styles: tuple[str, ...] = bounded(("brick", "grass", "gravel"), min_items=1, unique=True)  # the texture images
    size: int = bounded(128, ge=16)  # square centre crops of this side
    steps: int = bounded(100, ge=1)  # loss evaluations (L-BFGS)
    style_weight: float = bounded(1e6, ge=0)  # beta / alpha, content weight 1 (see the module docstring)


@dataclass(frozen=True)
class StyleTransferConfig:
    """Gatys et al. style transfer (genbench.experiments.style_transfer)."""

    steps: int = 100  # loss evaluations (VGG forward + backward), the cost; L-BFGS spends some in line searches
    size: int = 256  # the longer side of the image optimised; the result is resized back to the content's size
    content_weight: float = 1.0  # alpha
    style_weight: float = 1e6  # beta; the paper's alpha/beta does not carry over (module docstring)
    lr: float = 1.0  # L-BFGS: initial step of the line search (1 is right); Adam: 0.02-0.05
    optimizer: str = "lbfgs"  # or "adam"

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"key 'optimizer': unknown optimizer '{self.optimizer}' (valid: {', '.join(OPTIMIZERS)})")
        for key in ("steps", "size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"key '{key}' must be at least 1, got {getattr(self, key)}")
        for key in ("content_weight", "style_weight"):
            if getattr(self, key) < 0:
                raise ConfigError(f"key '{key}' must be non-negative, got {getattr(self, key)}")
        if self.lr <= 0:
            raise ConfigError(f"key 'lr' must be positive, got {self.lr}")


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) activations -> (N, C, C) Gram matrices F F^T / (C H W) (eq. 3, normalised)."""
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def _working_size(height: int, width: int, size: int) -> tuple[int, int]:
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize_uint8(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(3, H, W) uint8 -> (3, h, w) uint8 by PIL bicubic (a no-op at the same size)."""
    if image.shape[1:] == hw:
        return image
    resized = Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).resize(hw[::-1], Image.BICUBIC)
    return np.asarray(resized).transpose(2, 0, 1)


def _to_input(image: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).to(device).float().div(127.5).sub(1.0)[None]


def _check_image(image: np.ndarray, name: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"transfer_style: {name} must be a uint8 RGB image (3, H, W), got "
                         f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")


def transfer_style(content_uint8: np.ndarray, style_uint8: np.ndarray, vgg: VGG16Features,
                   cfg: StyleTransferConfig, *, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The content image restyled (uint8 (3, H, W), the content's size) and a record of the run.

    Both images are resized (PIL bicubic) so their longer side is ``cfg.size``. ``record["losses"]`` has the
    content, style and total loss (eq. 7) of every evaluation (the first at the content image; for L-BFGS
    the line search's trial points too), ``record["final"]`` those of the result; ``record["seconds"]`` is
    wall time. The optimisation starts from the content image and has no random draw; ``seed`` seeds
    torch's RNG for the run anyway (and is recorded), so any added randomness stays reproducible. On CPU,
    equal inputs and thread counts give equal bytes.
    """
    _check_image(content_uint8, "content image")
    _check_image(style_uint8, "style image")
    device = next(vgg.parameters()).device
    started = time.perf_counter()
    hw = _working_size(*content_uint8.shape[1:], cfg.size)
    content = _to_input(_resize_uint8(content_uint8, hw), device)
    style = _to_input(_resize_uint8(style_uint8, _working_size(*style_uint8.shape[1:], cfg.size)), device)
    layers = (*STYLE_LAYERS, CONTENT_LAYER)
    losses: list[dict[str, float]] = []

    def loss_terms(x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = vgg(x, layers)
        content_loss = F.mse_loss(feats[CONTENT_LAYER], target_content)  # eq. 1, as a mean
        style_loss = sum(F.mse_loss(gram_matrix(feats[name]), target_grams[name])
                         for name in STYLE_LAYERS) / len(STYLE_LAYERS)  # eqs. 4-5, w_l = 1/5
        total = cfg.content_weight * content_loss + cfg.style_weight * style_loss  # eq. 7
        return {"content": content_loss, "style": style_loss, "total": total}

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        terms = loss_terms(x)
        terms["total"].backward()
        losses.append({"evaluation": len(losses), **{k: float(v.detach()) for k, v in terms.items()}})
        return terms["total"]

    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []), torch.enable_grad():
        torch.manual_seed(seed)
        with torch.no_grad():
            target_content = vgg(content, [CONTENT_LAYER])[CONTENT_LAYER]
            target_grams = {name: gram_matrix(f) for name, f in vgg(style, STYLE_LAYERS).items()}
        x = content.clone().requires_grad_(True)
        if cfg.optimizer == "lbfgs":
            # one call runs the whole budget; zero tolerances: stop on the budget, not on a plateau
            optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
                [x], lr=cfg.lr, max_iter=cfg.steps, max_eval=cfg.steps, tolerance_grad=0.0, tolerance_change=0.0,
                history_size=50, line_search_fn="strong_wolfe")
            optimizer.step(closure)
        else:
            optimizer = torch.optim.Adam([x], lr=cfg.lr)
            for _ in range(cfg.steps):
                optimizer.step(closure)
        with torch.no_grad():
            final = {k: float(v) for k, v in loss_terms(x).items()}
    pixels = ((x.detach()[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    result = _resize_uint8(pixels, content_uint8.shape[1:])
    record = {"config": dataclasses.asdict(cfg), "seed": seed, "working_size": list(hw), "content_layer": CONTENT_LAYER,
              "style_layers": list(STYLE_LAYERS), "losses": losses, "final": final,
              "seconds": round(time.perf_counter() - started, 3)}
    return result, record


def run_style_transfer_job(job: ExperimentJob, cache_dir: Path = Path(".cache/downloads")) -> dict:
    """Every (content, style) pair of the section: a grid (rows: content, then its restylings; first row: the
    styles) and per pair the losses and seconds."""
    set_threads(job.threads)
    st, vgg_file = job.config, job.inputs["vgg16"]
    images = {name: _square(image, st.size)
              for name, image in photos.read_photos(tuple(dict.fromkeys((*st.contents, *st.styles))),
                                                     photos.fetch_sources(cache_dir)).items()}
    vgg = load_vgg16(vgg_file, device=resolve_device(job.device))
    algo = StyleTransferConfig(steps=st.steps, size=st.size, style_weight=st.style_weight)
    blank = np.zeros((3, st.size, st.size), np.uint8)
    tiles, rows = [blank, *(images[s] for s in st.styles)], []
    for content in st.contents:
        tiles.append(images[content])
        for style in st.styles:
            result, record = transfer_style(images[content], images[style], vgg, algo, seed=0)
            tiles.append(result)
            final = record["final"]
            rows.append({"content": content, "style": style, "seconds": record["seconds"],
                         "content_loss": final["content"], "style_loss": final["style"], "total_loss": final["total"]})
    figure = job.out.with_suffix(".png")
    save_grid(np.stack(tiles), figure, nrow=1 + len(st.styles))
    result = {"experiment": "style_transfer", "config": {**dataclasses.asdict(algo)}, "rows": rows,
              "seconds_per_image": float(np.mean([r["seconds"] for r in rows])), "figure": figure.name,
              "vgg16_sha256": sha256_file(vgg_file),
              "grid": "first row: the styles; then per content photo: the photo and its restylings"}
    write_json(job.out, result)
    return result


def _square(image_hwc: np.ndarray, size: int) -> np.ndarray:
    """uint8 (3, size, size): the largest centred square, resized with PIL bicubic."""
    h, w, _ = image_hwc.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(image_hwc[top:top + side, left:left + side]).resize((size, size), Image.BICUBIC)
    return np.asarray(crop).transpose(2, 0, 1).copy()


def _check_photos(cfg: NeuralStyleConfig, profile: ProfileConfig, presets: Mapping[str, PresetConfig],
                  source: str) -> None:
    unknown = [name for name in (*cfg.contents, *cfg.styles) if name not in photos.PHOTO_MEMBERS]
    if unknown:
        raise ConfigError(f"{source}: key 'experiments.style_transfer': unknown photo '{unknown[0]}' "
                          f"(known: {', '.join(sorted(photos.PHOTO_MEMBERS))})")


EXPERIMENTS.add("style_transfer", Experiment(
    config=NeuralStyleConfig, run=run_style_transfer_job, inputs=("vgg16",), check=_check_photos, mem_mb=3000,
    summary=lambda record: f"style_transfer: {record['seconds_per_image']:.1f} s per image"))

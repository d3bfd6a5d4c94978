"""Latent interpolation grids and per-label grids.

Interpolation follows White 2016, "Sampling Generative Networks" (https://arxiv.org/abs/1609.04468),
sec. 2.1: between two Gaussian latents the spherical path (slerp) keeps the norm typical of the prior,
while the straight line passes through low-norm latents the generator rarely saw in training. Latents
come from each family's own prior (``draw_latents``: e.g. InfoGAN's uniform continuous codes).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genbench.device import resolve_device, set_threads
from genbench.experiments.base import EXPERIMENTS, Experiment, ExperimentJob, run_identity
from genbench.images import save_grid, to_uint8
from genbench.io import write_json
from genbench.models import GenerativeModel
from genbench.train.checkpoint import load_for_sampling

__all__ = ["WalksConfig", "slerp", "interpolation_grid", "label_grid", "run_walks", "run_walks_job"]


@dataclass(frozen=True)
class WalksConfig:
    """Latent interpolation (and per-label) grids of every preset whose family has a latent space."""

    enabled: bool = True


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of each row pair of ``a``, ``b`` (N, D) at fractions ``t`` (T,) -> (N, T, D).

    Falls back to the straight line where the two latents are (anti)parallel and the arc is undefined.
    """
    a_unit = a / a.norm(dim=1, keepdim=True)
    b_unit = b / b.norm(dim=1, keepdim=True)
    omega = torch.arccos((a_unit * b_unit).sum(dim=1).clamp(-1.0, 1.0))[:, None, None]  # (N, 1, 1)
    t = t[None, :, None]
    sin = torch.sin(omega)
    arc = (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / sin.clamp_min(1e-6)
    line = (1 - t) * a[:, None] + t * b[:, None]
    return torch.where(sin > 1e-6, arc, line)


def _latents(model: GenerativeModel, n: int, generator: torch.Generator) -> torch.Tensor:
    return model.draw_latents(n, generator=generator).cpu()


def _labels(model: GenerativeModel, n: int, generator: torch.Generator) -> torch.Tensor | None:
    if not model.label_kind:
        return None
    return torch.randint(0, model.num_label_values(), (n,), generator=generator)


@torch.no_grad()
def interpolation_grid(model: GenerativeModel, *, rows: int, steps: int, seed: int) -> np.ndarray:
    """uint8 images (rows * steps, C, H, W): each row walks from one random latent to another.

    A conditional model keeps one random label per row, so the row shows the latent's (style's) effect alone.
    """
    generator = torch.Generator().manual_seed(seed)
    start, end = (_latents(model, rows, generator).flatten(1) for _ in range(2))
    path = slerp(start, end, torch.linspace(0.0, 1.0, steps)).reshape(rows * steps, *model.latent_shape)
    labels = _labels(model, rows, generator)
    labels = None if labels is None else labels.repeat_interleave(steps)
    return to_uint8(_generate(model, path, labels))


@torch.no_grad()
def label_grid(model: GenerativeModel, *, columns: int, seed: int) -> np.ndarray:
    """uint8 images (num_labels * columns, C, H, W): row = label (class or code value), column = one latent
    shared by the whole column, so a column shows one style across labels."""
    generator = torch.Generator().manual_seed(seed)
    n_labels = model.num_label_values()
    z = _latents(model, columns, generator).repeat(n_labels, *[1] * len(model.latent_shape))
    labels = torch.arange(n_labels).repeat_interleave(columns)
    return to_uint8(_generate(model, z, labels))


def _generate(model: GenerativeModel, z: torch.Tensor, labels: torch.Tensor | None, batch: int = 256) -> torch.Tensor:
    device = model.device
    out = [model.generate(z[i:i + batch].to(device), None if labels is None else labels[i:i + batch].to(device))
           for i in range(0, len(z), batch)]
    return torch.cat(out).cpu()


def run_walks(model: GenerativeModel, out_dir: Path, *, rows: int = 8, steps: int = 10, seed: int = 0) -> list[Path]:
    """Write ``interpolation.png`` (and ``labels.png`` for conditional / InfoGAN models) into ``out_dir``."""
    model.eval()
    written = [out_dir / "interpolation.png"]
    save_grid(interpolation_grid(model, rows=rows, steps=steps, seed=seed), written[0], nrow=steps)
    if model.label_kind:
        written.append(out_dir / "labels.png")
        save_grid(label_grid(model, columns=steps, seed=seed), written[1], nrow=steps)
    return written


def run_walks_job(job: ExperimentJob) -> dict:
    set_threads(job.threads)
    checkpoint = job.inputs["checkpoint"]
    model, run_cfg = load_for_sampling(checkpoint, resolve_device(job.device))
    written = run_walks(model, job.out.parent, seed=run_cfg.seed)
    record = {**run_identity(checkpoint, run_cfg), "figures": [path.name for path in written],
              "interpolation": "slerp (White 2016)", "label_kind": model.label_kind}
    write_json(job.out, record)
    return record


EXPERIMENTS.add("walks", Experiment(
    config=WalksConfig, run=run_walks_job, inputs=("checkpoint",), applies_to=lambda cls: cls.has_latents(),
    requirement="a family with a latent space", mem_mb=1000,
    summary=lambda record: f"walks of {record['preset']} on {record['dataset']}: {', '.join(record['figures'])}"))

"""StyleGAN's two analyses of its own generator (Karras et al. 2019, https://arxiv.org/abs/1812.04948): style
mixing (sec. 3.1, Figure 3) and stochastic variation (sec. 3.2, Figure 4).

Style ranges. The paper's 1024x1024 generator has 18 style inputs, two per resolution from 4x4 to 1024x1024;
Figure 3 copies source B's styles into source A at the coarse (4x4-8x8), middle (16x16-32x32) or fine
(64x64-1024x1024) inputs. A 28x28 generator here has six, two per map side 7, 14 and 28
(``SynthesisNetwork.sides``), so ``style_ranges`` maps coarse to the 7x7 block (layers 0-1), middle to the 14x14
block (2-3) and fine to the 28x28 block (4-5). At other sizes coarse is the first block, fine the last and
middle the blocks between.

Truncation is off (psi 1) throughout: w = f(z), as in both figures of the paper.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from genbench.config import bounded
from genbench.device import resolve_device, set_threads
from genbench.errors import ConfigError
from genbench.experiments.base import EXPERIMENTS, Experiment, ExperimentJob, run_identity
from genbench.images import save_grid, to_uint8
from genbench.io import write_json
from genbench.models import GenerativeModel
from genbench.train.checkpoint import load_for_sampling

__all__ = ["StyleGANFiguresConfig", "run_stylegan_figures_job", "style_ranges", "draw_ws", "shared_noise",
           "style_mixing_grid", "stochastic_variation", "mixing_change",
           "noise_std_summary", "mixing_figure", "variation_figure"]


@dataclass(frozen=True)
class StyleGANFiguresConfig:
    """StyleGAN's style-mixing grid (Figure 3) and stochastic variation (Figure 4) of the named stylegan presets;
    psi 1."""

    presets: tuple[str, ...] = bounded((), unique=True)
    # sources A (rows per style range) and B (columns) of the mixing grid, Figure 3's five B's
    sources: int = bounded(5, ge=1)
    latents: int = bounded(4, ge=1)  # w's of the stochastic-variation figure
    draws: int = bounded(100, ge=2)  # noise draws per w: Figure 4 (c)'s std is over 100 realisations
    shown: int = bounded(6, ge=1)  # draws shown per w beside its std map

    def __post_init__(self) -> None:
        if self.shown > self.draws:
            raise ConfigError(f"key 'experiments.stylegan_figures.shown' ({self.shown}) must be <= draws "
                              f"({self.draws})")


GREY = 127.5  # [-1, 1] -> grey levels (0-255): the records' unit
FOREGROUND = -0.5  # a pixel is foreground where its mean image is brighter than a quarter grey (64 of 255)


def style_ranges(model: GenerativeModel) -> dict[str, tuple[int, ...]]:
    """``{"coarse": layers, "middle": layers, "fine": layers}``: the style inputs (synthesis layers) of each range."""
    sides = model.generator.synthesis.sides
    levels = sorted(set(sides))
    if len(levels) < 3:
        raise ValueError(f"stylegan: style mixing needs at least three resolutions, this generator has {levels}")

    def layers(keep) -> tuple[int, ...]:
        return tuple(i for i, side in enumerate(sides) if keep(side))

    return {"coarse": layers(lambda s: s == levels[0]), "middle": layers(lambda s: levels[0] < s < levels[-1]),
            "fine": layers(lambda s: s == levels[-1])}


@torch.no_grad()
def draw_ws(model: GenerativeModel, n: int, *, generator: torch.Generator) -> torch.Tensor:
    """``n`` untruncated w = f(z) (N, w_dim), z from the CPU ``generator`` as ``sample`` draws it."""
    return model.generator.mapping(model.draw_latents(n, generator=generator))


def shared_noise(model: GenerativeModel, n: int, *, generator: torch.Generator) -> list[torch.Tensor]:
    """One noise draw (a map per layer) repeated for ``n`` images, so that images differ by their styles alone."""
    return [noise.expand(n, -1, -1, -1) for noise in model.generator.noise(1, generator, model.device)]


def _synthesise(model: GenerativeModel, ws: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
    """Images in [-1, 1] from per-layer ``ws`` (N, num_ws, w_dim): the path ``sample`` takes after the mapping."""
    return model.generator.synthesis(ws, noise).clamp(-1.0, 1.0)


@torch.no_grad()
def style_mixing_grid(model: GenerativeModel, sources_a: torch.Tensor, sources_b: torch.Tensor,
                      ranges: Sequence[Sequence[int]], *, noise_seed: int = 0) -> torch.Tensor:
    """(len(ranges), n_a, n_b, C, H, W) images in [-1, 1]: cell [r, i, j] is source A_i (w, (n_a, w_dim)) with
    B_j's w at the layers of ``ranges[r]`` and A_i's at all others. Every image has the same noise: an empty range
    gives A_i, a range of all layers B_j."""
    num_ws = model.generator.synthesis.num_ws
    n_a, n_b = len(sources_a), len(sources_b)
    noise = shared_noise(model, n_a * n_b, generator=torch.Generator().manual_seed(noise_seed))
    out = []
    for layers in ranges:
        from_b = torch.zeros(num_ws, dtype=torch.bool, device=sources_a.device)
        from_b[list(layers)] = True
        ws = torch.where(from_b[:, None], sources_b[None, :, None, :], sources_a[:, None, None, :])
        images = _synthesise(model, ws.reshape(n_a * n_b, num_ws, -1), noise)
        out.append(images.reshape(n_a, n_b, *images.shape[1:]))
    return torch.stack(out)


@torch.no_grad()
def stochastic_variation(model: GenerativeModel, w: torch.Tensor, draws: int, *,
                         generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each w of ``w`` (N, w_dim) at every layer with ``draws`` fresh noise draws: images (N, draws, C, H, W) in
    [-1, 1] and their per-pixel standard deviation over the draws (N, C, H, W), Figure 4 (c)."""
    num_ws = model.generator.synthesis.num_ws
    images = []
    for row in w:
        ws = row.expand(draws, num_ws, -1)
        images.append(_synthesise(model, ws, model.generator.noise(draws, generator, model.device)))
    images = torch.stack(images)
    return images, images.std(dim=1)


def mixing_change(mixed: torch.Tensor, images_a: torch.Tensor) -> list[float]:
    """Per range, the mean |mixed - A| over pixels and pairs, in grey levels: how far B's styles move A."""
    return [float((block - images_a[:, None]).abs().mean() * GREY) for block in mixed]


def noise_std_summary(images: torch.Tensor, std: torch.Tensor) -> dict[str, float]:
    """Mean per-pixel std over noise draws, in grey levels: all pixels, foreground and background (by the
    mean image over the draws, ``FOREGROUND``), and the largest."""
    foreground = images.mean(dim=1) > FOREGROUND
    return {"mean_std": float(std.mean() * GREY), "max_std": float(std.max() * GREY),
            "foreground_std": float(std[foreground].mean() * GREY) if foreground.any() else float("nan"),
            "background_std": float(std[~foreground].mean() * GREY) if (~foreground).any() else float("nan"),
            "foreground_fraction": float(foreground.float().mean())}


def mixing_figure(images_a: torch.Tensor, images_b: torch.Tensor, mixed: torch.Tensor) -> np.ndarray:
    """uint8 tiles, n_b + 1 a row: a blank and the B sources, then per range a row per A: A, then A with each B's
    styles in that range (Figure 3's layout, one block of rows per range)."""
    blank = torch.full_like(images_a[:1], -1.0)
    rows = [torch.cat([blank, images_b])]
    rows += [torch.cat([a[None], block[i]]) for block in mixed for i, a in enumerate(images_a)]
    return to_uint8(torch.cat(rows).cpu())


def variation_figure(images: torch.Tensor, std: torch.Tensor, *, shown: int) -> tuple[np.ndarray, float]:
    """uint8 tiles, shown + 1 a row: per w its first ``shown`` draws and its std map, white at the figure's
    largest std (returned, in grey levels), as Figure 4 (b) and (c)."""
    largest = float(std.max())
    maps = (std / (largest or 1.0) * 2.0 - 1.0)[:, None]  # no noise (B = 0): black maps
    return to_uint8(torch.cat([images[:, :shown], maps], dim=1).flatten(0, 1).cpu()), largest * GREY



def run_stylegan_figures_job(job: ExperimentJob) -> dict:
    """Figure 3 (``style_mixing.png``) and Figure 4 (``stochastic_variation.png``) from seeded w's, with how far
    each style range moves source A and how much the noise moves each pixel (grey levels, 0-255)."""
    set_threads(job.threads)
    checkpoint, settings = job.inputs["checkpoint"], job.config
    model, run_cfg = load_for_sampling(checkpoint, resolve_device(job.device))
    ranges = style_ranges(model)
    generator = torch.Generator().manual_seed(run_cfg.seed)
    w_a, w_b, w_noise = (draw_ws(model, n, generator=generator)
                         for n in (settings.sources, settings.sources, settings.latents))
    unmixed = style_mixing_grid(model, w_a, w_b, [(), tuple(range(model.generator.synthesis.num_ws))],
                                noise_seed=run_cfg.seed)
    images_a, images_b = unmixed[0][:, 0], unmixed[1][0]
    mixed = style_mixing_grid(model, w_a, w_b, list(ranges.values()), noise_seed=run_cfg.seed)
    save_grid(mixing_figure(images_a, images_b, mixed), job.out.parent / "style_mixing.png",
              nrow=settings.sources + 1)
    images, std = stochastic_variation(model, w_noise, settings.draws, generator=generator)
    tiles, std_scale = variation_figure(images, std, shown=settings.shown)
    save_grid(tiles, job.out.parent / "stochastic_variation.png", nrow=settings.shown + 1)
    change = mixing_change(mixed, images_a)
    record = {**run_identity(checkpoint, run_cfg), "psi": 1.0, "sources": settings.sources,
              "latents": settings.latents, "draws": settings.draws, "shown": settings.shown,
              "ranges": [{"name": name, "layers": list(layers), "mean_abs_change": value,
                          "sides": sorted({model.generator.synthesis.sides[i] for i in layers})}
                         for (name, layers), value in zip(ranges.items(), change)],  # a list: the figure's order
              "mean_abs_a_to_b": mixing_change(unmixed[1:], images_a)[0],
              "noise": {**noise_std_summary(images, std), "figure_white_at": std_scale},
              "units": "grey levels (0-255)", "foreground": "mean image over the draws above 64 of 255",
              "figures": ["style_mixing.png", "stochastic_variation.png"]}
    write_json(job.out, record)
    return record


EXPERIMENTS.add("stylegan_figures", Experiment(
    config=StyleGANFiguresConfig, run=run_stylegan_figures_job, inputs=("checkpoint",),
    applies_to=lambda cls: cls.family == "stylegan",
    requirement="a stylegan preset (style mixing and noise inputs are StyleGAN's)", mem_mb=1000))

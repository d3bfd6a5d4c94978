"""The contract every model family implements.

The family owns its optimisation step (a GAN alternates D and G, a VAE takes one ELBO step, a diffusion
model one denoising step), so the training loop in ``genbench.train`` stays generic. Images cross this
boundary as float tensors in [-1, 1] of shape (N, C, H, W); labels as int64 (N,).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from genbench.config import ConfigError, SamplerConfig, TrainConfig


@dataclass(frozen=True)
class ImageSpec:
    """What a family needs to know about the data it models."""

    channels: int
    height: int
    width: int
    num_classes: int


class GenerativeModel(nn.Module):
    """Base class of a family. Subclasses set ``family`` and ``Config`` and implement the methods below.

    - ``Config``: a frozen dataclass of the family's hyperparameters (the preset's ``model:`` section);
      its defaults are the paper's settings.
    - ``__init__(cfg, image)``: build the networks for ``image`` (an ``ImageSpec``).
    - ``configure_optimizers(train)``: the optimisers by name (names are stable: they key the checkpoint).
    - ``train_step(images, labels, optimizers)``: one optimisation step; returns scalar losses by name.
    - ``sample(n, generator=..., sampler=..., labels=None)``: images in [-1, 1]; called in eval mode under
      ``torch.no_grad()``. Deterministic given ``generator``.
    - ``sampling_module()``: the sub-module whose exponential moving average (if enabled) is used to sample.
    - ``network_evaluations(sampler)``: network forward passes per image with that sampler (1 for one-shot).
    """

    family: ClassVar[str]
    Config: ClassVar[type]
    #: sampler algorithms this family accepts in a preset's ``samplers:`` section
    sampler_algos: ClassVar[tuple[str, ...]] = ("direct",)

    def __init__(self, cfg: Any, image: ImageSpec) -> None:
        super().__init__()
        self.cfg = cfg
        self.image = image

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        raise NotImplementedError

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def sampling_module(self) -> nn.Module:
        return self

    def network_evaluations(self, sampler: SamplerConfig) -> int:
        """Forward passes of the network per generated image (NFE), the sampling-cost unit of diffusion papers."""
        return 1

    @classmethod
    def check_sampler(cls, sampler: SamplerConfig, *, source: str, cfg: Any = None) -> None:
        """Reject a sampler setting this family cannot use; ``cfg`` (the family Config) allows finer checks."""
        if sampler.algo not in cls.sampler_algos:
            raise ConfigError(f"{source}: family '{cls.family}' cannot use sampler algo '{sampler.algo}' "
                              f"(valid: {', '.join(cls.sampler_algos)})")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

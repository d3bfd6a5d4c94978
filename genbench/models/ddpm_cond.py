"""Class-conditional DDPM with classifier-free guidance: Ho & Salimans 2022, "Classifier-Free Diffusion Guidance"
(https://arxiv.org/abs/2207.12598).

One UNet learns both eps(x_t, y) and the unconditional eps(x_t, null): in training each label is replaced by
the null label with probability ``label_dropout`` (the paper's p_uncond, sec. 3.2 and Algorithm 1). Sampling
(Algorithm 2) mixes the two, eps = eps(x_t, null) + s (eps(x_t, y) - eps(x_t, null)) with s the sampler's
``guidance``; the paper writes (1 + w) eps(x_t, y) - w eps(x_t, null), so its w is s - 1. Any s other than
0 or 1 costs two network evaluations per step (one batch of twice the size).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from genbench.config.parse import bounded
from genbench.config import SamplerConfig
from genbench.models import FAMILIES
from genbench.models.base import ImageSpec
from genbench.models.ddpm import DDPM
from genbench.models.ddpm import Config as DDPMConfig
from genbench.models.layers import balanced_labels


Condition = torch.Tensor | tuple[torch.Tensor, ...]  # a label or vector batch, or several (t2i: pooled, tokens, mask)


def classifier_free_guidance(predict: Callable[[torch.Tensor, int, Condition], torch.Tensor],
                             condition: Condition, null: Condition,
                             scale: float) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """(x_t, t) -> eps(x_t, null) + scale (eps(x_t, condition) - eps(x_t, null)), from ``predict(x, t, c)``.
    Scales 0 and 1 need one of the two only (one evaluation); others run both as one doubled batch."""
    if scale in (0.0, 1.0):
        only = condition if scale == 1.0 else null
        return lambda x, t: predict(x, t, only)
    both = (tuple(torch.cat(pair) for pair in zip(condition, null)) if isinstance(condition, tuple)
            else torch.cat([condition, null]))

    def guided(x: torch.Tensor, t: int) -> torch.Tensor:
        conditional, unconditional = predict(torch.cat([x, x]), t, both).chunk(2)
        return unconditional + scale * (conditional - unconditional)

    return guided


@dataclass(frozen=True)
class Config(DDPMConfig):
    """The DDPM UNet plus a learned embedding of num_classes + 1 labels (the last is "no label")."""

    # p_uncond; the paper found 0.1-0.2 best (Table 1). > 0: 0 would never train the unconditional model that
    # guidance needs.
    label_dropout: float = bounded(0.1, gt=0, lt=1)


@FAMILIES.register("ddpm_cond")
class ConditionalDDPM(DDPM):
    family = "ddpm_cond"
    Config = Config
    likelihood_estimators = ()  # log p(x | y) is not the unconditional likelihood the others report
    label_kind = "class"
    sampler_options = frozenset({"guidance"})

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image, num_labels=image.num_classes + 1)
        self.null_label = image.num_classes

    def training_labels(self, labels: torch.Tensor) -> torch.Tensor:
        dropped = torch.rand(labels.shape, device=labels.device) < self.cfg.label_dropout
        return labels.masked_fill(dropped, self.null_label)

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images of classes ``labels`` (a balanced sequence when None, as cgan does)."""
        if labels is None:
            labels = balanced_labels(n, self.image.num_classes, self.device)
        return super().sample(n, generator=generator, sampler=sampler, labels=labels)

    def noise_estimator(self, sampler: SamplerConfig,
                        labels: torch.Tensor | None) -> Callable[[torch.Tensor, int], torch.Tensor]:
        if labels is None:
            raise ValueError("ddpm_cond: the noise estimate needs the labels to draw")
        return classifier_free_guidance(self.predict_noise, labels, torch.full_like(labels, self.null_label),
                                        sampler.guidance)

    def network_evaluations(self, sampler: SamplerConfig) -> int:
        per_step = 1 if sampler.guidance in (0.0, 1.0) else 2
        return per_step * super().network_evaluations(sampler)

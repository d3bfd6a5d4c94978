"""The contract every model family implements.

The family owns its optimisation step (a GAN alternates D and G, a VAE takes one ELBO step, a diffusion
model one denoising step), so the training loop in ``genbench.train`` stays generic. Images cross this
boundary as float tensors in [-1, 1] of shape (N, C, H, W); labels as int64 (N,).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from torch import nn

from genbench.config import LikelihoodConfig, SamplerConfig, TrainConfig
from genbench.errors import ConfigError
from genbench.models.layers import cpu_randn


#: SamplerConfig knobs that only some families honour (listed in their ``sampler_options``)
SAMPLER_OPTIONS = ("psi", "truncation", "guidance", "temperature", "stage")


def to_model_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1] (``x / 127.5 - 1``)."""
    return images_uint8.float().div_(127.5).sub_(1.0)


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

    ``label_kind`` says what ``labels`` in ``sample`` mean: ``""`` (ignored), ``"class"`` (a conditional
    model: the class to draw) or ``"code"`` (InfoGAN: the categorical latent code). The sample job then
    passes a balanced ``arange(n) % num_label_values()`` and stores the labels beside the images, so that
    evaluation can measure class (or best code-to-class) accuracy with the domain classifier.
    ``sampler_options`` are the non-default ``SamplerConfig`` knobs (``psi``, ``truncation``, ``guidance``) a
    family honours.

    Optional, for the latent-space experiments (``genbench.experiments``): a one-shot generator implements
    ``latent_shape`` and ``generate(z, labels)`` (``sample`` then is ``generate`` of drawn latents), and a
    GAN implements ``discriminator_features(images)``. ``has_latents()`` / ``has_discriminator()`` tell
    whether a family does.
    """

    family: ClassVar[str]
    Config: ClassVar[type]
    #: sampler algorithms this family accepts in a preset's ``samplers:`` section
    sampler_algos: ClassVar[tuple[str, ...]] = ("direct",)
    #: what kind of generator, for the report's grouping: "gan", "vae", "autoregressive", "flow", "diffusion",
    #: "translation" (or "" for none of these)
    kind: ClassVar[str] = ""
    #: what ``labels`` of ``sample`` mean: "" (nothing), "class" or "code" (see above)
    label_kind: ClassVar[str] = ""
    #: SamplerConfig fields besides algo/steps/eta that this family honours when set off their default
    sampler_options: ClassVar[frozenset[str]] = frozenset()
    #: whether oneDNN runs this family's convolutions faster in NHWC (channels_last) on a CPU, so that training
    #: and sampling there use that layout (on CUDA the ``cuda.channels_last`` key decides). Measured per family,
    #: one CPU thread, train step at the default profile's size, A/B interleaved on an idle machine: DCGAN 1.15x,
    #: VAE 1.15x; the DDPM UNet even in training and sampling (+-5 %), ProGAN 0.74x, t2i 0.93x (issue 22).
    cpu_channels_last: ClassVar[bool] = False

    def __init__(self, cfg: Any, image: ImageSpec) -> None:
        super().__init__()
        self.cfg = cfg
        self.image = image

    #: the arrays of a prepared dataset's split the family trains on (see ``training_tensors``)
    training_arrays: ClassVar[tuple[str, ...]] = ("images", "labels")

    def training_tensors(self, arrays: Mapping[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """The two tensors whose rows ``train_step`` gets batch by batch: images in [-1, 1] and labels."""
        return to_model_range(torch.from_numpy(arrays["images"])), torch.from_numpy(arrays["labels"])

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

    @classmethod
    def pinned_weights(cls, model_cfg: Mapping[str, Any]) -> tuple[str, ...]:
        """The pinned weight files (``genbench fetch-weights`` names) the train job of a preset with this
        ``model:`` section loads in ``prepare``: t2i "text-encoder", SRGAN "vgg16". None by default."""
        return ()

    def prepare(self, class_names: tuple[str, ...]) -> None:
        """Called once by the train job before training, with the dataset's class names: a family that needs
        more than images and labels (t2i: caption embeddings) gets it here. Nothing by default."""

    def training_state(self) -> dict[str, Any]:
        """State outside ``state_dict`` that training depends on (CycleGAN's image pools), for exact resume
        (genbench.train.resume): tensors and primitives only; empty by default."""
        return {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what ``training_state`` returned."""

    def training_diagnostics(self) -> dict[str, Any]:
        """JSON-ready facts about the trained networks that the train job adds to train_summary.json, so the
        report reads them without loading a checkpoint (the Wasserstein critics' weight histograms). None by
        default."""
        return {}

    def label_captions(self, labels: torch.Tensor) -> list[str] | None:
        """What each label asked ``sample`` for, in words (t2i: the caption), or None."""
        return None

    #: shape of one image's latent for ``generate``; None for families without one (diffusion)
    latent_shape: tuple[int, ...] | None = None

    def draw_latents(self, n: int, *, generator: torch.Generator) -> torch.Tensor:
        """``n`` latents from the prior ``sample`` uses (standard normal unless a family overrides this),
        drawn with the CPU ``generator`` and moved to the model's device."""
        return cpu_randn(n, *self.latent_shape, generator=generator, device=self.device)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [-1, 1] from latents ``z`` (N, *latent_shape), differentiable in ``z``; ``labels`` as in
        ``sample``. The latents are those ``draw_latents`` draws."""
        raise NotImplementedError(f"family '{self.family}' has no latent-space generator")

    def discriminator_features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, F) features of images in [-1, 1] from the discriminator's body (before its output layer)."""
        raise NotImplementedError(f"family '{self.family}' has no discriminator")

    #: the likelihood estimates ``negative_log_likelihood`` returns, tightest first (the report's bits/dim column
    #: shows the first): "nll" (exact: PixelCNN; a flow's by dequantisation), "iwae" and "elbo" (VAE), "vlb" (DDPM)
    likelihood_estimators: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check_likelihood(cls, cfg: Any, *, source: str) -> None:
        """Reject a likelihood evaluation of this family (with model config ``cfg``) that cannot be made."""
        if not cls.likelihood_estimators:
            raise ConfigError(f"{source}: family '{cls.family}' has no likelihood (genbench list names those "
                              "that have); remove it from likelihood.presets")

    def negative_log_likelihood(self, images: torch.Tensor, *, generator: torch.Generator,
                                settings: LikelihoodConfig) -> dict[str, torch.Tensor]:
        """Per-image negative log-likelihoods in nats of 8-bit ``images`` (uint8 (N, C, H, W) on the model's
        device): each estimate of ``likelihood_estimators`` as an (N,) tensor of -log P(x), P the probability of
        the discrete image (or an upper bound on -log P), so that / (D ln 2) is bits/dim
        (genbench.metrics.bits_per_dim); more entries may break an estimate into its terms. Random draws
        (latents, dequantisation noise, diffusion noise) come from the CPU ``generator``."""
        raise NotImplementedError(f"family '{self.family}' has no likelihood")

    def likelihood_protocol(self, settings: LikelihoodConfig) -> dict[str, str]:
        """How each entry of ``negative_log_likelihood`` is computed, in words, for the report."""
        return {}

    @classmethod
    def has_latents(cls) -> bool:
        return cls.generate is not GenerativeModel.generate

    @classmethod
    def has_discriminator(cls) -> bool:
        return cls.discriminator_features is not GenerativeModel.discriminator_features

    def num_label_values(self) -> int:
        """How many distinct labels ``sample`` takes (classes, or categories of the code)."""
        return self.image.num_classes

    def preview_sampler(self) -> SamplerConfig:
        """How the training job draws its grid of progress (``grid.png``): a cheap setting of the family's own,
        not one of the preset's, so that editing a sampler setting never re-runs training."""
        return SamplerConfig()

    def network_evaluations(self, sampler: SamplerConfig) -> int:
        """Forward passes of the network per generated image (NFE), the sampling-cost unit of diffusion papers."""
        return 1

    @classmethod
    def check_sampler(cls, sampler: SamplerConfig, *, source: str, cfg: Any = None) -> None:
        """Reject a sampler setting this family cannot use; ``cfg`` (the family Config) allows finer checks."""
        if sampler.algo not in cls.sampler_algos:
            raise ConfigError(f"{source}: family '{cls.family}' cannot use sampler algo '{sampler.algo}' "
                              f"(valid: {', '.join(cls.sampler_algos)})")
        defaults = SamplerConfig()
        for option in SAMPLER_OPTIONS:
            if getattr(sampler, option) != getattr(defaults, option) and option not in cls.sampler_options:
                supported = ", ".join(sorted(cls.sampler_options)) or "none"
                raise ConfigError(f"{source}: family '{cls.family}' has no sampler option '{option}' "
                                  f"(its options: {supported}); remove the key")
        if not 0.0 <= sampler.psi <= 1.0:
            raise ConfigError(f"{source}: key 'psi' must be in [0, 1] (1 = no truncation), got {sampler.psi}")
        if sampler.truncation < 0.0:
            raise ConfigError(f"{source}: key 'truncation' must be >= 0 (0 = off), got {sampler.truncation}")
        if sampler.temperature <= 0.0:
            raise ConfigError(f"{source}: key 'temperature' must be > 0 (1 = the model's own prior), "
                              f"got {sampler.temperature}")
        if sampler.guidance < 0.0:
            raise ConfigError(f"{source}: key 'guidance' must be >= 0 (1 = no guidance), got {sampler.guidance}")
        if sampler.n < 0:
            raise ConfigError(f"{source}: key 'n' must be >= 0 (0 = evaluation.n_fake), got {sampler.n}")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

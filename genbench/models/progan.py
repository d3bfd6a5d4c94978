"""ProGAN: Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs for Improved Quality, Stability,
and Variation" (https://arxiv.org/abs/1710.10196).

Paper -> code: G = ``generator``, D = ``discriminator`` (``progressive_layers.ProgressiveDiscriminator``, shared
with StyleGAN), the level of detail = ``level`` (0 = the start x start map, e.g. 7x7 for 28x28 images),
the fade-in weight alpha = ``alpha``. Both networks hold every level from the start; a level's layers take
part once training reaches it. The model owns its growth schedule: ``configure_optimizers`` learns the
number of steps, the buffer ``step`` counts ``train_step`` calls, so a checkpoint carries the stage.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from genbench.config.parse import bounded
from genbench.config import SamplerConfig, TrainConfig
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec
from genbench.models.layers import latent_normal
from genbench.models.losses import descend, gradient_penalty
from genbench.models.progressive_layers import (EqualizedConv2d, EqualizedLinear, ProgressiveDiscriminator,
                                                level_plan, lrelu, pixel_norm, rgb_output)


@dataclass(frozen=True)
class Config:
    latent_dim: int = bounded(512, ge=1)  # sec. 4.2 / Table 2: a 512-d latent, normalised to the unit hypersphere
    base_channels: int = bounded(512, ge=1)  # width at the highest resolution, doubling per halving up to max_channels
    max_channels: int = bounded(512, ge=1)  # Table 2: 512 feature maps at every level up to 32x32
    gp_lambda: float = bounded(10.0, ge=0)  # appendix A.1: WGAN-GP with lambda = 10
    drift: float = bounded(0.001, ge=0)  # appendix A.1: epsilon_drift E[D(x)^2] keeps D's output near zero
    tanh_output: bool = False  # the paper's toRGB is linear; True for short runs (progressive_layers.rgb_output)
    mbstd_group: int = bounded(4, ge=1)  # sec. 3: minibatch-std group size (the official code's default)


def growth_stage(step: int, total_steps: int, top_level: int) -> tuple[int, float]:
    """(level, alpha) for the train step after ``step`` completed ones (appendix A.1, in steps, not images):
    the run is cut into 2 * top_level + 1 equal phases, stabilise level 0, then per level a fade-in (alpha
    linear from 0 to 1) and a stabilisation (alpha 1). The last phase takes the remainder and any extra steps."""
    phases = 2 * top_level + 1
    phase_len = max(total_steps // phases, 1)
    phase = min(step // phase_len, phases - 1)
    alpha = (step - phase * phase_len) / phase_len if phase % 2 == 1 else 1.0
    return (phase + 1) // 2, alpha


class UpBlock(nn.Module):
    """G's block per resolution (Table 2): 2x nearest-neighbour upsampling (fused into the first conv), then twice
    conv 3x3 -> leaky ReLU -> pixel norm (sec. 4.2: pixel norm after every conv of G)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3, resample="up")
        self.conv2 = EqualizedConv2d(out_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(lrelu(self.conv2(pixel_norm(lrelu(self.conv1(x))))))


class ProgressiveGenerator(nn.Module):
    """G (Table 2): z -> dense to a start x start map -> conv 3x3, then an ``UpBlock`` per level, each level
    with its own linear 1x1 toRGB. While a level fades in, its toRGB output is blended with the upsampled
    toRGB of the level below (Figure 2 (b))."""

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__()
        self.start, widths = level_plan(image, cfg, "progan")
        self.dense = EqualizedLinear(cfg.latent_dim, widths[0] * self.start ** 2)
        self.conv = EqualizedConv2d(widths[0], widths[0], 3)
        self.blocks = nn.ModuleList(UpBlock(a, b) for a, b in zip(widths, widths[1:]))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(w, image.channels, 1, gain=1.0) for w in widths)
        self.tanh_output = cfg.tanh_output

    def forward(self, z: torch.Tensor, level: int, alpha: float = 1.0) -> torch.Tensor:
        x = self.dense(pixel_norm(z)).reshape(z.shape[0], -1, self.start, self.start)
        x = pixel_norm(lrelu(self.conv(pixel_norm(lrelu(x)))))
        for block in self.blocks[:max(level - 1, 0)]:
            x = block(x)
        if level == 0:
            return rgb_output(self.to_rgb[0](x), tanh=self.tanh_output)
        out = self.to_rgb[level](self.blocks[level - 1](x))
        if alpha < 1.0:
            out = torch.lerp(F.interpolate(self.to_rgb[level - 1](x), scale_factor=2, mode="nearest"), out, alpha)
        return rgb_output(out, tanh=self.tanh_output)


def downsample_reals(images: torch.Tensor, levels_down: int, alpha: float) -> torch.Tensor:
    """Reals at the training resolution: 2**levels_down box downsampling; during a fade-in blended with their
    half-resolution version upsampled back, so that D sees reals and fakes made alike (the official code)."""
    x = F.avg_pool2d(images, 2 ** levels_down) if levels_down else images
    if alpha < 1.0:
        x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, alpha)
    return x


@FAMILIES.register("progan")
class ProGAN(GenerativeModel):
    """Progressively grown G and D, WGAN-GP loss with the drift term, n_critic = 1 (appendix A.1)."""

    family = "progan"
    kind = "gan"
    Config = Config
    sampler_options = frozenset({"truncation"})

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        self.generator = ProgressiveGenerator(cfg, image)
        self.discriminator = ProgressiveDiscriminator(image, cfg, self.family)
        self.top_level = self.discriminator.top_level
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        self.register_buffer("total_steps", torch.zeros((), dtype=torch.int64))

    def stage(self) -> tuple[int, float]:
        """(level, alpha) of the next train step; after training, the stage the model ended at."""
        return growth_stage(int(self.step), int(self.total_steps), self.top_level)

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        self.total_steps.fill_(train.steps)

        # Appendix A.1: Adam with lr 0.001, beta1 0, beta2 0.99 (the preset's lr and betas), eps 1e-8 (torch's).
        def adam(net: nn.Module) -> torch.optim.Optimizer:
            return torch.optim.Adam(net.parameters(), lr=train.lr, betas=train.betas, weight_decay=train.weight_decay)

        return {"generator": adam(self.generator), "discriminator": adam(self.discriminator)}

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        if int(self.total_steps) == 0:
            raise RuntimeError("progan: call configure_optimizers(train) before train_step: it sets the growth "
                               "schedule")
        level, alpha = self.stage()
        reals = downsample_reals(images, self.top_level - level, alpha)
        critic = partial(self.discriminator, stage=level, alpha=alpha)
        fake = self.generator(torch.randn(images.shape[0], self.cfg.latent_dim, device=images.device), level, alpha)

        # D minimises the WGAN-GP loss D(G(z)) - D(x) + lambda GP (Gulrajani et al. 2017, Algorithm 1) plus the
        # drift term eps_drift D(x)^2 (appendix A.1); one D step per G step. Reals and fakes in separate
        # batches: minibatch std must not mix them in one group.
        real_scores = critic(reals)
        fake_scores = critic(fake.detach())
        gp = gradient_penalty(critic, reals, fake)
        loss_d = (fake_scores.mean() - real_scores.mean() + self.cfg.gp_lambda * gp
                  + self.cfg.drift * real_scores.pow(2).mean())
        descend(optimizers["discriminator"], loss_d)
        loss_g = -critic(fake).mean()
        descend(optimizers["generator"], loss_g)

        self.step += 1
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "gp": gp.item(),
                "wasserstein": (real_scores.mean() - fake_scores.mean()).item(),
                "alpha": float(alpha), "resolution": float(reals.shape[-1])}

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        z = latent_normal(n, self.cfg.latent_dim, truncation=sampler.truncation, generator=generator,
                          device=self.device)
        return self.generate(z)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.cfg.latent_dim,)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) at the stage training ended at: the final resolution once the run has grown to it."""
        level, alpha = self.stage()
        x = self.generator(z, level, alpha)
        if level < self.top_level:  # stopped before the last stage: nearest-neighbour up to the full size
            x = F.interpolate(x, size=(self.image.height, self.image.width), mode="nearest")
        return x.clamp(-1.0, 1.0)

    def sampling_module(self) -> nn.Module:
        return self.generator

"""StyleGAN: Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative Adversarial
Networks" (https://arxiv.org/abs/1812.04948).

Paper -> code: f = ``mapping`` (z -> w, sec. 2), g = ``synthesis``, A = ``SynthesisLayer.style`` (the learned
affine of w), B = ``SynthesisLayer.noise_scale`` (per-channel noise scales), the learned constant = ``synthesis.const``,
w-bar = the buffer ``w_avg``. The loss is the non-saturating logistic loss with the R1 penalty, gamma = 10
(appendix C). D is ProGAN's, a plain (DCGAN-like) conv stack with minibatch std, shared with ``progan`` in
``progressive_layers``: it is the paper's own choice (appendix C), and StyleGAN2's residual D pays off at high
resolutions (Karras et al. 2020, sec. 4.1), not across the two halvings of a 28x28 image.

Unlike the paper, which grows both networks progressively as ProGAN does (appendix C), the networks here
train at full resolution from the first step, as StyleGAN2 does (Karras et al. 2020, sec. 4): 28x28 needs
only two doublings, and the ``progan`` family is the benchmark's progressive model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from genbench.config.parse import bounded
from genbench.config import SamplerConfig, TrainConfig
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec
from genbench.models.layers import cpu_randn
from genbench.models.losses import descend, discriminator_loss, generator_loss, r1_penalty
from genbench.models.progressive_layers import (EqualizedConv2d, EqualizedLinear, ProgressiveDiscriminator,
                                                level_plan, lrelu, pixel_norm, rgb_output)


@dataclass(frozen=True)
class Config:
    latent_dim: int = bounded(512, ge=1)  # z and w are both 512-d (sec. 2)
    w_dim: int = bounded(512, ge=1)
    mapping_layers: int = bounded(8, ge=1)  # sec. 2: an 8-layer MLP
    mapping_lr_mul: float = bounded(0.01, gt=0)  # appendix C: lambda' = 0.01 lambda in the mapping network
    # G and D width at the highest resolution, doubling per halving up to max_channels
    base_channels: int = bounded(512, ge=1)
    max_channels: int = bounded(512, ge=1)  # the official code's fmap_max: 512 at every level up to 32x32
    mixing_prob: float = bounded(0.9, ge=0, le=1)  # sec. 3.1: style mixing on 90% of the training images
    # the official code's dlatent_avg_beta (moving average of w for truncation)
    w_avg_decay: float = bounded(0.995, ge=0, le=1)
    r1_gamma: float = bounded(10.0, ge=0)  # appendix C: R1 with gamma = 10 (Mescheder et al. 2018)
    # R1 on every r1_every-th D step, weighted by r1_every: StyleGAN2's lazy regularisation (Karras et al.
    # 2020, sec. 3.1), which saves most of the double backward. 1 = every step, as in this paper.
    r1_every: int = bounded(1, ge=1)
    tanh_output: bool = False  # the paper's toRGB is linear; True for short runs (progressive_layers.rgb_output)
    mbstd_group: int = bounded(4, ge=1)  # D's minibatch-std group size (ProGAN sec. 3; the official code's default)


def adain(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """AdaIN (sec. 2, eq. 1): y_s,i (x_i - mu(x_i)) / sigma(x_i) + y_b,i per channel i of each image; ``scale``
    and ``bias`` are (N, C). Each feature map leaves with exactly the style's mean and standard deviation."""
    return scale[:, :, None, None] * F.instance_norm(x, eps=eps) + bias[:, :, None, None]


class MappingNetwork(nn.Module):
    """f: z -> w (sec. 2, Figure 1 (b)): z normalised to the unit hypersphere (pixel norm, as in ProGAN), then
    ``layers`` dense layers with leaky ReLU, each at a 100x lower learning rate."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        dims = [cfg.latent_dim] + [cfg.w_dim] * cfg.mapping_layers
        self.layers = nn.ModuleList(EqualizedLinear(a, b, lr_mul=cfg.mapping_lr_mul) for a, b in zip(dims, dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        w = pixel_norm(z)
        for layer in self.layers:
            w = lrelu(layer(w))
        return w


class SynthesisLayer(nn.Module):
    """One style input of g (Figure 1 (b)): [conv 3x3], + B * noise, + bias, leaky ReLU, AdaIN(style = A(w)).

    The noise is one (H, W) map per image shared by all channels, scaled per channel by B, which starts at 0
    (as in the official code) so that the networks first learn without it (sec. 3.2).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, *, conv: bool = True, up: bool = False) -> None:
        super().__init__()
        self.conv = EqualizedConv2d(in_channels, out_channels, 3, resample="up" if up else "") if conv else None
        self.noise_scale = nn.Parameter(torch.zeros(out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # A: y = (y_s, y_b); y_s = 1 + A_s(w) so that a fresh layer starts near the identity (official code).
        self.style = EqualizedLinear(w_dim, 2 * out_channels, gain=1.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)
        x = x + self.noise_scale[None, :, None, None] * noise
        x = lrelu(x + self.bias[None, :, None, None])
        y_s, y_b = self.style(w).chunk(2, dim=1)
        return adain(x, 1.0 + y_s, y_b)


class SynthesisNetwork(nn.Module):
    """g: a learned start x start constant, then per resolution two ``SynthesisLayer`` s, the first conv of every
    block above the first upsampling 2x, and a 1x1 toRGB.

    The upsampling is nearest neighbour, fused into the conv (ProGAN's, config A of Table 1), not the bilinear
    of config B: on a CPU the fused conv costs a third as much, and config B bundles bilinear sampling with
    other tuning, so its share of B's gain is not reported."""

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__()
        start, widths = level_plan(image, cfg, "stylegan")
        # StyleGAN2's N(0, 1) constant rather than StyleGAN's ones: instance norm of a constant map is 0 / sqrt(eps).
        self.const = nn.Parameter(torch.randn(widths[0], start, start))
        layers = [SynthesisLayer(widths[0], widths[0], cfg.w_dim, conv=False),
                  SynthesisLayer(widths[0], widths[0], cfg.w_dim)]
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [SynthesisLayer(w_in, w_out, cfg.w_dim, up=True), SynthesisLayer(w_out, w_out, cfg.w_dim)]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = EqualizedConv2d(widths[-1], image.channels, 1, gain=1.0)
        self.tanh_output = cfg.tanh_output
        self.sides = [start * 2 ** (i // 2) for i in range(len(layers))]  # the map side each layer works at

    @property
    def num_ws(self) -> int:
        return len(self.layers)

    def forward(self, ws: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        """``ws``: (N, num_ws, w_dim), one w per layer; ``noise``: one (N, 1, side, side) map per layer."""
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], noise[i])
        return rgb_output(self.to_rgb(x), tanh=self.tanh_output)


class StyleGenerator(nn.Module):
    """G = g(f(z)) plus the tracked mean w-bar of w (the centre of the truncation trick, sec. 3.3 / appendix B)."""

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__()
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg)
        self.synthesis = SynthesisNetwork(cfg, image)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def track_w_avg(self, w: torch.Tensor) -> None:
        with torch.no_grad():
            self.w_avg.lerp_(w.mean(dim=0), 1.0 - self.cfg.w_avg_decay)

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """Appendix B: w' = w-bar + psi (w - w-bar); psi 1 leaves w alone, psi 0 gives every image w-bar."""
        return torch.lerp(self.w_avg.expand_as(w), w, psi)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """The same w for every layer: (N, w_dim) -> (N, num_ws, w_dim)."""
        return w[:, None].expand(-1, self.synthesis.num_ws, -1)

    def mixed_ws(self, w1: torch.Tensor, w2: torch.Tensor, crossover: int) -> torch.Tensor:
        """Style mixing (sec. 3.1): layers before ``crossover`` take ``w1``, the rest ``w2``; (N, num_ws, w_dim)."""
        layer = torch.arange(self.synthesis.num_ws, device=w1.device)[None, :, None]
        return torch.where(layer < crossover, w1[:, None], w2[:, None])

    def noise(self, n: int, generator: torch.Generator | None, device: torch.device) -> list[torch.Tensor]:
        """Per-layer noise maps; from ``generator`` on the CPU when given, so that sampling is reproducible."""
        if generator is None:
            return [torch.randn(n, 1, s, s, device=device) for s in self.synthesis.sides]
        return [cpu_randn(n, 1, s, s, generator=generator, device=device) for s in self.synthesis.sides]


@FAMILIES.register("stylegan")
class StyleGAN(GenerativeModel):
    """StyleGAN generator and ProGAN discriminator, non-saturating logistic loss with R1 (appendix C)."""

    family = "stylegan"
    kind = "gan"
    Config = Config
    sampler_options = frozenset({"psi"})

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        self.generator = StyleGenerator(cfg, image)
        self.discriminator = ProgressiveDiscriminator(image, cfg, self.family)
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))  # train steps, for lazy R1

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        # Adam with the preset's lr and betas (the paper: 0.001, (0, 0.99), eps 1e-8 as in ProGAN appendix A.1);
        # the mapping network's 100x lower rate lives in its layers' lr_mul.
        def adam(net: nn.Module) -> torch.optim.Optimizer:
            return torch.optim.Adam(net.parameters(), lr=train.lr, betas=train.betas, weight_decay=train.weight_decay)

        return {"generator": adam(self.generator), "discriminator": adam(self.discriminator)}

    def training_ws(self, n: int, device: torch.device) -> torch.Tensor:
        """w per layer for a training batch: with probability ``mixing_prob`` a second z's w takes over at a
        crossover layer drawn uniformly from 1 .. num_ws - 1 (one per minibatch, as in the official code)."""
        g = self.generator
        w1 = g.mapping(torch.randn(n, self.cfg.latent_dim, device=device))
        g.track_w_avg(w1)
        if g.synthesis.num_ws > 1 and torch.rand(()) < self.cfg.mixing_prob:
            w2 = g.mapping(torch.randn(n, self.cfg.latent_dim, device=device))
            return g.mixed_ws(w1, w2, int(torch.randint(1, g.synthesis.num_ws, ())))
        return g.broadcast(w1)

    def training_fake(self, n: int, device: torch.device) -> torch.Tensor:
        """G(z) for a training batch: mixed styles and fresh noise, with G's graph kept."""
        return self.generator.synthesis(self.training_ws(n, device), self.generator.noise(n, None, device))

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        fake = self.training_fake(images.shape[0], images.device)

        # D: dcgan's non-saturating logistic loss (Goodfellow et al. 2014, eq. 1) plus gamma/2 E[||grad_x D(x)||^2]
        # on reals (Mescheder et al. 2018, eq. 9). Reals and fakes in separate batches: minibatch std must
        # not mix them in one group.
        with_r1 = int(self.step) % self.cfg.r1_every == 0
        reals = images.detach().requires_grad_(with_r1)
        real_scores = self.discriminator(reals)
        fake_scores = self.discriminator(fake.detach())
        # Lazy R1 weighs the penalty by r1_every; reported so, a log window's mean estimates E[R1] either way.
        r1 = r1_penalty(real_scores, reals) * self.cfg.r1_every if with_r1 else torch.zeros(())
        loss_d = discriminator_loss(real_scores, fake_scores) + 0.5 * self.cfg.r1_gamma * r1
        descend(optimizers["discriminator"], loss_d)
        loss_g = generator_loss(self.discriminator(fake))  # scored by the updated D
        descend(optimizers["generator"], loss_g)

        self.step += 1
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "r1": r1.item(),
                "d_real": torch.sigmoid(real_scores).mean().item(), "d_fake": torch.sigmoid(fake_scores).mean().item()}

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        g = self.generator
        z = cpu_randn(n, self.cfg.latent_dim, generator=generator, device=self.device)
        ws = g.broadcast(g.truncate(g.mapping(z), sampler.psi))
        return g.synthesis(ws, g.noise(n, generator, self.device)).clamp(-1.0, 1.0)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.cfg.latent_dim,)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z -> w (untruncated) -> images, with the per-pixel noise of a fixed seed, so that a latent walk
        shows what z (the style) changes and nothing else."""
        g = self.generator
        noise = g.noise(z.shape[0], torch.Generator().manual_seed(0), z.device)
        return g.synthesis(g.broadcast(g.mapping(z)), noise).clamp(-1.0, 1.0)

    def sampling_module(self) -> nn.Module:
        return self.generator

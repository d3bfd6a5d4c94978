"""WGAN-GP: Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville 2017, "Improved Training of Wasserstein GANs"
(https://arxiv.org/abs/1704.00028).

Paper -> code: G = ``generator``, the critic D = ``discriminator``, lambda = ``gp_weight``, n_critic =
``n_critic``, x~ = G(z) = ``fake``, x^ = the interpolates inside ``losses.gradient_penalty``. The networks
are DCGAN's (this class is ``dcgan.DCGAN`` with another critic and loss) except that the critic has no
batch norm: the penalty is taken per sample, and batch norm would make a sample's score depend on the rest
of its batch (sec. 4, "No critic batch normalization"). Sec. 4 recommends layer norm as the drop-in; it is
the default here, and ``critic_norm: none`` gives the plain critic of the reference code's gan_cifar.py.
Adam with lr 1e-4 and betas (0, 0.9) (Algorithm 1's defaults) is set in params/models/wgan_gp.yaml.

n_critic and the generic loop: one ``train_step`` is one generator iteration of Algorithm 1 (lines 1-12).
It splits its batch into ``n_critic`` chunks, a fresh real minibatch for each critic iteration (line 3),
then updates G once on as many latents as one chunk holds (line 11). So ``train.steps`` counts generator
iterations and ``train.batch_size`` is n_critic * m (the paper's m = 64: 320); every real image feeds
exactly one critic update, and the loop's "images/s" counts real images through the critic. Each costs a
critic forward on it and on a fake, the penalty's double backward and 1/n_critic of a generator update,
so images/s is below DCGAN's at equal width, and there are n_critic times fewer generator updates per image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from genbench.config.parse import bounded
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import ImageSpec
from genbench.models.dcgan import DCGAN
from genbench.models.gan_blocks import make_discriminator
from genbench.models.layers import init_normal_
from genbench.models.losses import descend, gradient_penalty

CriticNorm = Literal["layer", "none"]  # no batch norm: sec. 4


@dataclass(frozen=True)
class Config:
    latent_dim: int = 128  # the reference code's 128-d z
    base_channels: int = 64  # width at the highest resolution; doubles at every halving (dcgan.Config)
    n_critic: int = bounded(5, ge=1)  # Algorithm 1: critic iterations per generator iteration
    gp_weight: float = bounded(10.0, ge=0)  # lambda of eq. 3 and Algorithm 1
    critic_norm: CriticNorm = "layer"  # sec. 4: layer norm, batch norm's per-sample drop-in; or "none"


def layer_norm(channels: int) -> nn.GroupNorm:
    """Layer norm of a conv map (Ba et al. 2016): statistics over (C, H, W) of each sample, a scale and
    shift per channel, like the reference code's tflib Layernorm. GroupNorm with one group is exactly that."""
    return nn.GroupNorm(1, channels)


@FAMILIES.register("wgan_gp")
class WGANGP(DCGAN):
    """Unconditional WGAN with gradient penalty (Algorithm 1). Everything else is DCGAN's: G, its Adam
    pair, and sampling with its ``truncation`` option."""

    family = "wgan_gp"
    Config = Config

    def build_discriminator(self, image: ImageSpec) -> nn.Module:
        norm = layer_norm if self.cfg.critic_norm == "layer" else None
        return init_normal_(make_discriminator(self.cfg, image, norm=norm, family=self.family))

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        if images.shape[0] < self.cfg.n_critic:
            raise ConfigError(f"{self.family}: a batch of {images.shape[0]} images cannot feed model.n_critic = "
                              f"{self.cfg.n_critic} critic updates; set train.batch_size to n_critic * m "
                              f"(the paper: 5 * 64 = 320)")
        chunks = images.tensor_split(self.cfg.n_critic)  # Algorithm 1, line 3: a new real minibatch each time
        critic = [self.critic_step(real, optimizers["discriminator"]) for real in chunks]
        loss_g = self.generator_step(chunks[0].shape[0], optimizers["generator"])
        # Means over the n_critic critic iterations: a steadier estimate than the last one alone.
        means = {name: sum(step[name] for step in critic) / len(critic) for name in critic[0]}
        return means | {"loss_g": loss_g}

    def critic_step(self, real: torch.Tensor, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        """Algorithm 1, lines 4-9: one Adam step on L = D(x~) - D(x) + lambda (||grad D(x^)||_2 - 1)^2."""
        fake, wasserstein = self.critic_estimate(real)
        gp = gradient_penalty(self.discriminator, real, fake)
        loss = -wasserstein + self.cfg.gp_weight * gp
        descend(optimizer, loss)
        return {"loss_d": loss.item(), "wasserstein": wasserstein.item(), "gp": gp.item()}

    def critic_estimate(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x~ = G(z) for as many z as real images, and the critic's estimate of W(P_r, P_g) (eq. 2 here, eq. 3 of
        Arjovsky et al.): the mean score of the real minus that of the fake, differentiable in the critic only."""
        with torch.no_grad():  # the critic's step needs no gradient through G
            fake = self.generator(self.latents(real.shape[0], real.device))
        # Real and fake in one forward: with no batch statistics in the critic, a sample's score is the same
        # in any batch.
        real_scores, fake_scores = self.discriminator(torch.cat([real, fake])).split(real.shape[0])
        return fake, real_scores.mean() - fake_scores.mean()

    def generator_step(self, m: int, optimizer: torch.optim.Optimizer) -> float:
        """Algorithm 1, lines 11-12: one Adam step on -D(G(z)) over m fresh latents."""
        loss = -self.discriminator(self.generator(self.latents(m, self.device))).mean()
        descend(optimizer, loss)
        return loss.item()

    def latents(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randn(n, *self.latent_shape, device=device)

    def training_diagnostics(self) -> dict[str, Any]:
        return {"critic_weights": critic_weight_histogram(self.discriminator, clip=None)}


def critic_weight_histogram(critic: nn.Module, *, clip: float | None, bins: int = 60) -> dict[str, Any]:
    """Histogram of every critic parameter (weights, biases, norm scales: what weight clipping clamps), over
    [-max |w|, max |w|]: the Gulrajani et al. Fig. 1b view. ``fraction_at_bound``: the share within 1 % of
    +-clip (None without clipping)."""
    values = torch.cat([p.detach().flatten().cpu() for p in critic.parameters()]).double()
    edge = float(values.abs().max()) or 1.0
    counts = torch.histc(values, bins=bins, min=-edge, max=edge)
    at_bound = None if clip is None else float((values.abs() >= 0.99 * clip).double().mean())
    return {"bin_edges": torch.linspace(-edge, edge, bins + 1).tolist(), "counts": [int(c) for c in counts],
            "n": int(values.numel()), "clip": clip, "fraction_at_bound": at_bound}

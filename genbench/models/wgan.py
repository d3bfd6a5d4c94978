"""WGAN with weight clipping: Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN"
(https://arxiv.org/abs/1701.07875), Algorithm 1; reference code github.com/martinarjovsky/WassersteinGAN.

Paper -> code: f_w = the critic ``discriminator``, g_theta = ``generator``, c = ``clip``, n_critic = ``n_critic``,
alpha = ``train.lr`` (5e-5 in the paper), m = ``train.batch_size`` / n_critic. RMSProp for both nets (lines 6
and 11): the paper reports that a momentum-based optimiser such as Adam made the critic's training unstable.
The loop is WGAN-GP's (``wgan_gp.WGANGP.train_step``: one call is one pass of the while loop, lines 1-12): the
critic loop of lines 2-8 is ``critic_step`` on each of n_critic real minibatches, with the penalty replaced by
the clip of line 7, applied to every critic parameter (weights, biases, norm scales) after each RMSProp step,
as the reference code's ``p.data.clamp_(-c, c)``; lines 9-11 are the inherited ``generator_step``.
The critic is WGAN-GP's too (layer norm by default, or none), so that this family and ``wgan_gp`` differ only
in how they keep f_w Lipschitz: the comparison of Gulrajani et al. sec. 3 and Fig. 1. The reference code's
DCGAN critic has batch norm, which clipping tolerates, but it would add a second difference to the pair, and
the shared ``critic_estimate`` scores real and fake in one forward, which would mix their batch statistics.
The reference code also runs 100 critic iterations for the first 25 generator iterations and every 500th;
here every iteration has n_critic, as Algorithm 1 states.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from genbench.config.parse import bounded
from genbench.config import TrainConfig
from genbench.models import FAMILIES
from genbench.models.losses import descend
from genbench.models.wgan_gp import WGANGP, CriticNorm, critic_weight_histogram


@dataclass(frozen=True)
class Config:
    latent_dim: int = 128  # as wgan_gp, so that the pair differs in the Lipschitz constraint only
    base_channels: int = 64
    n_critic: int = bounded(5, ge=1)  # Algorithm 1's default
    clip: float = bounded(0.01, gt=0)  # c of Algorithm 1
    critic_norm: CriticNorm = "layer"  # wgan_gp's critic; "none" for a plain one


@FAMILIES.register("wgan")
class WGAN(WGANGP):
    family = "wgan"
    Config = Config

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        """RMSProp without momentum for both nets (Algorithm 1, lines 6 and 11); ``train.betas`` does not apply."""
        return {name: torch.optim.RMSprop(net.parameters(), lr=train.lr, weight_decay=train.weight_decay)
                for name, net in (("generator", self.generator), ("discriminator", self.discriminator))}

    def critic_step(self, real: torch.Tensor, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        """Algorithm 1, lines 3-7: one RMSProp step up the critic's estimate of W, then w <- clip(w, -c, c)."""
        _, wasserstein = self.critic_estimate(real)  # line 5's gradient is that of this estimate
        descend(optimizer, -wasserstein)
        self.clip_critic()
        return {"loss_d": -wasserstein.item(), "wasserstein": wasserstein.item()}

    def clip_critic(self) -> None:
        with torch.no_grad():
            for parameter in self.discriminator.parameters():
                parameter.clamp_(-self.cfg.clip, self.cfg.clip)

    def training_diagnostics(self) -> dict[str, Any]:
        return {"critic_weights": critic_weight_histogram(self.discriminator, clip=self.cfg.clip)}

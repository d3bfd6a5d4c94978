"""InfoGAN: Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by Information Maximizing
Generative Adversarial Nets" (https://arxiv.org/abs/1606.03657).

Paper -> code: G = ``generator``, D = ``body`` + ``d_head``, Q = ``body`` + ``q_head``: Q shares all of D's
convolutional layers (sec. 6) and adds App. C.1's hidden FC layer and its output layer. G's input is z, one
categorical code c_cat ~ Cat(K) and continuous codes c_cont ~ U(-1, 1) (sec. 7, MNIST: K = 10, two codes).
The objective is eq. (6), min_{G,Q} max_D V(D, G) - lambda L_I(G, Q), with L_I the variational lower bound
of the mutual information I(c; G(z, c)) of eq. (5): L_I = E[log Q(c | G(z, c))] + H(c).

Nets are dcgan's (``make_generator``/``make_discriminator`` with the codes as extra inputs), not App. C.1's
FC-heavy MNIST nets; D's and Q's parameters share one optimiser, as in the authors' code (all "d_" variables).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import cross_entropy, one_hot

from genbench.config.parse import bounded
from genbench.config import SamplerConfig, TrainConfig
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec
from genbench.models.gan_blocks import make_discriminator, make_generator
from genbench.models.layers import balanced_labels, cpu_randn, init_normal_
from genbench.models.losses import descend, discriminator_loss, generator_loss


@dataclass(frozen=True)
class Config:
    latent_dim: int = bounded(62, ge=1)  # z, App. C.1 (MNIST: 62 noise variables + 10 + 2 codes = 74 inputs)
    categories: int = bounded(10, ge=1)  # K of the one categorical code
    continuous_codes: int = bounded(2, ge=0)  # each U(-1, 1)
    # Sec. 6: lambda = 1 for discrete codes; continuous codes take a smaller lambda so that lambda L_I, which
    # now involves differential entropy, stays on the GAN loss's scale. 0.1 is our pick of "smaller".
    lambda_categorical: float = bounded(1.0, ge=0)
    lambda_continuous: float = bounded(0.1, ge=0)
    q_hidden: int = bounded(128, ge=1)  # App. C.1: Q's own layers are FC 128-BatchNorm-lReLU, then the output layer
    base_channels: int = bounded(64, ge=1)  # width at the highest resolution; doubles at every halving (dcgan.Config)
    # G learns faster than D: Adam lr 1e-3 for G vs 2e-4 for D on MNIST (the authors' code,
    # launchers/run_mnist_exp.py); G's lr is train.lr times this ratio.
    generator_lr_ratio: float = bounded(5.0, gt=0)


def make_q_head(cfg: Config, body_channels: int, body_side: int) -> nn.Sequential:
    """Q's layers on D's last feature map: a conv over the whole map (an FC layer) to ``q_hidden``, BatchNorm,
    LeakyReLU, then the categorical logits and the Gaussian means of the continuous codes."""
    return nn.Sequential(nn.Conv2d(body_channels, cfg.q_hidden, body_side, bias=False), nn.BatchNorm2d(cfg.q_hidden),
                         nn.LeakyReLU(0.2, inplace=True), nn.Flatten(1),
                         nn.Linear(cfg.q_hidden, cfg.categories + cfg.continuous_codes))


@FAMILIES.register("infogan")
class InfoGAN(GenerativeModel):
    """DCGAN whose G also takes a categorical and continuous codes that Q must recover from the image;
    ``sample(labels=c)`` sets the categorical code to c (a balanced sequence when labels is None)."""

    family = "infogan"
    kind = "gan"
    Config = Config
    label_kind = "code"

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        codes = cfg.continuous_codes + cfg.categories
        self.generator = init_normal_(make_generator(cfg, image, extra_inputs=codes, family=self.family))
        discriminator = init_normal_(make_discriminator(cfg, image, family=self.family))
        # make_discriminator ends in its logit head (a conv over the whole last map, flatten): split it off
        # so that D and Q score the same body features, hence share the body's parameters.
        self.body, self.d_head = discriminator[:-2], discriminator[-2:]
        head_conv = discriminator[-2]
        self.q_head = init_normal_(make_q_head(cfg, head_conv.in_channels, head_conv.kernel_size[0]))

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        def adam(params, lr: float) -> torch.optim.Optimizer:
            return torch.optim.Adam(params, lr=lr, betas=train.betas, weight_decay=train.weight_decay)

        d_and_q = [*self.body.parameters(), *self.d_head.parameters(), *self.q_head.parameters()]
        return {"generator": adam(self.generator.parameters(), train.lr * self.cfg.generator_lr_ratio),
                "discriminator": adam(d_and_q, train.lr)}

    def num_label_values(self) -> int:
        return self.cfg.categories

    def info_loss(self, q_out: torch.Tensor, codes: torch.Tensor, continuous: torch.Tensor) -> torch.Tensor:
        """lambda-weighted -L_I of eq. (5) up to the constant H(c): the cross-entropy of Q's logits for the
        categorical code plus the Gaussian negative log-likelihood of the continuous codes.

        Q(c_cont | x) is a factored Gaussian with fixed unit variance (the authors' MNIST launcher,
        ``Uniform(1, fix_std=True)``), so its NLL is 0.5 ||c - mu||^2 + (k/2) log 2 pi; the constant is dropped.
        A learned log-std would let Q shrink sigma on easy codes and scale that term's gradients by 1 / sigma^2;
        with sigma fixed the term stays bounded (c in [-1, 1]) and lambda alone sets its weight.
        """
        logits, mean = q_out.split([self.cfg.categories, self.cfg.continuous_codes], dim=1)
        nll_categorical = cross_entropy(logits, codes)
        nll_continuous = 0.5 * (continuous - mean).pow(2).sum(dim=1).mean()
        return self.cfg.lambda_categorical * nll_categorical + self.cfg.lambda_continuous * nll_continuous

    def coded_fake(self, latents: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """G(z, c): ``latents`` = [z, c_cont] (N, latent_dim + continuous_codes, 1, 1), ``codes`` = c_cat (N,)."""
        c_cat = one_hot(codes, self.cfg.categories).to(latents.dtype)[:, :, None, None]
        return self.generator(torch.cat([latents, c_cat], dim=1))

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        n, device = images.shape[0], images.device  # unsupervised: labels are not used
        z = torch.randn(n, self.cfg.latent_dim, device=device)
        continuous = torch.rand(n, self.cfg.continuous_codes, device=device) * 2.0 - 1.0
        codes = torch.randint(0, self.cfg.categories, (n,), device=device)
        fake = self.coded_fake(torch.cat([z, continuous], dim=1)[:, :, None, None], codes)

        # D ascends V(D, G); Q (sharing D's body and optimiser) ascends L_I on the same fakes: eq. (6).
        real_logits = self.d_head(self.body(images))
        fake_features = self.body(fake.detach())
        fake_logits = self.d_head(fake_features)
        loss_d = discriminator_loss(real_logits, fake_logits)
        descend(optimizers["discriminator"], loss_d + self.info_loss(self.q_head(fake_features), codes, continuous))

        # G descends the non-saturating loss minus lambda L_I, scored by the updated D and Q.
        gen_features = self.body(fake)
        loss_g = generator_loss(self.d_head(gen_features))
        loss_info = self.info_loss(self.q_head(gen_features), codes, continuous)
        descend(optimizers["generator"], loss_g + loss_info)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "loss_info": loss_info.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generate(self.draw_latents(n, generator=generator), labels)

    def draw_latents(self, n: int, *, generator: torch.Generator) -> torch.Tensor:
        """[z, c_cont] with z ~ N(0, 1) and c_cont ~ U(-1, 1), the training prior (sec. 7.1)."""
        z = cpu_randn(n, self.cfg.latent_dim, 1, 1, generator=generator, device=self.device)
        continuous = torch.rand(n, self.cfg.continuous_codes, 1, 1, generator=generator).to(self.device) * 2.0 - 1.0
        return torch.cat([z, continuous], dim=1)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """[z, c_cont]: ``sample`` draws z ~ N(0, 1) and c_cont ~ U(-1, 1); the categorical code is ``labels``."""
        return (self.cfg.latent_dim + self.cfg.continuous_codes, 1, 1)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            labels = balanced_labels(z.shape[0], self.cfg.categories, z.device)
        return self.coded_fake(z, labels).clamp(-1.0, 1.0)

    def discriminator_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images).flatten(1)

    def sampling_module(self) -> nn.Module:
        return self.generator

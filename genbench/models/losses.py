"""Adversarial losses shared by several GAN families (one place, so each family file reads on its own)."""
from __future__ import annotations

from typing import Callable

import torch
from torch.nn.functional import binary_cross_entropy_with_logits as bce_logits


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, *,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017, Algorithm 1, lines 6-7): E[(||grad_x D(x_hat)||_2 - 1)^2] on
    x_hat = eps x + (1 - eps) x~, eps ~ U[0, 1] per sample. ``create_graph`` so the critic's step
    differentiates through it. Multiply by lambda (10 in the paper) at the call site. ``critic`` is any
    images -> scores callable: a module, or ProGAN's D bound to its current level and fade-in."""
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=generator).to(real.device)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator (Lim & Ye 2017; Miyato et al. 2018, eq. (17)):
    E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
    return torch.relu(1.0 - real_scores).mean() + torch.relu(1.0 + fake_scores).mean()


def hinge_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator side of the hinge loss: -E[D(G(z))]."""
    return -fake_scores.mean()


def r1_penalty(real_scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 penalty (Mescheder et al. 2018, eq. 9, without gamma/2): E[||grad_x D(x)||_2^2] on real images only.

    ``real_scores`` = D(``real``) with ``real.requires_grad``: the penalty reuses D's forward pass on the reals
    instead of running another. ``create_graph`` so that D's step differentiates through it. Multiply by
    gamma/2 at the call site (gamma = 10 in StyleGAN, Karras et al. 2019, appendix C)."""
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D ascends log D(x) + log(1 - D(G(z))) (Goodfellow et al. 2014, eq. 1), i.e. descends this BCE."""
    return (bce_logits(real_logits, torch.ones_like(real_logits))
            + bce_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """G ascends log D(G(z)) rather than descending log(1 - D(G(z))): the same fixed point, but strong
    gradients early on when D rejects every fake (the "non-saturating" loss, Goodfellow et al. sec. 3)."""
    return bce_logits(fake_logits, torch.ones_like(fake_logits))


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimiser step on ``loss`` (gradients cleared first)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()

"""Blocks shared by the families: DCGAN init, seeded (truncated) latents, timestep embedding, the time-conditioned ResBlock."""
from __future__ import annotations

import math

import torch
from torch import nn


def init_normal_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN initialisation (Radford et al. 2016, sec. 4): conv/linear weights ~ N(0, std), biases 0,
    BatchNorm scale ~ N(1, std) and shift 0. Applied recursively; returns ``module``."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module


def balanced_labels(n: int, num_values: int, device: torch.device) -> torch.Tensor:
    """0, 1, ..., num_values - 1, 0, 1, ...: the label sequence the sample job passes, used when none is given."""
    return (torch.arange(n) % num_values).to(device)


def cpu_randn(*shape: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard normal noise drawn with a CPU ``generator`` and then moved to ``device``: a seed gives the
    same latents, hence the same samples up to float rounding, on the CPU and on a GPU."""
    return torch.randn(shape, generator=generator).to(device)


def latent_normal(*shape: int, truncation: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``cpu_randn`` with entries beyond +-``truncation`` redrawn until inside (the truncated normal of
    Brock et al. 2019, sec. 3.1); ``truncation`` 0 means the plain normal. Redraws use the same generator,
    so a seed still fixes the latents."""
    z = torch.randn(shape, generator=generator)
    if truncation > 0.0:
        outside = z.abs() > truncation
        while outside.any():
            z[outside] = torch.randn(int(outside.sum()), generator=generator)
            outside = z.abs() > truncation
    return z.to(device)


def timestep_embedding(t: torch.Tensor, dim: int, *, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps ``t`` of shape (N,) -> (N, dim).

    The Transformer position encoding (Vaswani et al. 2017, sec. 3.5) as used for diffusion timesteps by
    Ho et al. 2020 (appendix B): frequencies geometric from 1 to 1/max_period, [sin | cos] halves.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2:  # odd dim: pad one zero column so the width is exactly dim
        emb = nn.functional.pad(emb, (0, 1))
    return emb


def group_norm(channels: int, *, max_groups: int = 8) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= ``max_groups`` that divides ``channels``.

    Small networks have few channels; 32 groups (Wu & He 2018's default) would mean one channel per group.
    """
    groups = next(g for g in range(min(max_groups, channels), 0, -1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class ResBlock(nn.Module):
    """Pre-activation residual block with an additive time embedding (Ho et al. 2020, appendix B):
    GroupNorm -> SiLU -> conv, + Linear(embedding), GroupNorm -> SiLU -> conv, + skip.

    ``emb`` is the time embedding already passed through SiLU: Ho et al. apply ``dense(silu(temb))`` in
    every block, so the caller activates once and each block only projects.
    """

    def __init__(self, in_channels: int, out_channels: int, *, emb_dim: int) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_channels)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        # 1x1 projection only where the width changes (Ho et al.'s "nin_shortcut").
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        # Zero-init the last conv so each block starts as the identity (Nichol & Dhariwal 2021's
        # improved-diffusion does the same): early training is then stable without warm-up.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(nn.functional.silu(self.norm2(h)))
        return h + self.skip(x)

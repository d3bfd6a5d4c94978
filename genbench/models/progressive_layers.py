"""Blocks shared by ProGAN (Karras et al. 2018, https://arxiv.org/abs/1710.10196) and StyleGAN (Karras et al.
2019, https://arxiv.org/abs/1812.04948): equalised learning rate, pixel norm, minibatch standard deviation,
the side pyramid both generators grow through, and ProGAN's discriminator, which StyleGAN reuses (its
appendix C keeps ProGAN's discriminator and changes only the generator).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from genbench.models.base import ImageSpec
from genbench.models.gan_blocks import pyramid

LRELU_SLOPE = 0.2  # ProGAN sec. 4.2 / Table 2: leaky ReLU with leakiness 0.2 in both networks
RELU_GAIN = math.sqrt(2.0)  # He et al. 2015's gain, used for every layer followed by a leaky ReLU


def level_plan(image: ImageSpec, cfg: Any, family: str) -> tuple[int, list[int]]:
    """(start side, feature maps per level, lowest resolution first) for ``image`` and a family Config with
    ``base_channels`` and ``max_channels``. The sides are dcgan's ``pyramid`` (28 = 7 * 2**2); the widths
    are ``base_channels`` at the full size, doubling at every halving up to ``max_channels`` (ProGAN's
    nf(stage) = min(fmap_base / 2**stage, fmap_max))."""
    start, halvings = pyramid(image, family)
    return start, [min(cfg.base_channels * 2 ** (halvings - i), cfg.max_channels) for i in range(halvings + 1)]


class EqualizedLinear(nn.Module):
    """Dense layer with the equalised learning rate (ProGAN sec. 4.1): weights drawn from N(0, 1) and scaled
    at runtime by c = gain / sqrt(fan_in), so that Adam's scale-invariant step moves every layer equally fast.

    ``lr_mul`` lowers this layer's effective learning rate (StyleGAN appendix C: lambda' = 0.01 lambda for the
    mapping network): weights start at N(0, 1/lr_mul^2) and weights and bias are scaled by lr_mul.
    """

    def __init__(self, in_features: int, out_features: int, *, gain: float = RELU_GAIN, lr_mul: float = 1.0,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mul))
        self.scale = gain / math.sqrt(in_features) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualizedConv2d(nn.Module):
    """Stride-1 'same' convolution with the equalised learning rate (ProGAN sec. 4.1); fan_in = C_in k^2.

    ``resample="up"`` is 2x nearest-neighbour upsampling followed by this (3x3) conv, ``"down"`` this conv
    followed by 2x2 average pooling, each fused into one stride-2 (transposed) conv with a 4x4 kernel, as the
    official ProGAN/StyleGAN code does (``fused_scale``): the same function, about a third of the CPU time.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, gain: float = RELU_GAIN,
                 padding: int | None = None, resample: str = "") -> None:
        super().__init__()
        if resample and kernel_size != 3:
            raise ValueError(f"resample={resample!r} needs a 3x3 kernel, got {kernel_size}")
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size ** 2)
        self.padding = kernel_size // 2 if padding is None else padding
        self.resample = resample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        if not self.resample:
            return F.conv2d(x, w, self.bias, padding=self.padding)
        # 4x4 kernel = the sum of the 3x3 kernel's four one-pixel shifts: every output pixel of the 2x map
        # (or each of the four averaged ones) sees its 3x3 window through 2x2 blocks of the coarser map.
        w = F.pad(w, (1, 1, 1, 1))
        w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]
        if self.resample == "up":
            return F.conv_transpose2d(x, w.flip(2, 3).transpose(0, 1), self.bias, stride=2, padding=1)
        return F.conv2d(x, w * 0.25, self.bias, stride=2, padding=1)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """ProGAN eq. (sec. 4.2): b = a / sqrt(mean_j a_j^2 + eps), over the feature (channel) axis per pixel."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LRELU_SLOPE)


def rgb_output(x: torch.Tensor, *, tanh: bool) -> torch.Tensor:
    """G's image: the papers' linear toRGB, or bounded to [-1, 1] by DCGAN's tanh (``tanh_output``). Short CPU
    runs need the tanh: a linear output must first learn MNIST's exact -1 background, and until it does D can
    reject fakes by their out-of-range pixels alone (benchmarks/results/family_quality)."""
    return torch.tanh(x) if tanh else x


class MinibatchStdDev(nn.Module):
    """ProGAN sec. 3: the standard deviation of every feature at every pixel over a group of images, averaged
    into one number per group and appended as one constant feature map. D can then see a lack of variety.
    Groups of ``group_size`` as in the official code (or the largest divisor of the batch below it)."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = next(g for g in range(min(self.group_size, n), 0, -1) if n % g == 0)
        grouped = x.reshape(group, n // group, c, h, w)  # image i is in group i % (n // group), as in the official code
        centred = grouped - grouped.mean(dim=0)  # by hand: Tensor.var's backward is several times slower on a CPU
        std = (centred.pow(2).mean(dim=0) + 1e-8).sqrt()  # (n // group, c, h, w)
        stat = std.mean(dim=(1, 2, 3)).repeat(group).reshape(n, 1, 1, 1)
        return torch.cat([x, stat.expand(n, 1, h, w)], dim=1)


class DownBlock(nn.Module):
    """D's block per resolution (ProGAN Table 2): conv 3x3, conv 3x3 (to the next level's width) fused with the
    2x2 average pooling; the leaky ReLU follows the pooling, as in the official code's fused path."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv2 = EqualizedConv2d(in_channels, out_channels, 3, resample="down")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrelu(self.conv2(lrelu(self.conv1(x))))


class ProgressiveDiscriminator(nn.Module):
    """ProGAN's D (Table 2), levels 0 (start x start) .. H (full size): fromRGB (1x1) at the input level, a
    ``DownBlock`` per level above 0, then minibatch std, conv 3x3, a dense layer over the start x start map
    (a conv with the map's size) and a linear output: one score per image.

    ``forward(x, stage, alpha)`` takes images at level ``stage``. While a level fades in (alpha < 1, sec. 2 and
    Figure 2 (b)), its block's output is blended with the previous level's fromRGB of the 2x-downsampled input.
    """

    def __init__(self, image: ImageSpec, cfg: Any, family: str) -> None:
        """Sized like the family's G (``level_plan``), minibatch-std groups of ``cfg.mbstd_group``."""
        super().__init__()
        start, widths = level_plan(image, cfg, family)
        channels = image.channels
        self.from_rgb = nn.ModuleList(EqualizedConv2d(channels, w, 1) for w in widths)
        self.blocks = nn.ModuleList(DownBlock(widths[i], widths[i - 1]) for i in range(1, len(widths)))
        self.mbstd = MinibatchStdDev(cfg.mbstd_group)
        self.conv = EqualizedConv2d(widths[0] + 1, widths[0], 3)
        self.dense = EqualizedConv2d(widths[0], widths[0], start, padding=0)
        self.out = EqualizedLinear(widths[0], 1, gain=1.0)

    @property
    def top_level(self) -> int:
        return len(self.blocks)

    def forward(self, x: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = self.top_level if stage is None else stage
        h = lrelu(self.from_rgb[stage](x))
        if stage > 0:
            h = self.blocks[stage - 1](h)
            if alpha < 1.0:
                h = torch.lerp(lrelu(self.from_rgb[stage - 1](F.avg_pool2d(x, 2))), h, alpha)
        for block in reversed(self.blocks[:max(stage - 1, 0)]):
            h = block(h)
        h = lrelu(self.dense(lrelu(self.conv(self.mbstd(h)))))
        return self.out(h.flatten(1)).squeeze(1)

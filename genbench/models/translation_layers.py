"""Blocks shared by the image-to-image families (pix2pix, CycleGAN, SRGAN): conv-norm-act, the residual
block, the PatchGAN discriminator, the channel adapter of CycleGAN's identity loss, and their Adam."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from genbench.config import TrainConfig

Norm = Callable[[int], nn.Module] | None
Activation = Callable[[int], nn.Module] | None

#: ITU-R BT.601 luma weights; they sum to 1, so luma keeps the [-1, 1] range
LUMA = (0.299, 0.587, 0.114)


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    """Instance norm without affine parameters or running statistics (Ulyanov et al. 2016), as in the
    CycleGAN reference code: train and eval normalise alike, each image by its own statistics."""
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def leaky_relu(channels: int) -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


def relu(channels: int) -> nn.ReLU:
    return nn.ReLU(inplace=True)


def conv_norm_act(in_channels: int, out_channels: int, kernel: int, *, stride: int = 1, padding: int | None = None,
                  norm: Norm = None, act: Activation = None, padding_mode: str = "zeros") -> nn.Sequential:
    """Conv -> norm -> activation (the papers' "Ck" unit). ``padding`` defaults to "same" for stride 1;
    the conv has no bias when a norm follows (the norm's shift, or its centring, removes it)."""
    padding = kernel // 2 if padding is None else padding
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=norm is None,
                                         padding_mode=padding_mode)]
    if norm is not None:
        layers.append(norm(out_channels))
    if act is not None:
        layers.append(act(out_channels))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """x + conv-norm-act-conv-norm(x) (He et al. 2016 as used by Johnson et al. 2016): the block of the
    CycleGAN generator (instance norm, ReLU, reflection padding) and of SRResNet (batch norm, PReLU)."""

    def __init__(self, channels: int, *, norm: Norm, act: Activation, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.body = nn.Sequential(conv_norm_act(channels, channels, 3, norm=norm, act=act, padding_mode=padding_mode),
                                  conv_norm_act(channels, channels, 3, norm=norm, padding_mode=padding_mode))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def patch_discriminator(in_channels: int, *, base_channels: int = 64, layers: int = 3,
                        norm: Norm = nn.BatchNorm2d) -> nn.Sequential:
    """PatchGAN (Isola et al. 2017, sec. 3.2.2 and appendix 6.1.2): a fully convolutional D whose output is a
    map of logits, one per overlapping patch. ``layers`` stride-2 4x4 convs (the first without norm), then a
    stride-1 conv and a stride-1 conv to one channel; widths double from ``base_channels`` up to 8x. The
    receptive field is 16 px for ``layers`` 1, 34 for 2, 70 for 3 (the paper's 70x70 "C64-C128-C256-C512")."""
    def width(i: int) -> int:
        return base_channels * min(2**i, 8)

    net = [conv_norm_act(in_channels, width(0), 4, stride=2, padding=1, act=leaky_relu)]
    for i in range(1, layers):
        net.append(conv_norm_act(width(i - 1), width(i), 4, stride=2, padding=1, norm=norm, act=leaky_relu))
    net.append(conv_norm_act(width(layers - 1), width(layers), 4, padding=1, norm=norm, act=leaky_relu))
    net.append(nn.Conv2d(width(layers), 1, 4, 1, 1))
    return nn.Sequential(*net)


def match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Images in [-1, 1] brought to ``channels``: unchanged, grey replicated to RGB (1 -> 3) or RGB to its
    luma (3 -> 1)."""
    have = images.shape[1]
    if have == channels:
        return images
    if (have, channels) == (1, 3):
        return images.expand(-1, 3, -1, -1)
    if (have, channels) == (3, 1):
        weights = images.new_tensor(LUMA).view(1, 3, 1, 1)
        return (images * weights).sum(dim=1, keepdim=True)
    raise ValueError(f"cannot map {have}-channel images to {channels} channels")


@contextmanager
def frozen(net: nn.Module) -> Iterator[nn.Module]:
    """``net``'s parameters without gradients inside the block (a generator's step through D: D's weight
    gradients would only be computed to be thrown away), restored after it."""
    flags = [p.requires_grad for p in net.parameters()]
    net.requires_grad_(False)
    try:
        yield net
    finally:
        for p, flag in zip(net.parameters(), flags):
            p.requires_grad_(flag)


def adam(net: nn.Module, train: TrainConfig) -> torch.optim.Adam:
    """Adam on ``net``'s parameters with the preset's lr, betas and weight decay (all three papers use Adam)."""
    return torch.optim.Adam(net.parameters(), lr=train.lr, betas=train.betas, weight_decay=train.weight_decay)

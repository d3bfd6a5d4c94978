"""Gated PixelCNN: van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders"
(https://arxiv.org/abs/1606.05328), on the masked convolutions of "Pixel Recurrent Neural Networks"
(van den Oord, Kalchbrenner & Kavukcuoglu 2016, https://arxiv.org/abs/1601.06759, sec. 3.4).

p(x) = prod_i p(x_i | x_<i) in raster order, each factor a 256-way softmax over the pixel's level (PixelRNN
sec. 3.3), so log p(x) is exact: the sum of the log-softmax at the true levels. Sampling is ancestral, pixel
by pixel (H * W sequential steps per image).

Paper -> code: the vertical stack (sees every row above) and the horizontal stack (sees the pixels to the
left in the same row) of sec. 2.2, Fig. 2, without the blind spot of masked 3x3 kernels. Masks are done by
kernel shapes and shifts, as the paper's Fig. 2: the vertical conv is k//2 + 1 rows high (rows r - k//2 .. r),
and what it hands to the horizontal stack is shifted down one row, so that position (r, c) only ever sees
rows < r through it; the horizontal conv is k//2 + 1 columns wide (columns c - k//2 .. c) and, in the first
layer only (mask A: the pixel itself is unknown), shifted right one column. Gates y = tanh(W_f * x) sigma(W_g * x)
(eq. 2); 1x1 link v -> h; residual 1x1 on the horizontal stack after the first layer. Unconditional and for
one-channel images (the sub-pixel ordering R -> G -> B of colour images is not implemented).

Sampling reuses that structure: the vertical stack at row r depends on rows < r only, so it runs once per row;
the horizontal stack of one row (cropped at the current column) then runs once per pixel. The result is exactly
the full network's distribution (tests/test_likelihood_families.py) at a small part of the cost of H * W full
passes (each row's vertical pass is also cropped to the rows that reach it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from genbench.config.parse import bounded
from genbench.config import LikelihoodConfig, SamplerConfig, TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec, to_model_range
from genbench.models.likelihood import per_image, to_levels
from genbench.models.losses import descend

LEVELS = 256


@dataclass(frozen=True)
class Config:
    channels: int = bounded(128, ge=1)  # per stack; the gated convolutions produce 2x (filter | gate)
    layers: int = bounded(15, ge=1)  # gated layers, the first (mask A) included (the paper's ImageNet models: 20)
    first_kernel: int = bounded(7, ge=1)  # PixelRNN sec. 3.4: a 7x7 mask-A layer first
    kernel: int = bounded(3, ge=1)  # then 3x3
    head_channels: int = bounded(256, ge=1)  # the 1x1 ReLU layer before the 256-way softmax (PixelRNN Table 4: 1024)

    def __post_init__(self) -> None:
        for key in ("first_kernel", "kernel"):
            if getattr(self, key) % 2 == 0:
                raise ConfigError(f"pixelcnn: key 'model.{key}' must be an odd number >= 1, got {getattr(self, key)}")


def gate(x: torch.Tensor) -> torch.Tensor:
    """tanh(filter) * sigmoid(gate) over the two channel halves (eq. 2)."""
    f, g = x.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


def shift_down(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def shift_right(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (1, 0))[..., :-1]


class GatedLayer(nn.Module):
    """One layer of both stacks (Fig. 2). ``first``: mask A (the horizontal stack excludes the pixel itself,
    and there is no residual, the input being the image)."""

    def __init__(self, in_channels: int, channels: int, kernel: int, *, first: bool) -> None:
        super().__init__()
        self.first, self.reach = first, kernel // 2
        self.v_conv = nn.Conv2d(in_channels, 2 * channels, (self.reach + 1, kernel))
        self.h_conv = nn.Conv2d(in_channels, 2 * channels, (1, self.reach + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)

    def vertical(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the next vertical input, this layer's link to the horizontal stack, already shifted down a row)."""
        pre = self.v_conv(F.pad(v, (self.reach, self.reach, self.reach, 0)))  # row r sees rows r - reach .. r
        return gate(pre), shift_down(self.v_to_h(pre))

    def horizontal(self, h: torch.Tensor, link: torch.Tensor) -> torch.Tensor:
        pre = self.h_conv(F.pad(h, (self.reach, 0)))  # column c sees columns c - reach .. c
        if self.first:
            pre = shift_right(pre)  # mask A
        out = self.h_out(gate(pre + link))
        return out if self.first else h + out


@FAMILIES.register("pixelcnn")
class PixelCNN(GenerativeModel):
    family = "pixelcnn"
    kind = "autoregressive"
    Config = Config
    sampler_algos = ("ancestral",)
    likelihood_estimators = ("nll",)

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        if image.channels != 1:
            raise ConfigError(f"pixelcnn: models one-channel images (no R->G->B sub-pixel order), got "
                              f"{image.channels} channels; run it on mnist or fashion_mnist")
        c = cfg.channels
        self.gated = nn.ModuleList(
            [GatedLayer(image.channels, c, cfg.first_kernel, first=True)]
            + [GatedLayer(c, c, cfg.kernel, first=False) for _ in range(cfg.layers - 1)])
        # rows above a pixel that reach it through the vertical stack: each layer's reach, plus the link's shift
        self.vertical_reach = 1 + cfg.first_kernel // 2 + (cfg.layers - 1) * (cfg.kernel // 2)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c, cfg.head_channels, 1), nn.ReLU(),
                                  nn.Conv2d(cfg.head_channels, LEVELS * image.channels, 1))

    def vertical_links(self, x: torch.Tensor) -> list[torch.Tensor]:
        links, v = [], x
        for layer in self.gated:
            v, link = layer.vertical(v)
            links.append(link)
        return links

    def horizontal_features(self, x: torch.Tensor, links: list[torch.Tensor]) -> torch.Tensor:
        h = x
        for layer, link in zip(self.gated, links):
            h = layer.horizontal(h, link)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 256, H, W) of p(x_i | x_<i) at every pixel of ``x`` (in [-1, 1])."""
        return self.head(self.horizontal_features(x, self.vertical_links(x)))

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {"pixelcnn": torch.optim.Adam(self.parameters(), lr=train.lr, betas=train.betas,
                                             weight_decay=train.weight_decay)}

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        loss = F.cross_entropy(self(images), to_levels(images)[:, 0])  # nats per pixel: maximum likelihood
        descend(optimizers["pixelcnn"], loss)
        return {"loss": loss.item(), "bits_per_dim": loss.item() / math.log(2.0)}

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """Ancestral sampling in raster order; levels drawn with the CPU ``generator``."""
        self.check_sampler(sampler, source=f"{self.family}.sample")
        x = torch.zeros(n, 1, self.image.height, self.image.width, device=self.device)
        for r, c, logits in self.raster_logits(x):
            probs = F.softmax(logits.float(), dim=1).cpu()
            level = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            x[:, 0, r, c] = (level.float() / 127.5 - 1.0).to(x.device)  # read by the next pixels' logits
        return x

    def raster_logits(self, x: torch.Tensor) -> Iterator[tuple[int, int, torch.Tensor]]:
        """(r, c, logits (N, 256) of p(x_rc | x_<rc)) pixel by pixel, reading ``x`` as it is when each pixel's
        turn comes (the sampler writes each drawn pixel into it): the full network's logits at (r, c)."""
        for r in range(self.image.height):
            # The links at row r see rows r - vertical_reach .. r - 1 only, so the vertical stack runs on those:
            # the zero padding above the crop reaches row r through no layer (exact, and ~1/3 of the cost here).
            top = max(0, r - self.vertical_reach)
            links = [link[:, :, r - top:r - top + 1] for link in self.vertical_links(x[:, :, top:r + 1])]
            for c in range(self.image.width):
                # the horizontal stack at column c sees columns <= c only, so the row is cropped there
                row = self.horizontal_features(x[:, :, r:r + 1, :c + 1], [link[..., :c + 1] for link in links])
                yield r, c, self.head(row[..., c:]).flatten(1)

    def preview_sampler(self) -> SamplerConfig:
        return SamplerConfig(algo="ancestral")

    def network_evaluations(self, sampler: SamplerConfig) -> int:
        return self.image.height * self.image.width  # one sequential step per pixel

    def negative_log_likelihood(self, images: torch.Tensor, *, generator: torch.Generator,
                                settings: LikelihoodConfig) -> dict[str, torch.Tensor]:
        logits = self(to_model_range(images))
        log_probs = F.log_softmax(logits.float(), dim=1).gather(1, images.long())
        return {"nll": -per_image(log_probs)}

    def likelihood_protocol(self, settings: LikelihoodConfig) -> dict[str, str]:
        return {"nll": "exact: sum over pixels of -log softmax at the true level (256-way, raster order)"}

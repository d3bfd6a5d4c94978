"""MUNIT: Huang, Liu, Belongie & Kautz 2018, "Multimodal Unsupervised Image-to-Image Translation"
(https://arxiv.org/abs/1804.04732), here MNIST (X, domain 1) <-> MNIST-M (Y, domain 2).

Paper -> code (the reference code's names in brackets): content encoders E^c_1, E^c_2 = ``content.X``,
``content.Y`` [gen_a.enc_content], style encoders E^s_1, E^s_2 = ``style.X``, ``style.Y`` [enc_style],
decoders G_1, G_2 = ``decoders.X``, ``decoders.Y`` [gen_a.dec, with its MLP], D_1, D_2 = ``discriminators.X``,
``discriminators.Y`` [dis_a, dis_b]; lambda_x, lambda_c, lambda_s = ``image_weight``, ``content_weight``,
``style_weight`` [recon_x_w, recon_c_w, recon_s_w].

- Sec. 3.1: an image is a domain-invariant content code c (a spatial map) and a domain-specific style code s
  (a vector of ``style_dim`` 8). Translating x_1 to domain 2 = G_2(E^c_1(x_1), s_2) with s_2 ~ N(0, I): one
  input, as many outputs as styles. The ``*_fixed`` samplers share one style code among all inputs.
- Objective eq. 5: L_GAN^{x1} + L_GAN^{x2} + lambda_x (L_recon^{x1} + L_recon^{x2}) + lambda_c (L_recon^{c1} +
  L_recon^{c2}) + lambda_s (L_recon^{s1} + L_recon^{s2}), the reconstructions L1 (eqs. 1-3), the GAN loss
  least-squares (appendix B.2: LSGAN, as the reference code's ``gan_type: lsgan``; D's loss not halved there).
  ``cycle_weight`` and ``cycle_weight_y`` add the reference code's explicit style-augmented cycle loss
  (``recon_x_cyc_w``, one weight there) from each domain: 0 in eq. 5 and the preset; a short CPU run needs them
  to keep the digit (params/default.yaml).
- Unpaired as CycleGAN here: X from one half of the training rows, Y from the other (``unpaired_rows``).
- Architecture (appendix B.1): content encoder c7s1-64, d128, d256, R256 x 4 with instance norm; style encoder
  c7s1-64, d128, d256, d256, d256, global average pooling, fc8, no instance norm (it would remove the style);
  decoder R256 x 4 whose AdaIN (Huang & Belongie 2017) scales and shifts come from a 3-layer MLP of the
  style, then u128, u64 (nearest upsampling x2 + 5x5 conv, layer norm) and c7s1-C with Tanh. At 28x28 two
  downsamplings give a 7x7 content map. D: the multi-scale LSGAN discriminator (Wang et al. 2018) of
  ``d_scales`` PatchGANs on 2x average-pooled copies, without normalisation as in the reference code.
- Adam 1e-4, betas (0.5, 0.999), weight decay 1e-4, batch 1 (sec. 5.1 / the reference config); Kaiming
  init of the generators, N(0, 0.02) of the discriminators (the reference ``init`` settings). The halving of
  the learning rate every 100k iterations is not applied (the generic loop keeps the rate constant).
- UNIT (Liu et al. 2017) is the special case with no style code (a fully shared latent space, sec. 2). Its
  weight sharing, which implements that assumption, is ``shared_blocks``: the content encoders' residual blocks
  and the decoders' residual convolutions serve both domains. MUNIT at ``style_dim`` 8 is what is measured.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import avg_pool2d, l1_loss

from genbench.config.parse import bounded
from genbench.config import TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import ImageSpec
from genbench.models.cyclegan import X_ARRAY, X_CHANNELS, Y_ARRAY, CycleGAN, lsgan_loss
from genbench.models.layers import init_normal_
from genbench.models.losses import descend
from genbench.models.stylegan import adain
from genbench.models.translation import Translator
from genbench.models.translation_layers import (ResidualBlock, adam, conv_norm_act, frozen, instance_norm,
                                                patch_discriminator, relu)

PAD = "reflect"  # the reference code's pad_type
DIRECTIONS = {"forward": ("X", "Y"), "backward": ("Y", "X")}  # direction -> (source domain, target domain)


@dataclass(frozen=True)
class Config:
    base_channels: int = bounded(64, ge=1)  # c7s1-64 of the encoders; each downsampling doubles it (appendix B.1)
    downsamples: int = bounded(2, ge=1)  # content encoder d128, d256 (and u128, u64 back): 28x28 -> a 7x7 content map
    res_blocks: int = bounded(4, ge=0)  # R256 x 4 in the content encoder and (with AdaIN) in the decoder
    style_dim: int = bounded(8, ge=1)  # sec. 5.1: 8-dimensional style codes
    style_downsamples: int = bounded(4, ge=1)  # style encoder d128, d256, d256, d256 before the global average pooling
    mlp_dim: int = bounded(256, ge=1)  # the MLP of the style: 3 layers, 256 wide (reference config mlp_dim)
    d_base_channels: int = bounded(64, ge=1)
    d_layers: int = bounded(1, ge=1)  # PatchGAN depth at each scale: 1 -> 16x16 patches at 28x28
    d_scales: int = bounded(3, ge=1)  # multi-scale D (Wang et al. 2018): 28, 14 and 7 px copies
    image_weight: float = bounded(10.0, ge=0)  # lambda_x of eq. 5
    content_weight: float = bounded(1.0, ge=0)  # lambda_c
    style_weight: float = bounded(1.0, ge=0)  # lambda_s
    # The reference code's explicit style-augmented cycle loss [recon_x_cyc_w]: x -> G_2(c_1, s_2) -> E^c_2 -> G_1(., s_1)
    # back to x, L1. Eq. 5 has none (0, the paper's setting): its latent reconstructions imply it only at convergence.
    cycle_weight: float = bounded(0.0, ge=0)
    # The same from the MNIST-M side, y -> G_1(c_2, s_1) -> E^c_1 -> G_2(., s_2) (one weight for both in the reference
    # code). An 8-number style cannot carry a photo background, so this cycle asks the digit to (CycleGAN's
    # cycle_weight_y, Chu et al. 2017).
    cycle_weight_y: float = bounded(0.0, ge=0)
    # UNIT's shared-latent assumption as weight sharing (Liu et al. 2017, sec. 3 and fig. 2): the content encoders'
    # residual blocks, and the convolutions of the decoders' residual blocks (their AdaIN parameters stay per
    # domain), are one set of weights for both domains; off in the MUNIT paper.
    shared_blocks: bool = False


    @property
    def content_channels(self) -> int:
        return self.base_channels * 2**self.downsamples


def content_blocks(cfg: Config) -> list[nn.Module]:
    return [ResidualBlock(cfg.content_channels, norm=instance_norm, act=relu, padding_mode=PAD)
            for _ in range(cfg.res_blocks)]


def content_encoder(cfg: Config, in_channels: int, blocks: list[nn.Module]) -> nn.Sequential:
    """c7s1-64, d128, d256 (4x4 stride-2 convs), then ``blocks`` (R256 x 4); instance norm throughout (appendix
    B.1)."""
    w = cfg.base_channels
    layers = [conv_norm_act(in_channels, w, 7, norm=instance_norm, act=relu, padding_mode=PAD)]
    for i in range(cfg.downsamples):
        layers.append(conv_norm_act(w * 2**i, w * 2**(i + 1), 4, stride=2, padding=1, norm=instance_norm, act=relu,
                                    padding_mode=PAD))
    return nn.Sequential(*layers, *blocks)


def style_encoder(cfg: Config, in_channels: int) -> nn.Sequential:
    """c7s1-64, d128, d256, d256, ..., global average pooling, fc ``style_dim`` (a 1x1 conv); no instance norm,
    which would remove the feature statistics that carry the style (sec. 3.2)."""
    w = cfg.base_channels
    layers = [conv_norm_act(in_channels, w, 7, act=relu, padding_mode=PAD)]
    for i in range(cfg.style_downsamples):
        have, want = w * 2**min(i, 2), w * 2**min(i + 1, 2)  # widths double twice, then stay (d256, d256)
        layers.append(conv_norm_act(have, want, 4, stride=2, padding=1, act=relu, padding_mode=PAD))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(w * 2**min(cfg.style_downsamples, 2), cfg.style_dim, 1),
               nn.Flatten()]
    return nn.Sequential(*layers)


class AdaINResidualBlock(nn.Module):
    """x + conv-AdaIN-ReLU-conv-AdaIN(x): the decoder's residual block, its norms' scales and shifts given."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, padding_mode=PAD)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, padding_mode=PAD)

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``params`` (N, 4C): scale and shift of the first AdaIN, then of the second."""
        s1, b1, s2, b2 = params.chunk(4, dim=1)
        h = torch.relu(adain(self.conv1(x), s1, b1, eps=1e-5))
        return x + adain(self.conv2(h), s2, b2, eps=1e-5)


def decoder_blocks(cfg: Config) -> list[AdaINResidualBlock]:
    return [AdaINResidualBlock(cfg.content_channels) for _ in range(cfg.res_blocks)]


class Decoder(nn.Module):
    """G: (content, style) -> image (appendix B.1): ``blocks`` (R256 x 4), then the upsampling. The MLP maps the
    style code to every AdaIN parameter."""

    def __init__(self, cfg: Config, out_channels: int, blocks: list[AdaINResidualBlock]) -> None:
        super().__init__()
        width = cfg.content_channels
        self.blocks = nn.ModuleList(blocks)
        self.mlp = nn.Sequential(nn.Linear(cfg.style_dim, cfg.mlp_dim), nn.ReLU(inplace=True),
                                 nn.Linear(cfg.mlp_dim, cfg.mlp_dim), nn.ReLU(inplace=True),
                                 nn.Linear(cfg.mlp_dim, 4 * width * max(cfg.res_blocks, 1)))
        layers: list[nn.Module] = []
        for _ in range(cfg.downsamples):  # u128, u64: nearest x2, 5x5 conv, layer norm (GroupNorm with one group)
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       conv_norm_act(width, width // 2, 5, norm=lambda c: nn.GroupNorm(1, c), act=relu,
                                     padding_mode=PAD)]
            width //= 2
        layers += [nn.Conv2d(width, out_channels, 7, 1, 3, padding_mode=PAD), nn.Tanh()]  # c7s1-C
        self.up = nn.Sequential(*layers)

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = content
        for block, params in zip(self.blocks, self.mlp(style).chunk(max(len(self.blocks), 1), dim=1)):
            h = block(h, params)
        return self.up(h)


class MultiScaleDiscriminator(nn.Module):
    """PatchGANs on the image and its 2x, 4x, ... average-pooled copies; ``forward`` gives each scale's logits."""

    def __init__(self, cfg: Config, in_channels: int) -> None:
        super().__init__()
        self.scales = nn.ModuleList(patch_discriminator(in_channels, base_channels=cfg.d_base_channels,
                                                        layers=cfg.d_layers, norm=None) for _ in range(cfg.d_scales))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, net in enumerate(self.scales):
            outs.append(net(x))
            if i + 1 < len(self.scales):
                x = avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)  # the reference's downsampler
        return outs


def lsgan(scores: list[torch.Tensor], target: float) -> torch.Tensor:
    return sum(lsgan_loss(s, target) for s in scores)


def kaiming_init_(module: nn.Module) -> nn.Module:
    """The reference generators' ``init: kaiming``: conv/linear weights He-normal (fan in), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


@FAMILIES.register("munit")
class MUNIT(Translator):
    """Multimodal two-way unpaired translation; ``forward``: MNIST -> MNIST-M, ``backward``: MNIST-M -> MNIST,
    each with a random style per input, or (``*_fixed``) one style shared by all inputs."""

    family = "munit"
    task = "unpaired"
    Config = Config
    sampler_algos = ("forward", "backward", "forward_fixed", "backward_fixed")
    training_arrays = (X_ARRAY, Y_ARRAY)
    inference_arrays = (X_ARRAY, Y_ARRAY)
    target_arrays = {"forward": Y_ARRAY, "backward": X_ARRAY}
    target_datasets = {"backward": "mnist"}  # G_1's outputs are digits: measured in MNIST's domain
    # CycleGAN's data: the same disjoint halves of the training rows, the same model-form inputs
    training_tensors = CycleGAN.training_tensors
    translation_inputs = CycleGAN.translation_inputs

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        channels = {"X": X_CHANNELS, "Y": image.channels}
        shared = (content_blocks(cfg), decoder_blocks(cfg)) if cfg.shared_blocks else None
        blocks = {d: shared or (content_blocks(cfg), decoder_blocks(cfg)) for d in channels}
        # one ModuleDict of all encoders and decoders: what the generator's optimiser and the EMA cover
        self.generators = nn.ModuleDict({
            "content": nn.ModuleDict({d: content_encoder(cfg, c, blocks[d][0]) for d, c in channels.items()}),
            "style": nn.ModuleDict({d: style_encoder(cfg, c) for d, c in channels.items()}),
            "decoders": nn.ModuleDict({d: Decoder(cfg, c, blocks[d][1]) for d, c in channels.items()})})
        self.discriminators = nn.ModuleDict({d: MultiScaleDiscriminator(cfg, c) for d, c in channels.items()})
        kaiming_init_(self.generators)
        init_normal_(self.discriminators)

    @classmethod
    def direction_of(cls, algo: str) -> str:
        return algo.removesuffix("_fixed")

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {"generator": adam(self.generators, train), "discriminator": adam(self.discriminators, train)}

    def train_step(self, x: torch.Tensor, y: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        cfg, images = self.cfg, {"X": x, "Y": y}
        content, style, decoders = (self.generators[k] for k in ("content", "style", "decoders"))
        codes = {d: (content[d](images[d]), style[d](images[d])) for d in images}
        # s ~ N(0, I), the prior the samplers draw from (sec. 3.1); training draws from the run's seeded RNG
        prior = {d: torch.randn(len(images[d]), cfg.style_dim, device=x.device) for d in images}
        fakes = {target: decoders[target](codes[source][0], prior[target]) for source, target in DIRECTIONS.values()}
        loss_x = sum(l1_loss(decoders[d](*codes[d]), images[d]) for d in images)  # eq. 1, within-domain
        loss_c = loss_s = loss_cyc = torch.zeros((), device=x.device)
        cycle_weights = {"X": cfg.cycle_weight, "Y": cfg.cycle_weight_y}  # by the cycle's source domain
        for source, target in DIRECTIONS.values():  # eqs. 2-3: encode the translation again
            content_again = content[target](fakes[target])
            loss_c = loss_c + l1_loss(content_again, codes[source][0])
            loss_s = loss_s + l1_loss(style[target](fakes[target]), prior[target])
            if cycle_weights[source] > 0:  # back with the source's own style
                back = decoders[source](content_again, codes[source][1])
                loss_cyc = loss_cyc + cycle_weights[source] * l1_loss(back, images[source])
        with frozen(self.discriminators):
            loss_gan = sum(lsgan(self.discriminators[d](fakes[d]), 1.0) for d in images)  # eq. 4
        descend(optimizers["generator"], loss_gan + cfg.image_weight * loss_x
                + cfg.content_weight * loss_c + cfg.style_weight * loss_s + loss_cyc)
        loss_d = {d: lsgan(D(images[d]), 1.0) + lsgan(D(fakes[d].detach()), 0.0)
                  for d, D in self.discriminators.items()}
        descend(optimizers["discriminator"], loss_d["X"] + loss_d["Y"])
        return {"loss_g_gan": loss_gan.item(), "loss_recon_x": loss_x.item(), "loss_recon_c": loss_c.item(),
                "loss_recon_s": loss_s.item(), "loss_cycle": loss_cyc.item(),  # the cycles' weighted sum
                "loss_d_x": loss_d["X"].item(), "loss_d_y": loss_d["Y"].item()}

    def translate(self, source: torch.Tensor, *, direction: str = "forward",
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """G_target(E^c_source(source), s) with s ~ N(0, I) from ``generator`` (None: seeded 0): one style per
        input, or for a ``*_fixed`` direction one style for all, drawn from ``generator``'s seed alone (the same in
        every batch)."""
        if direction not in self.sampler_algos:
            raise ConfigError(f"munit: unknown direction '{direction}' (valid: {', '.join(self.sampler_algos)})")
        if generator is None:  # the training grid's call: the styles of seed 0, the same at every preview
            generator = torch.Generator().manual_seed(0)
        src, target = DIRECTIONS[self.direction_of(direction)]
        if direction.endswith("_fixed"):
            once = torch.Generator().manual_seed(generator.initial_seed())
            style = torch.randn(1, self.cfg.style_dim, generator=once).expand(len(source), -1)
        else:
            style = torch.randn(len(source), self.cfg.style_dim, generator=generator)
        content = self.generators["content"][src](source.to(self.device))
        return self.generators["decoders"][target](content, style.to(self.device)).clamp(-1.0, 1.0)

    def sampling_module(self) -> nn.Module:
        return self.generators

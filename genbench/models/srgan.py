"""SRGAN and SRResNet: Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network" (https://arxiv.org/abs/1609.04802), x4 on 64x64 photo patches (16x16 bicubic inputs).

Paper -> code: G_theta_G = ``generator`` (SRResNet, fig. 4 top), D_theta_D = ``discriminator`` (fig. 4 bottom),
phi = the frozen VGG16 content network, l^SR = content + 1e-3 adversarial (eq. 3).

- G: conv 9x9 + PReLU; ``res_blocks`` B residual blocks (conv-BN-PReLU-conv-BN + skip); conv-BN and the long
  skip from the first conv; log2(``scale``) upsamplers (conv to 4x width, pixel shuffle x2, PReLU); conv 9x9.
  The paper's B = 16 and 64 channels are the defaults. The output is linear and clamped in ``translate``.
  ``bicubic_skip`` (off: not in the paper) adds the bicubic upscale to G's output, for short CPU runs.
- D: conv 3x3 64 + LeakyReLU(0.2), seven conv-BN-LeakyReLU (64 s2, 128, 128 s2, 256, 256 s2, 512, 512 s2),
  dense 1024, LeakyReLU, dense 1: at 64x64 the dense layer sees 4x4x512. Non-saturating BCE (eq. 6).
- Content (sec. 2.2.1): ``content_loss`` "vgg" is the MSE between VGG features of G(I^LR) and I^HR at
  ``content_layer``, features rescaled by ``feature_scale`` = 1/12.75 as in the paper (sec. 3.2) so that the
  loss is of the order of the pixel MSE. The paper's VGG54 (VGG19, last conv of block 5, after four pools)
  is relu5_3 of VGG16 here, the default (a 4x4 map at 64x64; the paper's was 6x6 at 96x96); relu2_2 is its
  VGG22. "mse" is the pixel MSE (the paper's SRResNet-MSE). ``pixel_weight`` (0, not the paper's) adds the
  pixel MSE to the VGG loss, as ESRGAN's eta term.
- Preset ``srresnet``: content_loss mse, adversarial_weight 0: no discriminator is built and there is no D
  step (the paper's SRResNet-MSE row). ``srgan``: VGG content + 1e-3 adversarial (SRGAN-VGG54).
- Adam, beta1 0.9, lr 1e-4, batch 16 (sec. 3.2). The preset ``srgan`` starts G from the trained ``srresnet``
  (``train.init_from``), as the paper does; the paper's second phase at lr 1e-5 is not a schedule here (the
  default profile fine-tunes at 1e-5 throughout).

The VGG network (58 MB, frozen) is loaded by ``prepare`` and kept in a plain list, outside the registered
modules: it is not in ``state_dict`` (checkpoints stay small), nor moved by ``.to``, nor needed to translate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.functional import interpolate, mse_loss

from genbench.config.parse import bounded
from genbench.config import TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import ImageSpec, to_model_range
from genbench.models.losses import descend, discriminator_loss, generator_loss
from genbench.models.translation import Translator
from genbench.models.translation_layers import ResidualBlock, adam, conv_norm_act, frozen, leaky_relu

ContentLoss = Literal["vgg", "mse"]
VGG16_LAYERS = tuple(f"relu{b}_{i}" for b, n in enumerate((2, 2, 3, 3, 3), start=1) for i in range(1, n + 1))


@dataclass(frozen=True)
class Config:
    channels: int = bounded(64, ge=1)  # fig. 4: k3n64s1 in every residual block
    res_blocks: int = bounded(16, ge=0)  # B = 16 (sec. 3.2)
    scale: int = bounded(4, ge=2)  # upscaling factor; a power of two (pixel-shuffle x2 stages)
    content_loss: ContentLoss = "vgg"  # "vgg" (l^SR_VGG, sec. 2.2.1) or "mse" (pixel MSE, SRResNet-MSE)
    content_layer: str = "relu5_3"  # VGG16 analogue of the paper's VGG54; relu2_2 = VGG22
    feature_scale: float = bounded(1 / 12.75, gt=0)  # sec. 3.2: VGG feature maps rescaled by 1/12.75
    adversarial_weight: float = bounded(1e-3, ge=0)  # eq. 3; 0 = SRResNet (no discriminator)
    # Not in eq. 3 (0 = the paper's loss): the pixel MSE added to a VGG content loss, as ESRGAN's eta L1 term
    # (Wang et al. 2018, eq. 3), which keeps a short fine-tune near SRResNet's colours and edges.
    pixel_weight: float = bounded(0.0, ge=0)
    d_base_channels: int = bounded(64, ge=1)
    d_dense: int = bounded(1024, ge=1)
    # Not the paper's: G predicts a residual over the bicubic upscale (VDSR, Kim et al. 2016), its last conv
    # zero-initialised, so training starts at bicubic quality; for short (CPU) runs.
    bicubic_skip: bool = False

    def __post_init__(self) -> None:
        if self.content_layer not in VGG16_LAYERS:
            raise ConfigError(f"srgan: key 'model.content_layer' must be a VGG16 layer ({', '.join(VGG16_LAYERS)}), "
                              f"got '{self.content_layer}'")
        if self.scale & (self.scale - 1):
            raise ConfigError(f"srgan: key 'model.scale' must be a power of two >= 2, got {self.scale}")


def prelu(channels: int) -> nn.PReLU:
    return nn.PReLU(channels)


class SRResNet(nn.Module):
    def __init__(self, cfg: Config, channels: int) -> None:
        super().__init__()
        c = cfg.channels
        self.head = conv_norm_act(channels, c, 9, act=prelu)
        self.body = nn.Sequential(*(ResidualBlock(c, norm=nn.BatchNorm2d, act=prelu) for _ in range(cfg.res_blocks)),
                                  conv_norm_act(c, c, 3, norm=nn.BatchNorm2d))
        self.upsample = nn.Sequential(*(nn.Sequential(nn.Conv2d(c, 4 * c, 3, 1, 1), nn.PixelShuffle(2), prelu(c))
                                        for _ in range(cfg.scale.bit_length() - 1)))
        self.tail = nn.Conv2d(c, channels, 9, 1, 4)
        self.scale, self.bicubic_skip = cfg.scale, cfg.bicubic_skip
        if cfg.bicubic_skip:  # start as the bicubic upscale
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        out = self.tail(self.upsample(h + self.body(h)))
        if self.bicubic_skip:
            out = out + interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


def srgan_discriminator(cfg: Config, image: ImageSpec) -> nn.Sequential:
    w = cfg.d_base_channels
    layers = [conv_norm_act(image.channels, w, 3, act=leaky_relu)]
    widths = (w, w, 2 * w, 2 * w, 4 * w, 4 * w, 8 * w, 8 * w)  # k3n64s1 (no BN), then k3n64s2 ... k3n512s2
    for i, (w_in, w_out) in enumerate(zip(widths, widths[1:])):
        layers.append(conv_norm_act(w_in, w_out, 3, stride=2 if i % 2 == 0 else 1, padding=1, norm=nn.BatchNorm2d,
                                    act=leaky_relu))
    side = (image.height // 16) * (image.width // 16)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(8 * w * side, cfg.d_dense), nn.LeakyReLU(0.2, inplace=True),
                         nn.Linear(cfg.d_dense, 1), nn.Flatten(0))


@FAMILIES.register("srgan")
class SRGAN(Translator):
    """x``scale`` super-resolution: SRResNet G, trained with VGG or pixel content loss and (SRGAN) a D."""

    family = "srgan"
    task = "super_resolution"
    Config = Config
    training_arrays = ("lr", "images")
    inference_arrays = ("lr",)
    keeps_labels = False  # photo_patches' labels name the photo a patch is from, not a class of its content

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        super().__init__(cfg, image)
        multiple = math.lcm(cfg.scale, 16) if cfg.adversarial_weight > 0 else cfg.scale
        if image.height % multiple or image.width % multiple:
            raise ConfigError(f"srgan: cannot model {image.height}x{image.width} images (sides must be multiples of "
                              f"model.scale, and of 16 for the discriminator's four stride-2 convs)")
        self.generator = SRResNet(cfg, image.channels)
        self.discriminator = srgan_discriminator(cfg, image) if cfg.adversarial_weight > 0 else None
        self._content_network: list[nn.Module] = []  # a list: nn.Module does not register what is inside

    @classmethod
    def pinned_weights(cls, model_cfg) -> tuple[str, ...]:
        return ("vgg16",) if model_cfg.get("content_loss", Config.content_loss) == "vgg" else ()

    def prepare(self, class_names: tuple[str, ...]) -> None:
        if self.cfg.content_loss == "vgg":
            from genbench.features.vgg import load_vgg16  # imported here: only training needs it

            self.use_content_network(load_vgg16(device=str(self.device)))

    def use_content_network(self, net: nn.Module) -> None:
        """Set phi: a module with ``forward(x, layers) -> {layer: features}`` on RGB in [-1, 1], frozen here."""
        self._content_network[:] = [net.eval().requires_grad_(False)]

    def content_features(self, images: torch.Tensor) -> torch.Tensor:
        if not self._content_network:
            raise RuntimeError("srgan: the VGG16 content network is not loaded; call prepare() before training "
                               "(the train job does) or use content_loss: mse")
        net = self._content_network[0].to(images.device)
        return net(images, [self.cfg.content_layer])[self.cfg.content_layer] * self.cfg.feature_scale

    def training_tensors(self, arrays: Mapping[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = arrays["lr"].shape[1:], arrays["images"].shape[1:]
        if (lr[0], lr[1] * self.cfg.scale, lr[2] * self.cfg.scale) != hr:
            raise ConfigError(f"srgan: arrays 'lr' {lr} and 'images' {hr} are not x{self.cfg.scale} (model.scale)")
        return self.translation_inputs(arrays, "forward"), to_model_range(torch.from_numpy(arrays["images"]))

    def translation_inputs(self, arrays: Mapping[str, np.ndarray], direction: str) -> torch.Tensor:
        return to_model_range(torch.from_numpy(arrays["lr"]))

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        nets = {"generator": self.generator, "discriminator": self.discriminator}
        return {name: adam(net, train) for name, net in nets.items() if net is not None}

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        fake = self.generator(lr)
        losses = {}
        if self.discriminator is not None:  # D first, real and fake as separate BatchNorm batches
            real_logits, fake_logits = self.discriminator(hr), self.discriminator(fake.detach())
            loss_d = discriminator_loss(real_logits, fake_logits)
            descend(optimizers["discriminator"], loss_d)
            losses = {"loss_d": loss_d.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
                      "d_fake": torch.sigmoid(fake_logits).mean().item()}
        pixel_mse = mse_loss(fake, hr)
        if self.cfg.content_loss == "vgg":
            with torch.no_grad():
                target_features = self.content_features(hr)
            content = mse_loss(self.content_features(fake), target_features)
            loss_g = content + self.cfg.pixel_weight * pixel_mse
        else:
            content = loss_g = pixel_mse
        if self.discriminator is not None:
            with frozen(self.discriminator):
                loss_adv = generator_loss(self.discriminator(fake))  # eq. 6: -log D(G(I^LR))
            loss_g = loss_g + self.cfg.adversarial_weight * loss_adv
            losses["loss_g_adv"] = loss_adv.item()
        descend(optimizers["generator"], loss_g)
        return {"loss_content": content.item(), "pixel_mse": pixel_mse.item(), **losses}

    def translate(self, source: torch.Tensor, *, direction: str = "forward",
                  generator: torch.Generator | None = None) -> torch.Tensor:
        return self.generator(source.to(self.device)).clamp(-1.0, 1.0)

    def sampling_module(self) -> nn.Module:
        return self.generator

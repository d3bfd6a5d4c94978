"""Text-to-image as a cascade, after Imagen (Saharia et al. 2022, "Photorealistic Text-to-Image Diffusion
Models with Deep Language Understanding", https://arxiv.org/abs/2205.11487), at MNIST size.

- A frozen text encoder (all-MiniLM-L6-v2, ``genbench.text``; Imagen's is T5-XXL) embeds each caption once;
  the embeddings of the template captions (``genbench.text.captions``) are buffers of the model.
- The base stage: the DDPM UNet at half resolution (14x14), conditioned on the pooled caption embedding,
  projected and added to the timestep embedding (Imagen sec. 2.1 adds a pooled embedding too).
  Captions are dropped to a learned "no caption" vector with p ``label_dropout``, so sampling can use
  classifier-free guidance on the text (sec. 2.2): eps_null + s (eps_text - eps_null), s = ``guidance``.
- The super-resolution stage: a second UNet at full resolution that denoises x_t with the bilinearly
  upsampled low-resolution image concatenated to its input (sec. 2.4 and 2.5, without noise conditioning
  augmentation); it is trained on real low-resolution images (2x2 average pooled) and sampled on the base's.
Both stages train in the same step, each on its own optimiser. The sample job's class labels pick captions
with the held-out phrasings (image i gets phrasing i mod 3), so the class accuracy the evaluation reports
is the caption alignment on unseen phrasings. Sampler ``stage: base`` stops after the base stage (its
output upsampled), which measures what the super-resolution stage adds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from genbench.config import SamplerConfig, TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import ImageSpec
from genbench.models.ddpm import DDPM, UNet
from genbench.models.ddpm import Config as DDPMConfig
from genbench.models.ddpm_cond import classifier_free_guidance
from genbench.models.layers import balanced_labels, cpu_randn
from genbench.samplers import make_sampler
from genbench.text import EMBEDDING_DIM
from genbench.text.captions import HELD_OUT, TRAIN, captions

STAGES = ("", "base")  # "" = the whole cascade


@dataclass(frozen=True)
class Config(DDPMConfig):
    channel_mults: tuple[int, ...] = (1, 2)  # the base stage's UNet at 14x14: 14 -> 7
    sr_base_channels: int = 32
    sr_channel_mults: tuple[int, ...] = (1, 2, 2)  # the super-resolution UNet at 28x28
    label_dropout: float = 0.1  # caption -> "no caption" in training, for classifier-free guidance

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.label_dropout < 1.0:
            raise ConfigError(f"t2i: key 'model.label_dropout' must be in (0, 1), got {self.label_dropout}")
        if self.sr_base_channels < 1 or not self.sr_channel_mults or min(self.sr_channel_mults) < 1:
            raise ConfigError("t2i: keys 'model.sr_base_channels' and 'model.sr_channel_mults' must be >= 1")


def upsample(low: torch.Tensor) -> torch.Tensor:
    return F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False)


@FAMILIES.register("t2i")
class TextToImage(DDPM):
    family = "t2i"
    Config = Config
    likelihood_estimators = ()  # conditional on captions: not the unconditional likelihood
    label_kind = "class"
    sampler_options = frozenset({"guidance", "stage"})

    def __init__(self, cfg: Config, image: ImageSpec) -> None:
        factor = max(2, 2 ** (len(cfg.sr_channel_mults) - 1))  # even for the base stage; sr_unet's levels
        if image.height % factor or image.width % factor:
            raise ConfigError(f"t2i: image sides must be multiples of {factor} (a half-resolution base stage and "
                              f"{len(cfg.sr_channel_mults)} model.sr_channel_mults levels); got {image.height}x{image.width}")
        low = ImageSpec(image.channels, image.height // 2, image.width // 2, image.num_classes)
        super().__init__(cfg, low, cond_dim=EMBEDDING_DIM)  # self.unet: the base stage
        self.image, self.low = image, low
        self.sr_unet = UNet(channels=image.channels, extra_channels=image.channels,
                            base_channels=cfg.sr_base_channels, channel_mults=cfg.sr_channel_mults,
                            num_res_blocks=cfg.num_res_blocks, attention=False)
        self.null_text = nn.Parameter(torch.zeros(EMBEDDING_DIM))
        # [phrasing, class] caption embeddings, filled by ``prepare`` and saved with the weights
        self.register_buffer("train_text", torch.zeros(len(TRAIN), image.num_classes, EMBEDDING_DIM))
        self.register_buffer("held_out_text", torch.zeros(len(HELD_OUT), image.num_classes, EMBEDDING_DIM))
        self.class_names: tuple[str, ...] = tuple(str(c) for c in range(image.num_classes))

    @classmethod
    def pinned_weights(cls, model_cfg) -> tuple[str, ...]:
        return ("text-encoder",)

    def prepare(self, class_names: tuple[str, ...]) -> None:
        """Embed every template caption of ``class_names`` with the frozen encoder (fetched if needed)."""
        from genbench.text import fetch_text_encoder, load_text_encoder

        encoder = load_text_encoder(fetch_text_encoder())
        self.class_names = class_names
        for buffer, templates in ((self.train_text, TRAIN), (self.held_out_text, HELD_OUT)):
            table = torch.stack([encoder.encode(row) for row in captions(class_names, templates)])
            buffer.copy_(table.to(buffer.device))

    def get_extra_state(self) -> dict:
        return {"class_names": list(self.class_names)}  # saved in the checkpoint: captions can be named later

    def set_extra_state(self, state: dict) -> None:
        self.class_names = tuple(state["class_names"])

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        adam = dict(lr=train.lr, betas=train.betas, weight_decay=train.weight_decay)
        return {"base": torch.optim.Adam([*self.unet.parameters(), self.null_text], **adam),
                "sr": torch.optim.Adam(self.sr_unet.parameters(), **adam)}

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        low = F.avg_pool2d(images, 2)
        phrasing = torch.randint(0, len(TRAIN), labels.shape, device=labels.device)
        text = self.train_text[phrasing, labels]
        dropped = torch.rand(labels.shape, device=labels.device) < self.cfg.label_dropout
        text = torch.where(dropped[:, None], self.null_text.expand_as(text), text)
        base = self.diffusion_loss(self.unet, low, cond=text)
        sr = self.diffusion_loss(self.sr_unet, images, cond_image=upsample(low))
        for optimizer in optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        (base + sr).backward()  # the stages share no parameters: one backward serves both
        for optimizer in optimizers.values():
            optimizer.step()
        return {"base": base.item(), "sr": sr.item()}

    def label_captions(self, labels: torch.Tensor) -> list[str]:
        """The caption each sampled image was asked for (phrasing i mod 3 of the held-out templates)."""
        table = captions(self.class_names, HELD_OUT)
        return [table[i % len(HELD_OUT)][int(label)] for i, label in enumerate(labels)]

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        self.check_sampler(sampler, source="t2i.sample", cfg=self.cfg)
        labels = balanced_labels(n, self.image.num_classes, self.device) if labels is None else labels
        text = self.held_out_text[torch.arange(n, device=labels.device) % len(HELD_OUT), labels]
        noise = cpu_randn(n, *self._shape(self.low), generator=generator, device=self.device)
        low = self.denoise(noise, make_sampler(sampler, self.schedule), self._guided(text, sampler.guidance),
                           generator=generator)
        if sampler.stage == "base":
            return upsample(low).clamp(-1.0, 1.0)
        condition = upsample(low)
        noise = cpu_randn(n, *self._shape(self.image), generator=generator, device=self.device)
        return self.denoise(noise, make_sampler(sampler, self.schedule),
                            lambda x, t: self.as_noise(self.sr_unet(x, t, cond_image=condition), x, t),
                            generator=generator)

    @staticmethod
    def _shape(spec: ImageSpec) -> tuple[int, int, int]:
        return spec.channels, spec.height, spec.width

    def _guided(self, text: torch.Tensor, scale: float) -> Callable[[torch.Tensor, int], torch.Tensor]:
        return classifier_free_guidance(lambda x, t, c: self.as_noise(self.unet(x, t, cond=c), x, t), text,
                                        self.null_text.expand_as(text), scale)

    def sampling_module(self) -> nn.Module:
        return self  # both stages (and the null caption) are averaged; the caption buffers stay as they are

    def network_evaluations(self, sampler: SamplerConfig) -> int:
        """Per image: base-stage passes (two when guided; each a quarter of the pixels) plus the SR stage's."""
        steps = sampler.steps or self.cfg.timesteps
        base = steps * (1 if sampler.guidance in (0.0, 1.0) else 2)
        return base + (0 if sampler.stage == "base" else steps)

    @classmethod
    def check_sampler(cls, sampler: SamplerConfig, *, source: str, cfg: Config | None = None) -> None:
        super().check_sampler(sampler, source=source, cfg=cfg)
        if sampler.stage not in STAGES:
            raise ConfigError(f"{source}: key 'stage' must be 'base' (the first stage only) or absent (the cascade), "
                              f"got {sampler.stage!r}")

"""Text-to-image as a cascade, after Imagen (Saharia et al. 2022, "Photorealistic Text-to-Image Diffusion
Models with Deep Language Understanding", https://arxiv.org/abs/2205.11487), at MNIST size.

As in Imagen:
- A frozen text encoder embeds each caption once (Imagen's is T5-XXL; here all-MiniLM-L6-v2, ``genbench.text``,
  22M parameters to T5-XXL's 4.6B). The template captions' embeddings (``genbench.text.captions``) are
  buffers of the model, computed in ``prepare``.
- ``text_conditioning: cross_attention``: the base UNet reads the encoder's token embeddings (last hidden states,
  with their padding mask) through cross-attention at its lower resolutions (sec. 2.5, "Base model"; LayerNorm on
  the text embeddings first), and the pooled embedding, projected, is added to the timestep embedding.
- Classifier-free guidance on the text (sec. 2.2): captions are dropped with p ``label_dropout`` in training and
  sampling mixes eps_null + s (eps_text - eps_null), s = the sampler's ``guidance``.
- A super-resolution stage: a second UNet at full resolution denoising x_t with the bilinearly upsampled
  low-resolution image concatenated to its input (sec. 2.4-2.5); trained on real low-resolution images (2x2
  average pooled), sampled on the base's.
Not Imagen's:
- ``text_conditioning: pooled`` (the comparison preset, and what checkpoints without the key were): the pooled
  embedding alone; the base UNet never sees the tokens. Imagen's sec. 4.4 finds pooling clearly worse than
  cross-attention, in alignment and fidelity. The pooled vector here is MiniLM's sentence embedding (the masked
  mean of its tokens, L2-normalised), as sentence-transformers computes it, not a pooling trained with the UNet.
- Single-head cross-attention at the base stage only: the super-resolution stage sees no text (Imagen's 64->256
  and 256->1024 stages attend to it), and has no noise conditioning augmentation; no dynamic thresholding.
- The null caption: a learned vector for the pooled add-on; for the tokens, the encoder's tokens of the empty
  caption ([CLS] [SEP], the rest masked), what diffusers' pipelines feed as the empty negative prompt.
Both stages train in the same step, each on its own optimiser. The sample job's class labels pick captions
with the held-out phrasings (image i gets phrasing i mod 3), so the class accuracy the evaluation reports
is the caption alignment on unseen phrasings. Sampler ``stage: base`` stops after the base stage (its
output upsampled), which measures what the super-resolution stage adds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import nn
from torch.nn import functional as F

from genbench.config.parse import bounded, limits
from genbench.config import SamplerConfig, TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import ImageSpec
from genbench.models.ddpm import DDPM, UNet
from genbench.models.ddpm import Config as DDPMConfig
from genbench.models.ddpm_cond import Condition, classifier_free_guidance
from genbench.models.layers import balanced_labels, cpu_randn
from genbench.samplers import make_sampler
from genbench.text import EMBEDDING_DIM
from genbench.text.captions import HELD_OUT, TRAIN, captions

STAGES = ("", "base")  # "" = the whole cascade


@dataclass(frozen=True)
class Config(DDPMConfig):
    # the base stage's UNet at 14x14: 14 -> 7
    channel_mults: tuple[int, ...] = bounded((1, 2), min_items=1, each=limits(ge=1))
    sr_base_channels: int = bounded(32, ge=1)
    # the super-resolution UNet at 28x28
    sr_channel_mults: tuple[int, ...] = bounded((1, 2, 2), min_items=1, each=limits(ge=1))
    label_dropout: float = bounded(0.1, gt=0, lt=1)  # caption -> "no caption" in training, for classifier-free guidance
    # What the base UNet reads of a caption: its tokens by cross-attention plus the pooled vector (Imagen), or
    # the pooled vector only. The default is the one checkpoints without the key were trained with.
    text_conditioning: Literal["cross_attention", "pooled"] = "pooled"
    # a caption's tokens, [CLS] and [SEP] included, are cut to this (the templates need <= 12)
    max_tokens: int = bounded(16, ge=3)


def upsample(low: torch.Tensor) -> torch.Tensor:
    return F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False)


def _where(dropped: torch.Tensor, null: Condition, text: Condition) -> Condition:
    """``null`` where ``dropped`` (N,), else ``text``, part by part."""
    if isinstance(text, tuple):
        return tuple(_where(dropped, a, b) for a, b in zip(null, text))
    return torch.where(dropped.view(-1, *[1] * (text.ndim - 1)), null, text)


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
        cross_attention = cfg.text_conditioning == "cross_attention"
        super().__init__(cfg, low, cond_dim=EMBEDDING_DIM,  # self.unet: the base stage
                         context_dim=EMBEDDING_DIM if cross_attention else 0)
        self.image, self.low, self.cross_attention = image, low, cross_attention
        self.sr_unet = UNet(channels=image.channels, extra_channels=image.channels,
                            base_channels=cfg.sr_base_channels, channel_mults=cfg.sr_channel_mults,
                            num_res_blocks=cfg.num_res_blocks, attention=False)
        self.null_text = nn.Parameter(torch.zeros(EMBEDDING_DIM))
        # [phrasing, class] caption embeddings, filled by ``prepare`` and saved with the weights
        self.register_buffer("train_text", torch.zeros(len(TRAIN), image.num_classes, EMBEDDING_DIM))
        self.register_buffer("held_out_text", torch.zeros(len(HELD_OUT), image.num_classes, EMBEDDING_DIM))
        if self.cross_attention:  # [phrasing, class, token] token embeddings and masks; the empty caption's
            for name, templates in (("train", TRAIN), ("held_out", HELD_OUT)):
                shape = (len(templates), image.num_classes, cfg.max_tokens)
                self.register_buffer(f"{name}_tokens", torch.zeros(*shape, EMBEDDING_DIM))
                self.register_buffer(f"{name}_mask", torch.zeros(shape, dtype=torch.bool))
            self.register_buffer("null_tokens", torch.zeros(cfg.max_tokens, EMBEDDING_DIM))
            self.register_buffer("null_mask", torch.zeros(cfg.max_tokens, dtype=torch.bool))
        self.class_names: tuple[str, ...] = tuple(str(c) for c in range(image.num_classes))

    @classmethod
    def pinned_weights(cls, model_cfg) -> tuple[str, ...]:
        return ("text-encoder",)

    def prepare(self, class_names: tuple[str, ...]) -> None:
        """Embed every template caption of ``class_names`` with the frozen encoder (fetched if needed)."""
        from genbench.text import fetch_text_encoder, load_text_encoder

        encoder = load_text_encoder(fetch_text_encoder())
        self.class_names = class_names
        for name, templates in (("train", TRAIN), ("held_out", HELD_OUT)):
            rows = captions(class_names, templates)
            getattr(self, f"{name}_text").copy_(torch.stack([encoder.encode(row) for row in rows]))
            if self.cross_attention:
                tokens, mask = zip(*(encoder.encode_tokens(row, length=self.cfg.max_tokens) for row in rows))
                getattr(self, f"{name}_tokens").copy_(torch.stack(tokens))
                getattr(self, f"{name}_mask").copy_(torch.stack(mask))
        if self.cross_attention:
            tokens, mask = encoder.encode_tokens([""], length=self.cfg.max_tokens)
            self.null_tokens.copy_(tokens[0])
            self.null_mask.copy_(mask[0])

    def get_extra_state(self) -> dict:
        return {"class_names": list(self.class_names)}  # saved in the checkpoint: captions can be named later

    def set_extra_state(self, state: dict) -> None:
        self.class_names = tuple(state["class_names"])

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        adam = {"lr": train.lr, "betas": train.betas, "weight_decay": train.weight_decay}
        return {"base": torch.optim.Adam([*self.unet.parameters(), self.null_text], **adam),
                "sr": torch.optim.Adam(self.sr_unet.parameters(), **adam)}

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        low = F.avg_pool2d(images, 2)
        phrasing = torch.randint(0, len(TRAIN), labels.shape, device=labels.device)
        dropped = torch.rand(labels.shape, device=labels.device) < self.cfg.label_dropout
        text = _where(dropped, self._null(len(labels)), self._text("train", phrasing, labels))
        base = self.diffusion_loss(self.base_unet, low, text=text)
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
        text = self._text("held_out", torch.arange(n, device=labels.device) % len(HELD_OUT), labels)
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

    def _text(self, split: str, phrasing: torch.Tensor, labels: torch.Tensor) -> Condition:
        """What the base UNet reads of the captions [phrasing, label] of ``split`` (train or held_out): the
        pooled embeddings, with cross-attention also (tokens, mask)."""
        pooled = getattr(self, f"{split}_text")[phrasing, labels]
        if not self.cross_attention:
            return pooled
        return pooled, getattr(self, f"{split}_tokens")[phrasing, labels], getattr(self, f"{split}_mask")[phrasing, labels]

    def _null(self, n: int) -> Condition:
        """The "no caption" condition of ``n`` images: the learned pooled vector (and the empty caption's tokens)."""
        pooled = self.null_text.expand(n, -1)
        if not self.cross_attention:
            return pooled
        return pooled, self.null_tokens.expand(n, -1, -1), self.null_mask.expand(n, -1)

    def base_unet(self, x: torch.Tensor, t: torch.Tensor | int, text: Condition) -> torch.Tensor:
        """The base stage's UNet output on x_t given the caption condition ``text`` (``_text`` or ``_null``)."""
        if isinstance(text, tuple):
            pooled, tokens, mask = text
            return self.unet(x, t, cond=pooled, context=tokens, context_mask=mask)
        return self.unet(x, t, cond=text)

    def _guided(self, text: Condition, scale: float) -> Callable[[torch.Tensor, int], torch.Tensor]:
        n = (text[0] if isinstance(text, tuple) else text).shape[0]
        return classifier_free_guidance(lambda x, t, c: self.as_noise(self.base_unet(x, t, c), x, t), text,
                                        self._null(n), scale)

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

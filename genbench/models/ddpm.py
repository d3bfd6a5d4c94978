"""Denoising diffusion: Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models"
(https://arxiv.org/abs/2006.11239).

The family owns the eps-prediction UNet and the noise schedule; how to sample is a separate choice
(``genbench.samplers``: ``ddpm`` ancestral or ``ddim``, any number of steps). Paper -> code: eps_theta = ``unet``,
alpha-bar_t = ``schedule.alphas_cumprod[t]`` with the paper's t = 1..T stored at index t - 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional as F

from genbench.config.parse import bounded, limits
from genbench.config import LikelihoodConfig, SamplerConfig, TrainConfig
from genbench.errors import ConfigError
from genbench.models import FAMILIES
from genbench.models.base import GenerativeModel, ImageSpec, to_model_range
from genbench.models.diffusion_bound import vlb_terms
from genbench.models.layers import ResBlock, cpu_randn, group_norm, timestep_embedding
from genbench.samplers import Sampler, make_sampler
from genbench.samplers.schedule import BETA_SCHEDULES, NoiseSchedule


#: training targets of the UNet
Prediction = Literal["eps", "v"]


@dataclass(frozen=True)
class Config:
    """A small version of the paper's UNet (appendix B) sized for 28x28 on a CPU: 28 -> 14 -> 7."""

    base_channels: int = bounded(32, ge=1)
    # one resolution level each, halving between levels
    channel_mults: tuple[int, ...] = bounded((1, 2, 2), min_items=1, each=limits(ge=1))
    num_res_blocks: int = bounded(1, ge=1)  # per level on the way down, and on the way up
    attention: bool = False  # self-attention at the lowest resolution (the paper uses it at 16x16)
    timesteps: int = bounded(1000, ge=1)  # T, sec. 4
    schedule: str = "linear"  # linear (Ho et al.) or cosine (Nichol & Dhariwal 2021)
    # what the UNet predicts: "eps" (Ho et al. eq. 14) or "v" (Salimans & Ho 2022), sampled through the eps it implies
    prediction: Prediction = "eps"

    def __post_init__(self) -> None:
        if self.schedule not in BETA_SCHEDULES:
            raise ConfigError(f"ddpm: key 'model.schedule' must be one of {', '.join(BETA_SCHEDULES.names())}, "
                              f"got {self.schedule!r}")


class SelfAttention(nn.Module):
    """Single-head self-attention over pixels with a residual connection (Ho et al. appendix B)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)  # starts as the identity, like ResBlock
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).transpose(2, 3).unbind(1)  # each (n, hw, c)
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(out.transpose(1, 2).reshape(n, c, h, w))


class CrossAttention(nn.Module):
    """Single-head attention from every pixel to a token sequence (Saharia et al. 2022, sec. 2.5: cross-attention
    over the text embeddings, which pass a LayerNorm first, as the paper found that to help considerably), with
    a residual connection; ``mask`` (N, L) is True at real tokens, so padding is never attended to."""

    def __init__(self, channels: int, context_dim: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.context_norm = nn.LayerNorm(context_dim)
        self.q = nn.Conv2d(channels, channels, 1)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)  # starts as the identity, like SelfAttention
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.q(self.norm(x)).reshape(n, c, h * w).transpose(1, 2)  # (n, hw, c)
        k, v = self.kv(self.context_norm(context)).chunk(2, dim=-1)  # each (n, L, c)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, :])  # (n, hw, c)
        return x + self.proj(out.transpose(1, 2).reshape(n, c, h, w))


class UNet(nn.Module):
    """eps_theta(x_t, t). Each level: ``num_res_blocks`` ResBlocks, then a stride-2 conv down; the way up
    concatenates that level's last activation, runs as many ResBlocks and upsamples by nearest neighbour
    (the next ResBlock's convs do the smoothing, which saves a full-resolution conv per level on a CPU)."""

    def __init__(self, *, channels: int, base_channels: int, channel_mults: tuple[int, ...],
                 num_res_blocks: int, attention: bool, num_labels: int = 0, cond_dim: int = 0,
                 extra_channels: int = 0, context_dim: int = 0) -> None:
        super().__init__()
        emb_dim = 4 * base_channels  # as in the paper: sinusoid of width ch, MLP to 4 ch
        self.base_channels = base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # A conditional UNet adds a learned label embedding to the timestep embedding, so every ResBlock sees
        # it (as in Dhariwal & Nichol 2021's class-conditional ADM); ``num_labels`` counts the null label too.
        self.label_embedding = nn.Embedding(num_labels, emb_dim) if num_labels else None
        # A vector condition (e.g. a sentence embedding) is projected and added the same way; an image
        # condition (``extra_channels``, e.g. an upsampled low-resolution image) is concatenated to x_t.
        self.cond_projection = nn.Linear(cond_dim, emb_dim) if cond_dim else None
        self.stem = nn.Conv2d(channels + extra_channels, base_channels, 3, padding=1)

        widths = [base_channels * m for m in channel_mults]
        last = len(widths) - 1
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        ch = base_channels
        for level, width in enumerate(widths):
            self.down.append(nn.ModuleList(ResBlock(ch if j == 0 else width, width, emb_dim=emb_dim)
                                           for j in range(num_res_blocks)))
            self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1) if level < last else nn.Identity())
            ch = width

        self.mid1 = ResBlock(ch, ch, emb_dim=emb_dim)
        self.mid_attention = SelfAttention(ch) if attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, emb_dim=emb_dim)

        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(len(widths))):  # lowest resolution first
            width = widths[level]
            self.up.append(nn.ModuleList(ResBlock(ch + width if j == 0 else width, width, emb_dim=emb_dim)
                                         for j in range(num_res_blocks)))
            self.upsample.append(nn.Upsample(scale_factor=2, mode="nearest") if level > 0 else nn.Identity())
            ch = width

        self.head = nn.Sequential(group_norm(ch), nn.SiLU(), nn.Conv2d(ch, channels, 3, padding=1))

        # A token sequence (``context_dim``, e.g. a text encoder's token embeddings) is read by cross-attention
        # after the ResBlocks of every level below the top resolution, down and up, and in the middle (Imagen
        # attends at its lower resolutions). Built last, so that the blocks above draw the same initial weights
        # as in a UNet without it; empty without a context.
        lower = range(1, len(widths)) if context_dim else ()
        self.down_cross = nn.ModuleDict({str(level): CrossAttention(widths[level], context_dim) for level in lower})
        self.up_cross = nn.ModuleDict({str(level): CrossAttention(widths[level], context_dim) for level in lower})
        self.mid_cross = CrossAttention(widths[-1], context_dim) if context_dim else None

    def forward(self, x: torch.Tensor, t: torch.Tensor | int, labels: torch.Tensor | None = None, *,
                cond: torch.Tensor | None = None, cond_image: torch.Tensor | None = None,
                context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``context`` (N, L, context_dim) with ``context_mask`` (N, L, True at real tokens): the sequence the
        cross-attention blocks read, when the UNet has them."""
        if self.mid_cross is not None and (context is None or context_mask is None):
            raise ValueError("this UNet reads a token sequence: pass context and context_mask")
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:  # one timestep for the whole batch, as in a sampling loop
            t = t.expand(x.shape[0])
        emb = self.time_mlp(timestep_embedding(t, self.base_channels))
        if self.label_embedding is not None:
            if labels is None:
                raise ValueError("this UNet is label-conditional: pass labels (the null label for unconditional)")
            emb = emb + self.label_embedding(labels)
        if self.cond_projection is not None:
            emb = emb + self.cond_projection(cond)
        emb = F.silu(emb)
        if cond_image is not None:
            x = torch.cat([x, cond_image], dim=1)

        h = self.stem(x)
        skips = []
        for level, (blocks, down) in enumerate(zip(self.down, self.downsample)):
            for block in blocks:
                h = block(h, emb)
            if str(level) in self.down_cross:
                h = self.down_cross[str(level)](h, context, context_mask)
            skips.append(h)
            h = down(h)
        h = self.mid_attention(self.mid1(h, emb))
        if self.mid_cross is not None:
            h = self.mid_cross(h, context, context_mask)
        h = self.mid2(h, emb)
        for level, (blocks, up) in zip(reversed(range(len(self.up))), zip(self.up, self.upsample)):
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, emb)
            if str(level) in self.up_cross:
                h = self.up_cross[str(level)](h, context, context_mask)
            h = up(h)
        return self.head(h)


@FAMILIES.register("ddpm")
class DDPM(GenerativeModel):
    """Trained with L_simple (eq. 14): MSE between the true and predicted noise at a uniform timestep, or
    with ``prediction: v`` the MSE on v (Salimans & Ho 2022, sec. 4), which stays well scaled at both ends
    of the schedule; the samplers always receive the predicted noise (``predict_noise``)."""

    family = "ddpm"
    kind = "diffusion"
    Config = Config
    sampler_algos = ("ddpm", "ddim")
    likelihood_estimators = ("vlb",)  # conditional and latent subclasses have none (they reset it)
    #: the diffusion runs on pixels in [-1, 1] (so samplers clip x_0 there, and pixel-space experiments apply)
    pixel_space: ClassVar[bool] = True

    def __init__(self, cfg: Config, image: ImageSpec, *, num_labels: int = 0, cond_dim: int = 0,
                 context_dim: int = 0) -> None:
        super().__init__(cfg, image)
        factor = 2 ** (len(cfg.channel_mults) - 1)
        if image.height % factor or image.width % factor:
            raise ConfigError(f"{self.family}: key 'model.channel_mults' has {len(cfg.channel_mults)} levels, so "
                              f"image sides must be multiples of {factor}; got {image.height}x{image.width}")
        self.unet = UNet(channels=image.channels, base_channels=cfg.base_channels, channel_mults=cfg.channel_mults,
                         num_res_blocks=cfg.num_res_blocks, attention=cfg.attention, num_labels=num_labels,
                         cond_dim=cond_dim, context_dim=context_dim)
        self.schedule = NoiseSchedule(kind=cfg.schedule, timesteps=cfg.timesteps)

    def configure_optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {"unet": torch.optim.Adam(self.unet.parameters(), lr=train.lr, betas=train.betas,
                                         weight_decay=train.weight_decay)}

    def train_step(self, images: torch.Tensor, labels: torch.Tensor,
                   optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        loss = self.diffusion_loss(self.unet, images, labels=self.training_labels(labels))
        optimizers["unet"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["unet"].step()
        return {"loss": loss.item()}

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        self.check_sampler(sampler, source=f"{self.family}.sample", cfg=self.cfg)
        algo = make_sampler(sampler, self.schedule, clip_x0=self.pixel_space)
        x = cpu_randn(n, self.image.channels, self.image.height, self.image.width, generator=generator,
                      device=self.device)
        return self.denoise(x, algo, self.noise_estimator(sampler, labels), generator=generator)

    @staticmethod
    def denoise(x: torch.Tensor, algo: Sampler, eps: Callable[[torch.Tensor, int], torch.Tensor], *,
                generator: torch.Generator | None, clamp: bool = True) -> torch.Tensor:
        """Step ``x`` (x_t at ``algo.timesteps[0]``) through the sampler's timesteps down to x_0, with the noise
        estimate ``eps(x_t, t)``: plain sampling, a guided estimate, or SDEdit's partly noised start.
        ``clamp`` keeps x_0 in the pixel range [-1, 1]; a latent is returned as it is."""
        for t in algo.timesteps:
            x = algo.step(eps(x, t), t, x, generator=generator)
        return x.clamp(-1.0, 1.0) if clamp else x

    def training_labels(self, labels: torch.Tensor) -> torch.Tensor | None:
        """What the UNet is conditioned on in a training step: nothing for the unconditional model."""
        return None

    def noise_estimator(self, sampler: SamplerConfig,
                        labels: torch.Tensor | None) -> Callable[[torch.Tensor, int], torch.Tensor]:
        """(x_t, t) -> the eps the sampler steps with; the unconditional model ignores ``labels``."""
        return self.predict_noise

    def predict_noise(self, x_t: torch.Tensor, t: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The UNet's estimate of the noise in ``x_t`` at step ``t``, whatever it was trained to predict."""
        return self.as_noise(self.unet(x_t, t, labels), x_t, t)

    def as_noise(self, output: torch.Tensor, x_t: torch.Tensor, t: int) -> torch.Tensor:
        """A UNet output turned into its eps estimate: itself, or the eps a v-prediction implies."""
        return output if self.cfg.prediction == "eps" else self.schedule.noise_from_velocity(x_t, output, t)

    def diffusion_loss(self, net: Callable[..., torch.Tensor], images: torch.Tensor, **condition) -> torch.Tensor:
        """L_simple (eq. 14) of ``net(x_t, t, **condition)`` at a uniform timestep, on eps or v."""
        t = torch.randint(0, self.cfg.timesteps, (images.shape[0],), device=images.device)  # Algorithm 1, line 3
        noise = torch.randn_like(images)
        target = noise if self.cfg.prediction == "eps" else self.schedule.velocity(images, noise, t)
        return F.mse_loss(net(self.schedule.add_noise(images, noise, t), t, **condition), target)

    def sampling_module(self) -> nn.Module:
        return self.unet

    def negative_log_likelihood(self, images: torch.Tensor, *, generator: torch.Generator,
                                settings: LikelihoodConfig) -> dict[str, torch.Tensor]:
        """The variational bound L_vlb (genbench.models.diffusion_bound) and its three groups of terms."""
        if settings.vlb_steps > self.cfg.timesteps:
            raise ConfigError(f"key 'likelihood.vlb_steps' is {settings.vlb_steps}, but {self.family} has "
                              f"model.timesteps {self.cfg.timesteps}; use 0 (all) or fewer")
        terms = vlb_terms(self.predict_noise, to_model_range(images), self.schedule.alphas_cumprod,
                          generator=generator, steps=settings.vlb_steps)
        return {"vlb": terms.sum(dim=1), "vlb_decoder": terms[:, 0], "vlb_denoising": terms[:, 1:-1].sum(dim=1),
                "vlb_prior": terms[:, -1]}

    def likelihood_protocol(self, settings: LikelihoodConfig) -> dict[str, str]:
        steps = settings.vlb_steps or self.cfg.timesteps
        chain = "all T" if steps == self.cfg.timesteps else f"a respaced chain of {steps} of the T"
        return {"vlb": f"variational bound L_vlb (Ho et al. 2020 eq. 5) over {chain}={self.cfg.timesteps} steps, "
                       "one x_t draw per step, sigma_t^2 = posterior variance, discretised Gaussian decoder L_0",
                "vlb_decoder": "L_0 = -log p(x_0|x_1)", "vlb_denoising": "sum of L_1 .. L_{T-1}",
                "vlb_prior": "L_T = KL(q(x_T|x_0) || N(0, I))"}

    def preview_sampler(self) -> SamplerConfig:
        return SamplerConfig(algo="ddim", steps=min(20, self.cfg.timesteps))  # deterministic DDIM-20

    def network_evaluations(self, sampler: SamplerConfig) -> int:
        return sampler.steps or self.cfg.timesteps

    @classmethod
    def check_sampler(cls, sampler: SamplerConfig, *, source: str, cfg: Config | None = None) -> None:
        """Also checks ``steps`` against ``cfg.timesteps`` (the default T when no model config is given)."""
        super().check_sampler(sampler, source=source)
        timesteps = (cfg or cls.Config()).timesteps
        if not 0 <= sampler.steps <= timesteps:
            raise ConfigError(f"{source}: key 'steps' must be in [0, {timesteps}] (0 = all of model.timesteps), "
                              f"got {sampler.steps}")
        if not 0.0 <= sampler.eta <= 1.0:
            raise ConfigError(f"{source}: key 'eta' must be in [0, 1], got {sampler.eta}")

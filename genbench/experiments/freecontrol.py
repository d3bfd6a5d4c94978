"""FreeControl: Mo, Mu, Lin, Liu, Guan, Li & Zhou 2023, "FreeControl: Training-Free Spatial Control of Any
Text-to-Image Diffusion Model with Any Condition" (https://arxiv.org/abs/2312.07536; reference code
github.com/genforce/freecontrol), on genbench's class-conditional diffusion model: a class label is its
prompt and the null label its empty ("generic") prompt.

Nothing is trained. Equation numbers are those of arXiv:2312.07536v1 as we read it; each formula is also
written out beside the code, so the numbering can be checked against the paper.

- Analysis (sec. 3.2): ``n_seed`` seed images from the generic prompt, DDIM-inverted; at every timestep t of
  the sampler, the UNet's decoder features F_t (``Features``: one decoder level, the reference code's
  ``up_blocks.1``) over all seed pixels; PCA gives the semantic bases B_t (top ``n_bases`` directions) and the
  semantic coordinates S_t = (F_t - mean_t) B_t.
- Synthesis (sec. 3.3): the guidance image is DDIM-inverted the same way, giving its coordinates S_t^g. Each
  guided step adds to the classifier-free-guided noise estimate the gradient of the structure energy g_s
  (eq. 3, without the mask: the paper's image-to-image variant) and of the appearance energy g_a (eq. 5)
  against a sibling sample drawn from the same noise without structure guidance (eq. 6's combination).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from genbench.config import SamplerConfig, bounded
from genbench.models.ddpm import DDPM
from genbench.models.ddpm_cond import ConditionalDDPM
from genbench.models.layers import cpu_randn
from genbench.samplers.ddim import DDIMSampler

__all__ = ["FreeControlConfig", "Bases", "Features", "analyse", "appearance_energy", "appearance_vectors",
           "condition_image", "coordinates", "invert", "structure_energy", "synthesise", "translate"]

@dataclass(frozen=True)
class FreeControlConfig:
    """Training-free structure control of the named class-conditional
    diffusion models, against an image-to-image baseline: translate the first ``n`` test images of
    ``source_dataset`` into the model's domain, on the rows the baseline preset's ``baseline_direction``
    translated (CycleGAN's F: MNIST-M -> MNIST)."""

    presets: tuple[str, ...] = bounded((), unique=True)
    source_dataset: str = "mnist_m"
    baseline: str = "cyclegan"  # a translator preset of the profile, trained on source_dataset
    baseline_direction: str = "backward"
    n: int = bounded(1000, ge=2)
    batch_size: int = bounded(50, ge=1)
    steps: int = bounded(20, ge=2)  # DDIM steps of inversion and synthesis (both visit the same timesteps)
    n_seed: int = bounded(20, ge=1)  # N_s: seed images of the analysis stage
    n_bases: int = bounded(16, ge=1)  # N_b: semantic bases kept per timestep
    n_appearance: int = bounded(2, ge=1)  # N_a: leading bases whose coordinates weight the appearance vectors
    # lambda_s and lambda_a of eq. 6; lambda_s swept on 100 MNIST-M train rows (benchmarks/freecontrol_sweep.py)
    structure_scale: float = bounded(30.0, ge=0)
    appearance_scale: float = bounded(0.5, ge=0)
    # classifier-free guidance s (genbench's scale: 1 = the conditional model alone)
    guidance: float = bounded(3.0, ge=0)
    # the first steps guided: the reference config's steps 0-80 of 200
    guided_fraction: float = bounded(0.4, gt=0, lt=1)
    feature_block: int = bounded(1, ge=0)  # decoder level read: 0 = the lowest resolution (the UNet's ``up`` list)
    # coordinates below it weight no appearance vector (reference code)
    appearance_threshold: float = bounded(0.5, ge=0, le=1)
    # Start the controlled sample from the guidance image's inverted x_T (the reference code's ``same_latent``);
    # the appearance sibling starts from fresh noise either way.
    start_from_inversion: bool = True


Bases = dict[int, tuple[torch.Tensor, torch.Tensor]]  # timestep -> (feature mean (C,), B_t (C, n_bases))


class Features:
    """Captures the output of one decoder level of the UNet on every forward pass (a forward hook), so the
    features are those of the pass that computed eps: they carry its autograd graph when it has one."""

    def __init__(self, model: DDPM, block: int) -> None:
        levels = model.unet.up
        if not 0 <= block < len(levels):
            raise ValueError(f"freecontrol: feature_block must be in [0, {len(levels) - 1}], got {block}")
        self.module = levels[block][-1]
        self.last: torch.Tensor | None = None

    @contextlib.contextmanager
    def tapped(self) -> Iterator[Features]:
        handle = self.module.register_forward_hook(lambda _m, _i, output: setattr(self, "last", output))
        try:
            yield self
        finally:
            handle.remove()
            self.last = None


def _ddim(model: DDPM, steps: int) -> DDIMSampler:
    sampler = DDIMSampler(model.schedule, eta=0.0, clip_x0=model.pixel_space)
    sampler.set_timesteps(steps)
    return sampler


def invert(model: DDPM, images: torch.Tensor, labels: torch.Tensor, features: Features, *,
           steps: int) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """DDIM inversion (Song et al. 2021, eq. 13 run forwards) of ``images`` in [-1, 1] along the sampler's
    timesteps in ascending order: ({t: F_t}, x_T^inv), the UNet's features at every (x_t^inv, t) and the last
    level reached. The noise that moves
    x_t to the next level is the one evaluated at (x_t, t), the usual inversion approximation; the first
    step from the clean image uses eps(x_0, t_1), since x_0 has no timestep of its own. steps + 1 passes."""
    ascending = [int(t) for t in reversed(_ddim(model, steps).timesteps)]
    abar = model.schedule.alphas_cumprod.detach().to("cpu", torch.float64)
    collected: dict[int, torch.Tensor] = {}
    with torch.no_grad(), features.tapped():
        x, level = images, 1.0
        eps = model.predict_noise(x, ascending[0], labels)
        for t in ascending:
            x0 = (x - (1.0 - level) ** 0.5 * eps) / level**0.5
            level = float(abar[t])
            x = level**0.5 * x0 + (1.0 - level) ** 0.5 * eps
            eps = model.predict_noise(x, t, labels)  # also the next level's noise
            collected[t] = features.last
    return collected, x


def analyse(model: ConditionalDDPM, settings: FreeControlConfig, *, generator: torch.Generator) -> Bases:
    """Sec. 3.2: seed images from the generic prompt (DDIM), inverted; per timestep the PCA of their features
    over all pixels: the mean and the top ``n_bases`` principal directions. PCA's signs are arbitrary, so
    each direction is oriented to make its largest entry positive: the bases are a function of the seed."""
    n = settings.n_seed
    null = torch.full((n,), model.null_label, device=model.device)
    sampler = SamplerConfig(algo="ddim", steps=settings.steps, guidance=0.0)
    with torch.no_grad():
        seeds = model.sample(n, generator=generator, sampler=sampler, labels=null)
    features = Features(model, settings.feature_block)
    bases: Bases = {}
    for t, f in invert(model, seeds, null, features, steps=settings.steps)[0].items():
        rows = f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]).double()  # (N_s h w, C)
        mean = rows.mean(dim=0)
        _, _, vh = torch.linalg.svd(rows - mean, full_matrices=False)
        basis = vh[:settings.n_bases].T  # (C, N_b)
        signs = torch.sign(basis.gather(0, basis.abs().argmax(dim=0, keepdim=True)))
        bases[t] = (mean.float(), (basis * signs).float())
    return bases


def coordinates(f: torch.Tensor, mean: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """S_t = (F_t - mean) B_t (sec. 3.2) as (N, N_b, h, w), each map min-max normalised to [0, 1] per image, as the
    reference code does (``normalized: True``): coordinates of different images and timesteps then compare.
    The normalising extremes are constants of the gradient (detached), as there."""
    s = torch.einsum("nchw,ck->nkhw", f - mean[None, :, None, None], basis)
    low = s.amin(dim=(2, 3), keepdim=True).detach()
    high = s.amax(dim=(2, 3), keepdim=True).detach()
    return (s - low) / (high - low + 1e-7)


def structure_energy(s: torch.Tensor, s_guide: torch.Tensor) -> torch.Tensor:
    """Eq. 3 without the mask (every pixel in M, the paper's image-to-image variant):
    g_s = sum_ij ||[s_t]_ij - [s_t^g]_ij||^2 / (h w), per image (N,)."""
    return (s - s_guide).pow(2).sum(dim=1).mean(dim=(1, 2))


def appearance_vectors(s: torch.Tensor, f: torch.Tensor, n_appearance: int, threshold: float) -> torch.Tensor:
    """Eq. 4: v_t^(k) = sum_ij w([s_t^(k)]_ij) [f_t]_ij / sum_ij w([s_t^(k)]_ij) for the first N_a bases, (N, N_a, C).
    The paper's weight w is a sigmoid; on the normalised coordinates we use the reference code's
    w(s) = s [s > threshold], which keeps the pixels a basis is active on."""
    w = s[:, :n_appearance]
    w = w * (w > threshold)
    return torch.einsum("nkhw,nchw->nkc", w, f) / (w.sum(dim=(2, 3))[..., None] + 1e-5)


def appearance_energy(v: torch.Tensor, v_sibling: torch.Tensor) -> torch.Tensor:
    """Eq. 5: g_a = sum_k ||v_t^(k) - v-bar_t^(k)||^2 / N_a, per image (N,); the sibling's side is a target."""
    return (v - v_sibling.detach()).pow(2).sum(dim=2).mean(dim=1)


def synthesise(model: ConditionalDDPM, guide: dict[int, torch.Tensor], bases: Bases, labels: torch.Tensor,
               null: torch.Tensor, settings: FreeControlConfig, *, generator: torch.Generator,
               start: torch.Tensor | None = None) -> torch.Tensor:
    """Images in [-1, 1] of ``labels`` whose structure follows the guidance features ``guide`` ({t: F_t^g} from
    ``invert``). Eq. 6: eps-hat = eps_cfg + lambda_s g_s + lambda_a g_a in the guided steps, with g the energies'
    gradients w.r.t. x_t scaled by sqrt(1 - alpha-bar_t) (Dhariwal & Nichol's eq. 14). As in the reference
    code's scheduler, the shift enters the eps of DDIM's direction term only, after x0-hat is taken from eps_cfg,
    and with the sign that lowers the energies there: added to the whole eps, x0 clipping at large t discarded
    it (benchmarks/README.md, "FreeControl"). DDIM (eta 0) steps otherwise. With both scales 0 this is plain
    DDIM from the same noise: ``model.sample`` with the same generator, bitwise."""
    sampler = _ddim(model, settings.steps)
    cfg = SamplerConfig(algo="ddim", steps=settings.steps, guidance=settings.guidance)
    condition = null if settings.guidance == 0.0 else labels
    eps_cfg = model.noise_estimator(cfg, labels)
    x = cpu_randn(len(labels), model.image.channels, model.image.height, model.image.width, generator=generator,
                  device=model.device)
    sibling = x.clone()  # the same seed without structure guidance: the appearance reference (sec. 3.3)
    if start is not None:
        x = start.clone()
    guided = {int(t) for t in sampler.timesteps[:round(settings.guided_fraction * settings.steps)]}
    if not (settings.structure_scale or settings.appearance_scale):
        guided = set()
    features = Features(model, settings.feature_block)
    with features.tapped():
        for t in (int(t) for t in sampler.timesteps):
            if t not in guided:
                with torch.no_grad():
                    x = sampler.step(eps_cfg(x, t), t, x, generator=generator)
                continue
            mean, basis = bases[t]
            with torch.no_grad():
                eps_sibling = _guided_noise(model, sibling, t, condition, null, settings.guidance)
                s_sibling = coordinates(features.last, mean, basis)
                v_sibling = appearance_vectors(s_sibling, features.last, settings.n_appearance,
                                               settings.appearance_threshold)
            with torch.enable_grad():
                x_in = x.detach().requires_grad_(True)
                eps = _guided_noise(model, x_in, t, condition, null, settings.guidance)
                s = coordinates(features.last, mean, basis)
                energy = settings.structure_scale * structure_energy(s, coordinates(guide[t], mean, basis))
                if settings.appearance_scale:
                    v = appearance_vectors(s, features.last, settings.n_appearance, settings.appearance_threshold)
                    energy = energy + settings.appearance_scale * appearance_energy(v, v_sibling)
                (grad,) = torch.autograd.grad(energy.sum(), x_in)  # each image's energy depends on its own x only
            abar = float(sampler.coefficients(t)[0])
            with torch.no_grad():
                x = sampler.step(eps.detach(), t, x, generator=generator, direction_shift=-(1.0 - abar) ** 0.5 * grad)
                sibling = sampler.step(eps_sibling, t, sibling, generator=generator)
    return x.clamp(-1.0, 1.0)


def _guided_noise(model: DDPM, x: torch.Tensor, t: int, condition: torch.Tensor, null: torch.Tensor,
                  scale: float) -> torch.Tensor:
    """eps_cfg of ddpm_cond's ``classifier_free_guidance``, with the conditional pass run last and alone, so
    that the captured features (and the gradient) are that pass's: the paper guides the conditional branch."""
    if scale in (0.0, 1.0):
        return model.predict_noise(x, t, condition)
    with torch.no_grad():
        unconditional = model.predict_noise(x.detach(), t, null)
    conditional = model.predict_noise(x, t, condition)
    return unconditional + scale * (conditional - unconditional)


def condition_image(rgb: np.ndarray) -> np.ndarray:
    """The guidance image of an MNIST-M input for a model of MNIST, uint8 (N, 1, H, W): the luma's distance
    from its median (the background), stretched to [0, 255]. MNIST-M paints a digit as |photo - digit|, so
    on luma alone the stroke is darker or brighter than its background depending on the photo; the MNIST
    model's features of the plain luma carried no more of the digit than of a random one (benchmarks/README.md,
    "FreeControl"). Like ControlNet's and FreeControl's edge or depth conditions, a fixed, training-free map."""
    luma = np.tensordot(np.array([0.299, 0.587, 0.114]), rgb.astype(np.float64), axes=(0, 1))[:, None]
    distance = np.abs(luma - np.median(luma, axis=(1, 2, 3), keepdims=True))
    peak = np.maximum(distance.max(axis=(1, 2, 3), keepdims=True), 1.0)
    return np.round(distance / peak * 255.0).astype(np.uint8)


def translate(model: ConditionalDDPM, guidance_images: torch.Tensor, labels: torch.Tensor, bases: Bases,
              settings: FreeControlConfig, *, seed: int) -> torch.Tensor:
    """FreeControl image-to-image over ``guidance_images`` in [-1, 1], in batches of ``settings.batch_size``:
    inversion, then synthesis from the same seeded noise per batch (batch k draws with seed + k)."""
    null = torch.full_like(labels, model.null_label)
    features = Features(model, settings.feature_block)
    chunks = []
    for k, first in enumerate(range(0, len(labels), settings.batch_size)):
        rows = slice(first, first + settings.batch_size)
        guide, inverted = invert(model, guidance_images[rows], null[rows], features, steps=settings.steps)
        chunks.append(synthesise(model, guide, bases, labels[rows], null[rows], settings,
                                 generator=torch.Generator().manual_seed(seed + k),
                                 start=inverted if settings.start_from_inversion else None))
    return torch.cat(chunks)

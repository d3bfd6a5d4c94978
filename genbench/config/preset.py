"""A preset (``params/models/<preset>.yaml``): one model family with its training recipe and sampler
settings. The family's own ``model`` keys are checked by the family (``genbench.config.validate``)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from genbench.config.parse import deep_merge, from_dict, read_yaml
from genbench.errors import ConfigError

PRESET_DIR = Path("params/models")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    ema_decay: float = 0.0  # 0 disables EMA; sampling uses the EMA weights when enabled
    max_train_images: int = 0  # 0 = the whole train split; >0 takes a fixed, seeded subset
    log_every: int = 50
    grid_size: int = 64  # images in the sample-grid artifact logged at the end of training
    # A preset of the same family and profile whose trained checkpoint (same dataset and seed) initialises
    # this model's sampling network before training: SRGAN's G starts from the trained SRResNet (Ledig et al.
    # 2017, sec. 3.2). "" = random initialisation.
    init_from: str = ""
    # The dataset whose init_from checkpoint to start from: "" = this run's own. Another one fine-tunes a model
    # trained there on this dataset (ddpm_ft: the MNIST DDPM fine-tuned on Fashion-MNIST).
    init_dataset: str = ""
    # The sampling network's weights (EMA when kept) at this many evenly spaced steps before the last, saved
    # to milestones.pt for the FD-over-training figure (genbench.jobs.training_curve); 0 = none. A run started from
    # init_from also keeps its step 0 there (the source's weights: where fine-tuning starts).
    curve_points: int = 4


@dataclass(frozen=True)
class SamplerConfig:
    """How to draw samples from a trained model. ``algo`` is ``direct`` for one-shot generators
    (GAN, VAE) or the name of a registered diffusion sampler (``ddpm``, ``ddim``)."""

    algo: str = "direct"
    steps: int = 0  # diffusion samplers only; 0 = the model's training timesteps
    eta: float = 0.0  # DDIM only: 0 deterministic, 1 DDPM-like variance
    # Truncation trick of style-based generators (Karras et al. 2019, sec. 2.1 and appendix B):
    # w' = w_avg + psi (w - w_avg); 1 = off.
    psi: float = 1.0
    # Truncated-normal latent (Brock et al. 2019, BigGAN sec. 3.1): entries of z with |z| > truncation are
    # redrawn; 0 = off. Lower values trade diversity (recall) for fidelity (precision).
    truncation: float = 0.0
    # Classifier-free guidance scale s of a class-conditional diffusion model (Ho & Salimans 2022):
    # eps = eps(x, null) + s (eps(x, y) - eps(x, null)); 1 = the conditional model alone, 0 = unconditional.
    # The paper's w is s - 1.
    guidance: float = 1.0
    # Temperature T of a flow's prior (Kingma & Dhariwal 2018, Glow, sec. 5 and Fig. 8): z ~ N(mu, (T sigma)^2);
    # 1 = the model's own distribution, lower trades diversity for smoother samples, as truncation does.
    temperature: float = 1.0
    # Images this setting draws for evaluation; 0 = evaluation.n_fake. Lets a costly sweep (DDPM over all
    # 1000 steps on a CPU) use fewer images; every metric records the n it used.
    n: int = 0
    # Of a cascaded model (t2i): "" = the whole cascade, "base" = its first (low-resolution) stage only.
    stage: str = ""
    # Draw nothing: take the first ``n`` images of this other setting of the preset, drawn alike (same algo, steps,
    # eta, psi, truncation, guidance, temperature, stage) from the same checkpoint and seed. A sweep point at a
    # smaller n then costs no sampling (the step and guidance sweeps compare settings at one n).
    first_of: str = ""

    @property
    def truncated(self) -> bool:
        """Whether the setting pulls samples towards the mode (psi < 1, a truncated z, a cooled prior)."""
        return self.psi < 1.0 or self.truncation > 0.0 or self.temperature < 1.0

    def draws_like(self, other: SamplerConfig) -> bool:
        """Whether both settings draw from the same distribution (they may differ in n and first_of)."""
        return replace(self, n=0, first_of="") == replace(other, n=0, first_of="")


@dataclass(frozen=True)
class PresetConfig:
    family: str
    model: Mapping[str, Any] = field(default_factory=dict)  # validated by the family's Config
    train: TrainConfig = TrainConfig()
    samplers: Mapping[str, SamplerConfig] = field(default_factory=lambda: {"direct": SamplerConfig()})
    # The sampler setting that stands for the model where one is needed (memorisation check, FD over training,
    # the report's first screen); "" = the first untruncated setting drawing evaluation.n_fake (main_sampler).
    # A truncated one would judge the model by samples pulled towards its mode.
    main: str = ""


def milestone_steps(steps: int, points: int) -> tuple[int, ...]:
    """``points`` evenly spaced steps strictly between 0 and ``steps`` (the last step is the checkpoint)."""
    return tuple(sorted({round(steps * i / (points + 1)) for i in range(1, points + 1)} - {0, steps}))


def main_sampler(preset: PresetConfig) -> str:
    """The setting a preset is judged by when one is needed: its ``main``, else the first untruncated setting
    drawing evaluation.n_fake images (no ``n`` of its own), preferring untruncated over n_fake, else the first."""
    if preset.main:
        return preset.main
    return min(preset.samplers, key=lambda name: (preset.samplers[name].truncated, bool(preset.samplers[name].n)))


def read_preset(name: str, overrides: Mapping[str, Any] | None = None, *, preset_dir: Path = PRESET_DIR,
                profile_source: str = "profile", samplers: bool = True) -> tuple[PresetConfig, str]:
    """``params/models/<name>.yaml`` with a profile's per-preset overrides applied, and the source to name in
    errors. Its ``model`` keys are checked by the family (``genbench.config.validate.load_preset``).

    ``samplers=False`` reads the training recipe alone (family, model, train; no sampler settings): what a
    training job depends on, so that a sampler edit re-runs the sampling jobs only."""
    path = preset_dir / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in preset_dir.glob("*.yaml"))
        raise ConfigError(f"{path}: no such preset '{name}' (known presets: {', '.join(known)})")
    raw = read_yaml(path)
    source = str(path)
    if not samplers:
        raw = {**raw, "samplers": {}, "main": ""}
        overrides = {k: v for k, v in (overrides or {}).items() if k not in ("samplers", "main")}
    if overrides:
        overrides, removed = split_removed_samplers(overrides, raw, source=f"{profile_source} (overrides.{name})")
        from_dict(PresetConfig, deep_merge({"family": raw.get("family", "")}, overrides),
                  source=f"{profile_source} (overrides.{name})", prefix="")
        raw = deep_merge(raw, overrides)
        raw["samplers"] = {k: v for k, v in raw.get("samplers", {}).items() if k not in removed}
        if raw.get("main") in removed:
            raise ConfigError(f"{profile_source}: key 'overrides.{name}.samplers.{raw['main']}' removes the preset's "
                              f"main sampler; keep it or set overrides.{name}.main to another of its samplers")
        source = f"{path} + {profile_source} overrides.{name}"
    preset = from_dict(PresetConfig, raw, source=source)
    if samplers and preset.main and preset.main not in preset.samplers:
        raise ConfigError(f"{source}: key 'main' names '{preset.main}', not a sampler of the preset; name one of "
                          f"{', '.join(preset.samplers)} or drop the key (= the first untruncated)")
    return preset, source


def check_first_of(samplers: Mapping[str, SamplerConfig], *, source: str) -> None:
    """A ``first_of`` setting names a drawing setting of the same preset that draws alike and at least as many
    images (a parent without ``n`` draws evaluation.n_fake, checked when the images are taken)."""
    for name, sampler in samplers.items():
        if not sampler.first_of:
            continue
        key = f"{source}: key 'samplers.{name}.first_of'"
        parent = samplers.get(sampler.first_of)
        if parent is None or parent.first_of:
            drawing = ", ".join(k for k, s in samplers.items() if not s.first_of)
            raise ConfigError(f"{key}: '{sampler.first_of}' is not a drawing sampler of the preset (those: {drawing})")
        if not sampler.draws_like(parent):
            raise ConfigError(f"{key}: '{sampler.first_of}' draws with other settings; set the same algo, steps, "
                              "eta, psi, truncation, guidance and stage, or drop first_of")
        if not sampler.n or (parent.n and parent.n < sampler.n):
            raise ConfigError(f"{key}: set 'n' to at most the {parent.n or 'evaluation.n_fake'} images "
                              f"'{sampler.first_of}' draws, got {sampler.n or 'none'}")


def split_removed_samplers(overrides: Mapping[str, Any], preset: Mapping[str, Any], *,
                            source: str) -> tuple[dict[str, Any], set[str]]:
    """A profile drops a preset's sampler with ``samplers: {name: null}`` (e.g. a costly sweep point on a
    CPU, or steps beyond a smoke profile's timesteps); returns the overrides without those and their names."""
    samplers = overrides.get("samplers")
    if not isinstance(samplers, Mapping):
        return dict(overrides), set()
    removed = {k for k, v in samplers.items() if v is None}
    unknown = sorted(removed - set(preset.get("samplers") or {}))
    if unknown:
        raise ConfigError(f"{source}: key 'samplers.{unknown[0]}' is null (= remove), but the preset has no such "
                          f"sampler (its samplers: {', '.join(preset.get('samplers') or {})})")
    kept = {k: v for k, v in samplers.items() if v is not None}
    if not kept and len(removed) == len(preset.get("samplers") or {}):
        raise ConfigError(f"{source}: key 'samplers' removes every sampler of the preset; keep at least one")
    return {**overrides, "samplers": kept}, removed

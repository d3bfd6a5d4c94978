"""YAML -> typed, frozen dataclasses.

Defaults live in code; ``params/*.yaml`` only override them. Any unknown key or wrong type is a
``ConfigError`` whose one-line message names the file and the dotted key, raised before any job runs.

Two kinds of file:
- a *profile* (``params/default.yaml``, ``ci.yaml``, ``full.yaml``): what to run and how to measure it;
- a *preset* (``params/models/<preset>.yaml``): one model family with its hyperparameters.
A profile may override any preset key per preset (``overrides: {dcgan: {train: {steps: 20}}}``), which is
how ``ci.yaml`` makes every model train for seconds without a second set of presets.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

PRESET_DIR = Path("params/models")
METRIC_NAMES = ("fd", "kid", "is", "pr", "dc")  # FD, KID, IS, precision/recall, density/coverage (genbench.evaluate)


class ConfigError(ValueError):
    """A user-fixable configuration problem; ``str(e)`` is the one-line message to show."""


# --------------------------------------------------------------------------- sections


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
    # The sampling network's weights (EMA when kept) at this many evenly spaced steps before the last, saved
    # to milestones.pt for the FD-over-training figure (genbench.evaluate_curve); 0 = none.
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
    # Images this setting draws for evaluation; 0 = evaluation.n_fake. Lets a costly sweep (DDPM over all
    # 1000 steps on a CPU) use fewer images; every metric records the n it used.
    n: int = 0
    # Of a cascaded model (t2i): "" = the whole cascade, "base" = its first (low-resolution) stage only.
    stage: str = ""
    # Draw nothing: take the first ``n`` images of this other setting of the preset, drawn alike (same algo,
    # steps, eta, psi, truncation, guidance, stage) from the same checkpoint and seed. A sweep point at a
    # smaller n then costs no sampling (the step and guidance sweeps compare settings at one n).
    first_of: str = ""

    def draws_like(self, other: SamplerConfig) -> bool:
        """Whether both settings draw from the same distribution (they may differ in n and first_of)."""
        return replace(self, n=0, first_of="") == replace(other, n=0, first_of="")


@dataclass(frozen=True)
class PresetConfig:
    family: str
    model: Mapping[str, Any] = field(default_factory=dict)  # validated by the family's Config
    train: TrainConfig = TrainConfig()
    samplers: Mapping[str, SamplerConfig] = field(default_factory=lambda: {"direct": SamplerConfig()})


@dataclass(frozen=True)
class DomainConfig:
    """The per-dataset CNN classifier whose penultimate features and softmax serve the metrics."""

    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    width: int = 32
    seed: int = 0
    max_train_images: int = 0


@dataclass(frozen=True)
class SegmenterConfig:
    """The FCN-score segmentation network trained per dataset with label maps (genbench.features.segmentation).

    Unweighted cross-entropy, as FCN-8s was trained (Long et al. 2015): background is ~87 % of MNIST-M's
    pixels, but inverse-sqrt-frequency class weights moved the stroke boundary outwards at the anti-aliased
    rim (per-class accuracy 0.936 -> 0.968, but mean IoU 0.871 -> 0.791, per-pixel 0.983 -> 0.965). These
    defaults: per-pixel 0.983, IoU 0.876 on the MNIST-M test split in ~106 s on one CPU thread (2 epochs at
    batch 64: IoU 0.894 in 178 s).
    """

    epochs: int = 1
    batch_size: int = 32
    lr: float = 4e-3  # Adam, cosine decay to 0 over all steps
    width: int = 16
    seed: int = 0
    n_train: int = 0  # a seeded subset of the train split; 0 = all of it


@dataclass(frozen=True)
class EvaluationConfig:
    # Feature spaces (registered extractors) the pipeline measures in; metric names end in the space
    # (fd_domain, fd_inception). 'is' is computed only where the extractor has class logits (domain).
    feature_spaces: tuple[str, ...] = ("domain",)
    metrics: tuple[str, ...] = ("fd", "kid", "is", "pr", "dc")
    n_fake: int = 1000
    n_real: int = 1000  # taken from the test split with a fixed seed
    reference_split: str = "test"
    batch_size: int = 250
    kid_subsets: int = 10
    kid_subset_size: int = 100
    is_splits: int = 10
    pr_k: int = 3  # Kynkaanniemi et al. 2019
    dc_k: int = 5  # Naeem et al. 2020


@dataclass(frozen=True)
class SteeringConfig:
    """Classifier-gradient steering of unconditional generators (genbench.experiments.steering)."""

    presets: tuple[str, ...] = ()
    n: int = 64  # latents steered towards each class
    steps: int = 10
    step_size: float = 0.05  # per step, as a fraction of the latent's typical norm sqrt(D)


@dataclass(frozen=True)
class ProbeConfig:
    """Linear probe on discriminator features vs the untrained network's (genbench.experiments.probe)."""

    presets: tuple[str, ...] = ()
    n_train: int = 5000  # seeded subsets of the train and test splits
    n_test: int = 2000


@dataclass(frozen=True)
class AugmentationConfig:
    """Classifier trained on real and class-conditional GAN images mixed (genbench.experiments.augmentation)."""

    preset: str = ""  # a class-conditional preset of the profile; "" = off
    p_real: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    n_train: int = 5000
    epochs: int = 2


@dataclass(frozen=True)
class LossGuidanceConfig:
    """Loss (classifier) guidance of unconditional diffusion models (genbench.experiments.loss_guidance)."""

    presets: tuple[str, ...] = ()
    n: int = 20  # images guided towards each class
    scales: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0)  # 0 = unguided
    steps: int = 25  # DDIM steps, eta 0


@dataclass(frozen=True)
class SdeditConfig:
    """img2img by SDEdit with unconditional diffusion models (genbench.experiments.sdedit)."""

    presets: tuple[str, ...] = ()
    n: int = 200  # seeded train images edited at each strength (FD against the test reference)
    strengths: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    steps: int = 50  # DDIM steps (eta 0) at strength 1; a strength s takes s of them


@dataclass(frozen=True)
class NeuralStyleConfig:
    """Gatys et al. neural style transfer of held-out photos (genbench.experiments.style_transfer): one
    optimisation per (content, style) pair, no training; photo names from genbench.data.photos."""

    enabled: bool = False
    contents: tuple[str, ...] = ("chelsea", "coffee")  # test photos: never seen by any trained model
    styles: tuple[str, ...] = ("brick", "grass", "gravel")  # the texture images
    size: int = 128  # square centre crops of this side
    steps: int = 100  # loss evaluations (L-BFGS)
    style_weight: float = 1e6  # beta / alpha, content weight 1 (see genbench.experiments.style_transfer)


@dataclass(frozen=True)
class ExperimentsConfig:
    walks: bool = True  # latent interpolation (and per-label) grids of every family with a latent space
    steering: SteeringConfig = SteeringConfig()
    probe: ProbeConfig = ProbeConfig()
    augmentation: AugmentationConfig = AugmentationConfig()
    loss_guidance: LossGuidanceConfig = LossGuidanceConfig()
    sdedit: SdeditConfig = SdeditConfig()
    style_transfer: NeuralStyleConfig = NeuralStyleConfig()


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str = "sqlite:///mlflow.db"  # MLFLOW_TRACKING_URI in the environment wins
    experiment: str = ""  # "" = genbench-<profile>


@dataclass(frozen=True)
class CudaConfig:
    """Speed-ups a training job uses only when it runs on CUDA; on a CPU none applies, so CPU results
    never depend on these keys."""

    bf16: bool = True  # autocast of the train step to bfloat16 (no loss scaling needed, unlike fp16)
    channels_last: bool = True  # NHWC weights and batches for convolutional models (tensor-core layout)
    compile: bool = False  # torch.compile each sub-network (minutes of compilation first)
    # The train split lives in GPU memory (MNIST-sized sets: no data wait at all); false keeps it in pinned
    # host memory and copies each batch asynchronously, for sets larger than the GPU's memory.
    data_on_device: bool = True


@dataclass(frozen=True)
class CheckpointConfig:
    """How often a training job snapshots everything it needs to resume exactly (genbench.train.resume).
    When a snapshot is written changes nothing in the results, so these keys are not part of a preset."""

    every_seconds: float = 60.0  # wall-clock period; 0 = off
    every_steps: int = 0  # also every N steps; 0 = off


@dataclass(frozen=True)
class MemorisationConfig:
    """The nearest-neighbour memorisation check of each generative model (genbench.metrics.memorisation):
    its evaluation.n_fake samples against the whole train split, in the domain feature space."""

    enabled: bool = True
    presets: tuple[str, ...] = ()  # () = every generative preset of the profile
    n_show: int = 8  # the samples nearest to the training set, each shown beside its k nearest training images
    k: int = 3
    near_copy_quantile: float = 0.05  # of the test images' distances to the training set


@dataclass(frozen=True)
class TrainingCurveConfig:
    """FD over training steps: each generative model's milestone weights (``train.curve_points``) and its
    final ones sampled with its main sampler setting and measured against the domain test reference."""

    enabled: bool = True
    presets: tuple[str, ...] = ()  # () = every generative preset of the profile
    # Fewer images than evaluation.n_fake keep the curve cheap; FD is biased upwards at small n, so the
    # curve's values compare with each other, not with the table's.
    n_fake: int = 500


def milestone_steps(steps: int, points: int) -> tuple[int, ...]:
    """``points`` evenly spaced steps strictly between 0 and ``steps`` (the last step is the checkpoint)."""
    return tuple(sorted({round(steps * i / (points + 1)) for i in range(1, points + 1)} - {0, steps}))


def main_sampler(samplers: Mapping[str, SamplerConfig]) -> str:
    """The first sampler setting drawing evaluation.n_fake images (no ``n`` of its own), else the first: the
    setting a preset is judged by when one is needed (memorisation check, FD over training)."""
    return next((name for name, s in samplers.items() if not s.n), next(iter(samplers)))


@dataclass(frozen=True)
class ReportConfig:
    """What ``reports/all`` shows beyond the result files' numbers."""

    # The human evaluation page (hype.html): images of each generative model, and as many real ones in all
    hype_images_per_model: int = 10
    hype_seed: int = 0


@dataclass(frozen=True)
class ProfileConfig:
    profile: str = "default"
    datasets: tuple[str, ...] = ("mnist", "fashion_mnist")
    presets: tuple[str, ...] = ("dcgan", "vae", "ddpm")
    seeds: tuple[int, ...] = (0,)
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 1  # torch threads per heavy job = the rule's Snakemake threads
    # A local run's genbench commands fork from one process that has torch and MLflow imported
    # (genbench.worker): ~2-3 s of a core less per job, the same results; false runs each in its own process.
    worker: bool = True
    domain: DomainConfig = DomainConfig()
    segmenter: SegmenterConfig = SegmenterConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    mlflow: MlflowConfig = MlflowConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    cuda: CudaConfig = CudaConfig()
    experiments: ExperimentsConfig = ExperimentsConfig()
    memorisation: MemorisationConfig = MemorisationConfig()
    training_curve: TrainingCurveConfig = TrainingCurveConfig()
    report: ReportConfig = ReportConfig()
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # A preset named here runs on these datasets only, e.g. an MNIST-only model, or an image-to-image family
    # on the dataset with its arrays (pix2pix: mnist_m); the others run on every one of ``datasets``.
    preset_datasets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def datasets_of(self, preset: str) -> tuple[str, ...]:
        return tuple(self.preset_datasets.get(preset, self.datasets))


@dataclass(frozen=True)
class RunConfig:
    """Everything one training job needs: the resolved preset plus where and how to run it."""

    profile: str
    dataset: str
    preset: str
    seed: int
    device: str
    threads: int
    spec: PresetConfig
    mlflow: MlflowConfig
    checkpoint: CheckpointConfig = CheckpointConfig()
    cuda: CudaConfig = CudaConfig()


# --------------------------------------------------------------------------- generic parsing


def from_dict(cls: type, data: Any, *, source: str, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ``ConfigError``."""
    where = prefix.rstrip(".") or "<top level>"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: key '{where}' must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key '{prefix}{unknown[0]}' (valid keys here: {', '.join(sorted(fields))})"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], source=source, key=f"{prefix}{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: missing required key '{prefix}{name}'")
    try:
        return cls(**kwargs)
    except ConfigError as err:  # a Config's own __post_init__ checks know the key, not the file
        raise ConfigError(f"{source}: {err}") from None


def _coerce(tp: Any, value: Any, *, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, source=source, prefix=f"{key}.")
    if tp is Any:
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: key '{key}' must be a list, got {value!r}")
        item_types = [args[0]] * len(value) if (len(args) == 2 and args[1] is Ellipsis) else list(args)
        if len(item_types) != len(value):
            raise ConfigError(f"{source}: key '{key}' must have {len(item_types)} items, got {len(value)}")
        return tuple(_coerce(t, v, source=source, key=f"{key}[{i}]") for i, (t, v) in enumerate(zip(item_types, value)))
    if origin in (Mapping, dict, typing.Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: key '{key}' must be a mapping, got {value!r}")
        return types.MappingProxyType(
            {str(k): _coerce(args[1], v, source=source, key=f"{key}.{k}") for k, v in value.items()}
        )
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: key '{key}' must be a number, got {value!r}")
        return float(value)
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise ConfigError(f"{source}: key '{key}' must be {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in this module, not user input


def to_dict(obj: Any) -> Any:
    """Plain JSON/YAML-serialisable form of a config dataclass (inverse of ``from_dict``)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{line} is not valid YAML ({getattr(err, 'problem', err)})") from None
    return data or {}


# --------------------------------------------------------------------------- loading


def load_profile(data: Mapping[str, Any], *, source: str) -> ProfileConfig:
    profile = from_dict(ProfileConfig, data, source=source)
    if profile.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"{source}: key 'device' must be auto, cpu or cuda, got {profile.device!r}")
    unknown = sorted(set(profile.evaluation.metrics) - set(METRIC_NAMES))
    if unknown:
        raise ConfigError(f"{source}: key 'evaluation.metrics' has unknown metric '{unknown[0]}' "
                          f"(known: {', '.join(METRIC_NAMES)})")
    mem = profile.memorisation
    if mem.n_show < 1 or mem.k < 1 or not 0.0 < mem.near_copy_quantile < 1.0:
        raise ConfigError(f"{source}: key 'memorisation': n_show and k must be >= 1 and near_copy_quantile in "
                          f"(0, 1), got {mem.n_show}, {mem.k}, {mem.near_copy_quantile}")
    if profile.report.hype_images_per_model < 1:
        raise ConfigError(f"{source}: key 'report.hype_images_per_model' must be >= 1, "
                          f"got {profile.report.hype_images_per_model}")
    return profile


def load_profile_file(path: str | Path) -> ProfileConfig:
    return load_profile(read_yaml(path), source=str(path))


def load_preset(name: str, overrides: Mapping[str, Any] | None = None, *, preset_dir: Path = PRESET_DIR,
                profile_source: str = "profile") -> PresetConfig:
    """Read ``params/models/<name>.yaml`` and apply a profile's per-preset overrides.

    Family-specific ``model`` keys are checked against the family's own Config dataclass, so a
    typo there also fails here, naming the preset file.
    """
    path = preset_dir / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in preset_dir.glob("*.yaml"))
        raise ConfigError(f"{path}: no such preset '{name}' (known presets: {', '.join(known)})")
    raw = read_yaml(path)
    source = str(path)
    if overrides:
        overrides, removed = _split_removed_samplers(overrides, raw, source=f"{profile_source} (overrides.{name})")
        from_dict(PresetConfig, deep_merge({"family": raw.get("family", "")}, overrides),
                  source=f"{profile_source} (overrides.{name})", prefix="")
        raw = deep_merge(raw, overrides)
        raw["samplers"] = {k: v for k, v in raw.get("samplers", {}).items() if k not in removed}
        source = f"{path} + {profile_source} overrides.{name}"
    preset = from_dict(PresetConfig, raw, source=source)
    from genbench.models import family_class  # imports torch: only when a preset is really resolved

    cls = family_class(preset.family, source=f"{source}: key 'family'")
    model_cfg = from_dict(cls.Config, preset.model, source=source, prefix="model.")
    for sampler_name, sampler in preset.samplers.items():
        cls.check_sampler(sampler, source=f"{source}: key 'samplers.{sampler_name}'", cfg=model_cfg)
    _check_first_of(preset.samplers, source=source)
    return preset


def _check_first_of(samplers: Mapping[str, SamplerConfig], *, source: str) -> None:
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


def _split_removed_samplers(overrides: Mapping[str, Any], preset: Mapping[str, Any], *,
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


def resolve_run(profile: ProfileConfig, *, dataset: str, preset: str, seed: int,
                profile_source: str = "profile", preset_dir: Path = PRESET_DIR) -> RunConfig:
    spec = load_preset(preset, profile.overrides.get(preset), preset_dir=preset_dir, profile_source=profile_source)
    return RunConfig(profile=profile.profile, dataset=dataset, preset=preset, seed=seed, device=profile.device,
                     threads=profile.threads, spec=spec, mlflow=profile.mlflow, checkpoint=profile.checkpoint,
                     cuda=profile.cuda)


def run_config_from_json(text: str, *, source: str = "--run-config") -> RunConfig:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source}: not valid JSON ({err.msg} at char {err.pos})") from None
    return from_dict(RunConfig, data, source=source)


def validate_all(profile: ProfileConfig, *, profile_source: str, preset_dir: Path = PRESET_DIR) -> None:
    """Resolve every preset the profile names (and every overridden one) so errors surface up front."""
    from genbench.data import check_dataset_name
    from genbench.features import EXTRACTORS

    for dataset in profile.datasets:
        check_dataset_name(dataset, source=f"{profile_source}: key 'datasets'")
    for space in profile.evaluation.feature_spaces:
        EXTRACTORS.get(space, source=f"{profile_source}: key 'evaluation.feature_spaces'")
    for preset, datasets in profile.preset_datasets.items():
        if preset not in profile.presets:
            raise ConfigError(f"{profile_source}: key 'preset_datasets.{preset}' names a preset not in 'presets' "
                              f"({', '.join(profile.presets)})")
        if not datasets:
            raise ConfigError(f"{profile_source}: key 'preset_datasets.{preset}' is empty; list its datasets "
                              "or remove the key")
        for dataset in datasets:
            check_dataset_name(dataset, source=f"{profile_source}: key 'preset_datasets.{preset}'")
    for key, presets in (("memorisation", profile.memorisation.presets),
                         ("training_curve", profile.training_curve.presets)):
        for preset in presets:
            if preset not in profile.presets:
                raise ConfigError(f"{profile_source}: key '{key}.presets' names '{preset}', not in 'presets' "
                                  f"({', '.join(profile.presets)})")
    unused = sorted(set(profile.overrides) - set(profile.presets))
    if unused:
        raise ConfigError(f"{profile_source}: key 'overrides.{unused[0]}' names a preset not in 'presets' "
                          f"({', '.join(profile.presets)})")
    presets = {name: load_preset(name, profile.overrides.get(name), preset_dir=preset_dir,
                                 profile_source=profile_source) for name in profile.presets}
    _check_dataset_arrays(profile, presets, profile_source=profile_source)
    _check_init_from(profile, presets, profile_source=profile_source)
    _check_experiments(profile.experiments, presets, profile_source=profile_source)


def _check_dataset_arrays(profile: ProfileConfig, presets: Mapping[str, PresetConfig], *, profile_source: str) -> None:
    """Every dataset a preset runs on has the arrays its family trains on (pix2pix needs MNIST-M's label maps)."""
    from genbench.data import DATASETS
    from genbench.models import family_class

    for name, preset in presets.items():
        needed = family_class(preset.family).training_arrays
        for dataset in profile.datasets_of(name):
            missing = [a for a in needed if a not in DATASETS.get(dataset).arrays]
            if missing:
                having = [d for d in DATASETS.names() if set(needed) <= set(DATASETS.get(d).arrays)]
                raise ConfigError(f"{profile_source}: preset '{name}' trains on array '{missing[0]}', which dataset "
                                  f"'{dataset}' has not; set preset_datasets.{name} to some of: "
                                  f"{', '.join(having) or 'no registered dataset'}")


def _check_init_from(profile: ProfileConfig, presets: Mapping[str, PresetConfig], *, profile_source: str) -> None:
    """A preset initialised from another needs that one trained in the profile, on its datasets, same family."""
    for name, preset in presets.items():
        source = preset.train.init_from
        if not source:
            continue
        fix = f"add '{source}' to 'presets' or set overrides.{name}.train.init_from: ''"
        if source not in presets or source == name:
            raise ConfigError(f"{profile_source}: preset '{name}' has train.init_from '{source}', which is not "
                              f"another preset of this profile; {fix}")
        if presets[source].family != preset.family:
            raise ConfigError(f"{profile_source}: preset '{name}' ({preset.family}) has train.init_from '{source}', "
                              f"a {presets[source].family}; name a preset of family {preset.family}")
        missing = sorted(set(profile.datasets_of(name)) - set(profile.datasets_of(source)))
        if missing:
            raise ConfigError(f"{profile_source}: preset '{name}' starts from '{source}' on dataset '{missing[0]}', "
                              f"where '{source}' is not trained; add it to preset_datasets.{source}")


def _check_experiments(cfg: ExperimentsConfig, presets: Mapping[str, PresetConfig], *, profile_source: str) -> None:
    """Every preset an experiment names is in the profile and its family has what the experiment needs."""
    from genbench.models import family_class

    def family(key: str, name: str):
        if name not in presets:
            raise ConfigError(f"{profile_source}: key '{key}' names preset '{name}', which is not in 'presets' "
                              f"({', '.join(presets)})")
        return family_class(presets[name].family)

    for name in cfg.steering.presets:
        cls = family("experiments.steering.presets", name)
        if not cls.has_latents() or cls.label_kind:
            raise ConfigError(f"{profile_source}: key 'experiments.steering.presets': '{name}' ({cls.family}) is "
                              "not an unconditional generator with a latent space; remove it")
    for name in cfg.probe.presets:
        cls = family("experiments.probe.presets", name)
        if not cls.has_discriminator():
            raise ConfigError(f"{profile_source}: key 'experiments.probe.presets': '{name}' ({cls.family}) has no "
                              "discriminator; remove it")
    if cfg.augmentation.preset:
        cls = family("experiments.augmentation.preset", cfg.augmentation.preset)
        if cls.label_kind != "class":
            raise ConfigError(f"{profile_source}: key 'experiments.augmentation.preset': '{cfg.augmentation.preset}' "
                              f"({cls.family}) is not class-conditional; name a conditional preset such as cgan")
    for key in ("loss_guidance", "sdedit"):
        for name in getattr(cfg, key).presets:
            cls = family(f"experiments.{key}.presets", name)
            if cls.kind != "diffusion" or cls.label_kind or not getattr(cls, "pixel_space", False):
                raise ConfigError(f"{profile_source}: key 'experiments.{key}.presets': '{name}' ({cls.family}) is "
                                  "not an unconditional pixel-space diffusion model; remove it")
    if any(not 0.0 < s <= 1.0 for s in cfg.sdedit.strengths):
        raise ConfigError(f"{profile_source}: key 'experiments.sdedit.strengths' values must lie in (0, 1]")
    if any(s < 0.0 for s in cfg.loss_guidance.scales):
        raise ConfigError(f"{profile_source}: key 'experiments.loss_guidance.scales' values must be >= 0")
    if any(not 0.0 <= p <= 1.0 for p in cfg.augmentation.p_real):
        raise ConfigError(f"{profile_source}: key 'experiments.augmentation.p_real' values must lie in [0, 1]")

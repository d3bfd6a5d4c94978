"""A profile (``params/default.yaml``, ``ci.yaml``, ``full.yaml``): what to run and how to measure it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, get_args

from genbench.config.parse import bounded, from_dict, limits, read_yaml
from genbench.config.preset import PresetConfig
from genbench.errors import ConfigError

# The one list of metric names (genbench.jobs.evaluate computes them; the CLI, the schema and the defaults read it):
# FD, KID, IS, precision/recall, density/coverage.
MetricName = Literal["fd", "kid", "is", "pr", "dc"]
METRIC_NAMES: tuple[str, ...] = get_args(MetricName)
# Registered feature extractors (genbench.features.EXTRACTORS; tests/test_config.py checks the two agree).
FeatureSpace = Literal["domain", "inception"]


@dataclass(frozen=True)
class DomainConfig:
    """The per-dataset CNN classifier whose penultimate features and softmax serve the metrics."""

    epochs: int = bounded(3, ge=1)
    batch_size: int = bounded(128, ge=1)
    lr: float = bounded(1e-3, gt=0)
    width: int = bounded(32, ge=1)
    seed: int = bounded(0, ge=0)
    max_train_images: int = bounded(0, ge=0)


@dataclass(frozen=True)
class JudgesConfig:
    """The guide and the judge of experiments that optimise against a classifier (genbench.features.judge).

    The train split is cut in two halves by ``split_seed``: the guide (the domain classifier's architecture and
    recipe, ``guide_seed``) learns from one, the judge (another architecture, ``judge_seed``) from the other, so
    that a rate the judge reports was not optimised for.
    """

    split_seed: int = bounded(0, ge=0)
    guide_seed: int = bounded(1, ge=0)
    judge_seed: int = bounded(2, ge=0)
    judge_width: int = bounded(24, ge=1)
    judge_epochs: int = bounded(3, ge=1)


@dataclass(frozen=True)
class SegmenterConfig:
    """The FCN-score segmentation network trained per dataset with label maps (genbench.features.segmentation).

    Unweighted cross-entropy, as FCN-8s was trained (Long et al. 2015): background is ~87 % of MNIST-M's
    pixels, but inverse-sqrt-frequency class weights moved the stroke boundary outwards at the anti-aliased
    rim (per-class accuracy 0.936 -> 0.968, but mean IoU 0.871 -> 0.791, per-pixel 0.983 -> 0.965). These
    defaults: per-pixel 0.983, IoU 0.876 on the MNIST-M test split in ~106 s on one CPU thread (2 epochs at
    batch 64: IoU 0.894 in 178 s).
    """

    epochs: int = bounded(1, ge=1)
    batch_size: int = bounded(32, ge=1)
    lr: float = bounded(4e-3, gt=0)  # Adam, cosine decay to 0 over all steps
    width: int = bounded(16, ge=1)
    seed: int = bounded(0, ge=0)
    n_train: int = bounded(0, ge=0)  # a seeded subset of the train split; 0 = all of it


@dataclass(frozen=True)
class EvaluationConfig:
    # Feature spaces (registered extractors) the pipeline measures in; metric names end in the space
    # (fd_domain, fd_inception). 'is' is computed only where the extractor has class logits (domain).
    feature_spaces: tuple[FeatureSpace, ...] = bounded(("domain",), min_items=1, unique=True)
    metrics: tuple[MetricName, ...] = bounded(METRIC_NAMES, min_items=1, unique=True)
    n_fake: int = bounded(1000, ge=2)
    n_real: int = bounded(1000, ge=2)  # taken from the test split with a fixed seed
    reference_split: Literal["train", "test"] = "test"
    batch_size: int = bounded(250, ge=1)
    kid_subsets: int = bounded(10, ge=1)
    kid_subset_size: int = bounded(100, ge=2)
    is_splits: int = bounded(10, ge=1)
    pr_k: int = bounded(3, ge=1)  # Kynkaanniemi et al. 2019
    dc_k: int = bounded(5, ge=1)  # Naeem et al. 2020
    # Diversity of unpaired translators (MUNIT Table 1, BicycleGAN's protocol: 19 pairs of outputs for each of 100
    # inputs): each of the first diversity_inputs test inputs translated diversity_styles times, mean LPIPS of
    # consecutive outputs (genbench.metrics.diversity). 0 inputs = not measured.
    diversity_inputs: int = bounded(100, ge=0)
    diversity_styles: int = bounded(20, ge=2)


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

    every_seconds: float = bounded(60.0, ge=0)  # wall-clock period; 0 = off
    every_steps: int = bounded(0, ge=0)  # also every N steps; 0 = off


@dataclass(frozen=True)
class MemorisationConfig:
    """The nearest-neighbour memorisation check of each generative model (genbench.metrics.memorisation):
    its evaluation.n_fake samples against the whole train split, in the domain feature space."""

    enabled: bool = True
    presets: tuple[str, ...] = bounded((), unique=True)  # () = every generative preset of the profile
    # the samples nearest to the training set, each shown beside its k nearest training images
    n_show: int = bounded(8, ge=1)
    k: int = bounded(3, ge=1)
    near_copy_quantile: float = bounded(0.05, gt=0, lt=1)  # of the test images' distances to the training set


@dataclass(frozen=True)
class TrainingCurveConfig:
    """FD over training steps: each generative model's milestone weights (``train.curve_points``) and its
    final ones sampled with its main sampler setting and measured against the domain test reference."""

    enabled: bool = True
    presets: tuple[str, ...] = bounded((), unique=True)  # () = every generative preset of the profile
    # Fewer images than evaluation.n_fake keep the curve cheap; FD is biased upwards at small n, so the
    # curve's values compare with each other, not with the table's.
    n_fake: int = bounded(500, ge=2)


@dataclass(frozen=True)
class LikelihoodConfig:
    """Bits/dim of the models with a likelihood or a bound on it (genbench.jobs.likelihood): the first ``n``
    test images of their dataset, the same rows for every family; PixelCNN and flow exactly (the flow through
    uniform dequantisation), the VAE's ELBO and IWAE bound, the DDPM's variational bound L_vlb."""

    # presets of families with a likelihood (genbench list); () = none
    presets: tuple[str, ...] = bounded((), unique=True)
    n: int = bounded(1000, ge=1)
    batch_size: int = bounded(100, ge=1)
    iwae_k: int = bounded(100, ge=1)  # importance samples per image of the VAE's IWAE bound (Burda et al. 2016 eq. 8)
    # uniform-noise draws per image of a flow (their mean is still a bound)
    dequantisation_draws: int = bounded(1, ge=1)
    # Timesteps of the DDPM bound: 0 = all T of the model (Ho et al. sec. 3.3); fewer = the bound of the
    # respaced chain over that many evenly spaced steps (Nichol & Dhariwal 2021, sec. 4), cheaper and looser.
    vlb_steps: int = bounded(0, ge=0)

    def __post_init__(self) -> None:
        if self.vlb_steps == 1:
            raise ConfigError(f"key 'likelihood.vlb_steps' must be 0 (all T) or >= 2, got {self.vlb_steps}")


@dataclass(frozen=True)
class ReportConfig:
    """What ``reports/all`` shows beyond the result files' numbers."""

    # The human evaluation page (hype.html): images of each generative model, and as many real ones in all
    hype_images_per_model: int = bounded(10, ge=1)
    hype_seed: int = bounded(0, ge=0)


@dataclass(frozen=True)
class ProfileConfig:
    profile: str = bounded("default", required=True, pattern="^[a-z0-9_-]+$")
    datasets: tuple[str, ...] = bounded(("mnist", "fashion_mnist"), min_items=1, unique=True)
    presets: tuple[str, ...] = bounded(("dcgan", "vae", "ddpm"), min_items=1, unique=True)
    seeds: tuple[int, ...] = bounded((0,), min_items=1, unique=True, each=limits(ge=0))
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = bounded(1, ge=1)  # torch threads per heavy job = the rule's Snakemake threads
    # Minutes a training job may take (what a SLURM job asks for): the full profile's presets train for hours
    # on one GPU (720); other profiles' jobs ask for two hours.
    train_runtime_minutes: int = bounded(120, ge=1)
    # A local run's genbench commands fork from one process that has torch and MLflow imported
    # (genbench.worker): ~2-3 s of a core less per job, the same results; false runs each in its own process.
    worker: bool = True
    domain: DomainConfig = DomainConfig()
    judges: JudgesConfig = JudgesConfig()
    segmenter: SegmenterConfig = SegmenterConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    mlflow: MlflowConfig = MlflowConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    cuda: CudaConfig = CudaConfig()
    # One section per experiment, ``experiments.<name>``: its own config dataclass, declared beside it
    # (genbench.experiments; genbench.experiments.validate_experiments parses and checks them)
    experiments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    memorisation: MemorisationConfig = MemorisationConfig()
    training_curve: TrainingCurveConfig = TrainingCurveConfig()
    likelihood: LikelihoodConfig = LikelihoodConfig()
    report: ReportConfig = ReportConfig()
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # A preset named here runs on these datasets only, e.g. an MNIST-only model, or an image-to-image family
    # on the dataset with its arrays (pix2pix: mnist_m); the others run on every one of ``datasets``.
    preset_datasets: Mapping[str, tuple[str, ...]] = bounded({}, each=limits(min_items=1, unique=True))

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


def load_profile(data: Mapping[str, Any], *, source: str) -> ProfileConfig:
    return from_dict(ProfileConfig, data, source=source)


def load_profile_file(path: str | Path) -> ProfileConfig:
    return load_profile(read_yaml(path), source=str(path))


def run_config_from_json(text: str, *, source: str = "--run-config") -> RunConfig:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source}: not valid JSON ({err.msg} at char {err.pos})") from None
    return from_dict(RunConfig, data, source=source)

"""The evaluate job: metrics of a model's sample files in each feature space, plus the task metrics of
image-to-image outputs and the judge's class accuracy, logged to the model's MLflow run.

I/O and bookkeeping only; the maths is in ``genbench.metrics`` (pure functions over features).
Every value in ``metrics.json`` carries the protocol that produced it.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from genbench import metrics, tracking
from genbench.config import METRIC_NAMES, EvaluationConfig, MlflowConfig
from genbench.device import resolve_device, set_threads
from genbench.errors import ConfigError
from genbench.features import EXTRACTORS
from genbench.inputs import check_images
from genbench.io import InputError, load_npz, sha256_file, write_json
from genbench.jobs.trained_run import code_versions, log_measurement, model_identity, read_train_summary


def compute_metrics(real_features: np.ndarray, fake_features: np.ndarray, fake_logits: np.ndarray | None,
                    cfg: EvaluationConfig, *, space: str, names: Sequence[str] = METRIC_NAMES) -> dict[str, dict]:
    """The metrics ``names`` in feature space ``space``: ``{'fd_<space>': {'value', 'std'?, 'protocol'?}}``.

    The one function behind both the pipeline's ``evaluate`` rule and ``genbench metrics``. The Inception
    Score needs class logits, so it is computed only where the extractor has a classifier head.
    """
    unknown = sorted(set(names) - set(METRIC_NAMES))
    if unknown:
        raise ConfigError(f"metrics: unknown metric '{unknown[0]}' (known: {', '.join(METRIC_NAMES)})")
    out: dict[str, dict] = {}
    if "fd" in names:
        out[f"fd_{space}"] = {"value": metrics.frechet_distance(real_features, fake_features)}
    if "kid" in names:
        mean, std = metrics.kernel_inception_distance(real_features, fake_features, num_subsets=cfg.kid_subsets,
                                                      subset_size=cfg.kid_subset_size, seed=0)
        subset = metrics.effective_subset_size(len(real_features), len(fake_features), cfg.kid_subset_size)
        out[f"kid_{space}"] = {"value": mean, "std": std, "protocol": {
            "kernel": "cubic polynomial", "subsets": cfg.kid_subsets, "subset_size": subset}}
    if "is" in names:
        if fake_logits is None:
            raise ConfigError(f"metrics: 'is' needs class logits, which the '{space}' features do not have; "
                              "use the domain classifier (--features domain) or drop 'is'")
        mean, std = metrics.inception_score(fake_logits, splits=cfg.is_splits)
        out[f"is_{space}"] = {"value": mean, "std": std, "protocol": {"splits": cfg.is_splits}}
    if "pr" in names:
        precision, recall = metrics.precision_recall(real_features, fake_features, k=cfg.pr_k)
        out[f"precision_{space}"] = {"value": precision, "protocol": {"k": cfg.pr_k}}
        out[f"recall_{space}"] = {"value": recall, "protocol": {"k": cfg.pr_k}}
    if "dc" in names:
        density, coverage = metrics.density_coverage(real_features, fake_features, k=cfg.dc_k)
        out[f"density_{space}"] = {"value": density, "protocol": {"k": cfg.dc_k}}
        out[f"coverage_{space}"] = {"value": coverage, "protocol": {"k": cfg.dc_k}}
    return out


def label_metrics(fake_logits: np.ndarray, labels: np.ndarray, kind: str, *, space: str) -> dict[str, dict]:
    """Class accuracy of a conditional model, or best code-to-class accuracy of InfoGAN's categorical code."""
    if kind == "class":
        return {f"class_accuracy_{space}": {"value": metrics.class_accuracy(fake_logits, labels)}}
    if kind == "code":
        accuracy, assignment = metrics.code_accuracy(fake_logits, labels)
        return {f"code_accuracy_{space}": {"value": accuracy, "protocol": {"code_to_class": assignment}}}
    raise InputError(f"samples: unknown label_kind '{kind}' (known: class, code); re-run the sample rule")


def with_protocol(values: dict[str, dict], protocol: dict) -> dict[str, dict]:
    """Every record gets the shared protocol, its own keys (k, subsets, ...) on top."""
    return {name: {**record, "protocol": {**protocol, **record.get("protocol", {})}} for name, record in values.items()}


def read_reference(path: Path, split: str, extractor_sha: str) -> dict[str, np.ndarray]:
    """Reference features of ``split`` made by the extractor whose file has sha256 ``extractor_sha``."""
    ref = load_npz(path, required=("features", "indices", "extractor_sha256", "split"))
    if str(ref["split"]) != split:
        raise InputError(f"{path}: holds {ref['split']} features, {split} split features are needed here")
    if str(ref["extractor_sha256"]) != extractor_sha:
        raise InputError(f"{path}: made with another feature network; delete it and re-run")
    return ref


def images_to_measure(sample_arrays: dict, n_fake: int, samples: Path) -> np.ndarray:
    """The first ``n_fake`` images of a sample file, or its sampler setting's own n (``SamplerConfig.n``, stored
    as ``sampler_n``) where it has one: a costly sweep draws fewer."""
    fake = sample_arrays["images"]
    if "sampler_n" in sample_arrays:
        n_fake, asked_by = int(sample_arrays["sampler_n"]), "its sampler's n"
    else:
        asked_by = "evaluation.n_fake"
    if len(fake) < n_fake:
        raise InputError(f"{samples}: has {len(fake)} images, {asked_by} asks for {n_fake}; re-run its sample rule")
    return fake[:n_fake]


@dataclass(frozen=True)
class FeatureSpace:
    """One feature space of an evaluation, loaded once for every sample file a job measures: its network and
    the reference features of real images it was checked to have made."""

    name: str
    extractor: Any  # the registered extractor (genbench.features.EXTRACTORS)
    model: Any  # its loaded network
    extractor_file: Path
    extractor_sha256: str
    reference: dict[str, np.ndarray]


def load_feature_spaces(spaces: Sequence[str], references: Sequence[Path], extractor_files: Sequence[Path], *,
                        device: torch.device, source: str) -> list[FeatureSpace]:
    """The networks and reference features of ``spaces`` (one reference and one extractor file each, in order)."""
    if len(references) != len(spaces) or len(extractor_files) != len(spaces):
        raise ConfigError(f"evaluate {source}: give one reference and one extractor file per feature space "
                          f"({', '.join(spaces) or 'none for super-resolution outputs'})")
    loaded = []
    for space, reference, extractor_file in zip(spaces, references, extractor_files, strict=True):
        ref = load_npz(reference, required=("features", "extractor_sha256", "split"))
        extractor_sha = sha256_file(extractor_file)
        if str(ref["extractor_sha256"]) != extractor_sha:
            raise InputError(f"{reference}: made with another {space} network than {extractor_file}; delete it "
                             "and re-run")
        extractor = EXTRACTORS.get(space, source="evaluate")
        model, _ = extractor.load(extractor_file, device=device)
        loaded.append(FeatureSpace(space, extractor, model, Path(extractor_file), extractor_sha, ref))
    return loaded


@dataclass(frozen=True)
class Judge:
    """The judge classifier (genbench.features.judge), loaded once per evaluation job."""

    model: Any
    sha256: str

    @classmethod
    def load(cls, path: Path, *, device: torch.device) -> Judge:
        from genbench.features.judge import load_judge

        return cls(load_judge(path, device=device)[0], sha256_file(path))

    def class_accuracy(self, images: np.ndarray, labels: np.ndarray, samples_sha: str) -> dict[str, dict]:
        from genbench.features.judge import classify

        protocol = {"scorer": "judge: another architecture, trained on the other half of the train split",
                    "judge_sha256": self.sha256, "n_fake": int(len(images)), "samples_sha256": samples_sha}
        return {"class_accuracy_judge": {"value": metrics.class_accuracy(classify(self.model, images), labels),
                                         "protocol": protocol}}


def measure_samples(samples: Path, spaces: Sequence[FeatureSpace], cfg: EvaluationConfig, *, device: torch.device,
                    identity: dict, out: Path, task_files: TaskFiles | None = None,
                    judge: Judge | None = None) -> dict:
    """Metrics of one sample file in each loaded feature space (plus its task metrics, and the judge's class
    accuracy of a class-conditional model's images), written to ``out``."""
    sample_arrays = load_npz(samples, required=("images",))
    task = str(sample_arrays["task"]) if "task" in sample_arrays else ""
    if task == "super_resolution":
        spaces = ()  # photos: measured against their high-resolution targets only
    check_images(sample_arrays["images"], samples)
    fake = images_to_measure(sample_arrays, cfg.n_fake, samples)
    n_fake = len(fake)
    samples_sha = sha256_file(samples)
    values: dict[str, dict] = {}
    for space in spaces:
        takes = getattr(space.model, "in_channels", fake.shape[1])  # the domain network is made for one dataset
        if fake.shape[1] != takes:
            raise InputError(f"{samples}: {fake.shape[1]}-channel images, but the {space.name} network "
                             f"{space.extractor_file} takes {takes}: these samples are of another dataset; re-run "
                             "their sample rule")
        fake_features, fake_logits = space.extractor.extract(space.model, fake, batch_size=cfg.batch_size,
                                                             device=device)
        names = [m for m in cfg.metrics if m != "is" or fake_logits is not None]
        ref = space.reference
        protocol = {"feature_space": space.name, "extractor_sha256": space.extractor_sha256,
                    "n_real": int(len(ref["features"])), "n_fake": n_fake, "reference_split": str(ref["split"]),
                    "resize": space.extractor.resize, "samples_sha256": samples_sha}
        values |= with_protocol(compute_metrics(ref["features"], fake_features, fake_logits, cfg, space=space.name,
                                                names=names), protocol)
        if "labels" in sample_arrays and fake_logits is not None:
            values |= with_protocol(label_metrics(fake_logits, sample_arrays["labels"][:n_fake],
                                                  str(sample_arrays["label_kind"]), space=space.name), protocol)
    if judge is not None and "labels" in sample_arrays and str(sample_arrays["label_kind"]) == "class":
        values |= judge.class_accuracy(fake, sample_arrays["labels"][:n_fake], samples_sha)
    if task:
        values |= task_metrics(task, sample_arrays, task_files or TaskFiles(), batch_size=cfg.batch_size,
                               device=device, source=samples)
    result = {**identity, "metrics": values}
    write_json(out, result)
    return result


def run_evaluation(samples: Sequence[Path], references: Sequence[Path], extractor_files: Sequence[Path],
                   cfg: EvaluationConfig, *, device: str, threads: int, identities: Sequence[dict],
                   outs: Sequence[Path], task_files: TaskFiles | None = None,
                   judge_file: Path | None = None) -> list[dict]:
    """Metrics of each sample file against each reference (one per ``cfg.feature_spaces``, same order as
    ``extractor_files``); ``identities[i]`` (dataset, preset, family, sampler, seed) is copied into ``outs[i]``.

    One job measures every sampler setting of a model: the networks and references load once, which is
    most of an evaluation's cost (the metric maths on 1000 x 128 features takes well under a second).
    Outputs of an image-to-image family (``task`` in the file) add their task metrics from ``task_files``;
    super-resolution outputs are photos, measured against their high-resolution targets only (no domain
    network: give no references). A ``judge_file`` (genbench.features.judge) adds a second opinion on the class
    accuracy of class-conditional models: a network of another design, trained on other images."""
    set_threads(threads)
    dev = resolve_device(device)
    photos = _task_of(samples[0]) == "super_resolution"
    spaces = load_feature_spaces(() if photos else cfg.feature_spaces, references, extractor_files, device=dev,
                                 source=str(samples[0]))
    judge = Judge.load(judge_file, device=dev) if judge_file is not None else None
    return [measure_samples(path, spaces, cfg, device=dev, identity=identity, out=out, task_files=task_files,
                            judge=judge) for path, identity, out in zip(samples, identities, outs, strict=True)]


def _task_of(samples: Path) -> str:
    """A sample file's ``task`` array alone (image-to-image outputs have one), without loading its images;
    an unreadable file is left for ``measure_samples`` to name."""
    try:
        with np.load(samples, allow_pickle=False) as npz:
            return str(npz["task"]) if "task" in npz.files else ""
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return ""


@dataclass(frozen=True)
class TaskFiles:
    """What the task metrics of image-to-image outputs read besides the outputs themselves."""

    data_dir: Path | None = None  # the prepared dataset the outputs translate (its test split)
    segmenter: Path | None = None  # FCN-score network (outputs that are MNIST-M images)
    lpips: Path | None = None  # LPIPS weights (super-resolution; diversity of unpaired translators)


def task_metrics(task: str, sample_arrays: dict, files: TaskFiles, *, batch_size: int, device, source: Path) -> dict:
    """FCN-score (outputs in MNIST-M, given a segmenter), diversity (unpaired outputs under several styles) or the
    super-resolution metrics of translator outputs."""
    from genbench.jobs.evaluate_translation import diversity_metrics, fcn_score_metrics, super_resolution_metrics

    if files.data_dir is None or "index" not in sample_arrays:
        raise InputError(f"{source}: '{task}' outputs need --data (the dataset they translate) and an 'index' "
                         "array; re-run their sample rule")
    images, index = sample_arrays["images"], sample_arrays["index"]
    if task == "super_resolution":
        if files.lpips is None:
            raise InputError(f"{source}: super-resolution outputs need --lpips (genbench fetch-weights lpips)")
        return super_resolution_metrics(images, index, files.data_dir, files.lpips, batch_size=batch_size,
                                        device=device)
    values = {}
    if "diversity_images" in sample_arrays:  # unpaired translators: outputs of one input under several styles
        if files.lpips is None:
            raise InputError(f"{source}: diversity outputs need --lpips (genbench fetch-weights lpips)")
        values |= diversity_metrics(sample_arrays["diversity_images"], files.lpips, batch_size=batch_size,
                                    device=device)
    if files.segmenter is None:  # outputs outside MNIST-M (CycleGAN's backward digits): FD and labels only
        return values
    return values | fcn_score_metrics(images, index, files.data_dir, files.segmenter, batch_size=batch_size,
                                      device=device)


def final_metric_values(result: dict) -> dict[str, float]:
    """``{'<sampler>/<metric>': value}`` for MLflow, from a ``metrics.json`` record."""
    return {f"{result['sampler']}/{name}": float(rec["value"]) for name, rec in result["metrics"].items()}


def run_evaluation_job(samples: Sequence[Path], train_summary: Path, *, samplers: Sequence[str],
                       outs: Sequence[Path], references: Sequence[Path], extractor_files: Sequence[Path],
                       cfg: EvaluationConfig, mlflow: MlflowConfig, device: str, threads: int,
                       task_files: TaskFiles | None = None, judge_file: Path | None = None) -> dict[str, dict]:
    """``genbench evaluate``: ``run_evaluation`` of a model's sample files (sampler setting ``samplers[i]`` in
    ``samples[i]``), each record naming the model (from its train job's summary) and the code versions; the
    values go to the model's MLflow run (``<sampler>/<metric>``) and to one child run per setting.
    Returns ``{sampler: {metric: value}}``."""
    summary = read_train_summary(train_summary)
    model, code = model_identity(summary), code_versions(summary, "evaluate")
    results = run_evaluation(samples, references, extractor_files, cfg, device=device, threads=threads,
                             identities=[model | {"sampler": name, "code_version": code} for name in samplers],
                             outs=outs, task_files=task_files, judge_file=judge_file)
    tracking.log_final_metrics(summary["mlflow_run_id"],
                               {k: v for result in results for k, v in final_metric_values(result).items()},
                               tracking_uri_cfg=mlflow)
    values = {}
    for name, result in zip(samplers, results, strict=True):
        values[name] = {metric: rec["value"] for metric, rec in result["metrics"].items()}
        protocols = {metric: rec.get("protocol", {}) for metric, rec in result["metrics"].items()}
        log_measurement(mlflow, summary, name=name, params={"sampler": name, "protocol": protocols},
                        metrics=values[name], code=code)
    return values

"""Read the result files of one profile into tables; every missing file or key is an ``InputError`` naming it.

Layout under ``results/<profile>/``: ``<dataset>/domain/classifier.json`` and, per run directory
``<dataset>/<preset>/seed<k>/``: ``train_summary.json``, ``losses.csv``, ``train.benchmark.tsv`` (optional),
``samples/<sampler>.{json,png}`` and ``metrics/<sampler>.json``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from genbench.io import InputError, read_json

KEYS = ["dataset", "preset", "family", "sampler", "seed"]
KNOWN_METRICS = ("fd_domain", "kid_domain", "is_domain", "precision_domain", "recall_domain",
                 "class_accuracy_domain", "class_accuracy_judge", "code_accuracy_domain")
PROTOCOL_COLUMNS = ("n_real", "n_fake", "feature_space", "reference_split", "extractor_sha256")
LIKELIHOOD_COLUMN = "bits_per_dim"  # the model's tightest likelihood estimate (likelihood.json), n/a without one
PERF_COLUMNS = ("sampler_steps", "train_seconds", "peak_rss_mb", "train_images_per_second",
                "sample_images_per_second", "n_parameters")


@dataclass
class Results:
    """Everything the report shows, as tables; ``metrics`` lists metric names in display order."""

    summary: pd.DataFrame  # one row per (dataset, preset, family, sampler, seed)
    losses: pd.DataFrame  # dataset, preset, seed, step, name, value
    classifiers: pd.DataFrame  # one row per dataset
    protocols: pd.DataFrame  # dataset, metric, protocol (dict of the keys shared by all its models), varies
    metrics: list[str]
    grids: dict[str, Path] = field(default_factory=dict)  # "<dataset>_<preset>_<sampler>.png" -> source PNG
    captions: dict[str, list[str]] = field(default_factory=dict)  # grid name -> what each image was asked for
    # one row per (dataset, preset, family, seed, estimate) of the models with a likelihood.json
    likelihood: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the guide and the judge of steering and guidance (genbench.features.judge), where a dataset has them
    judges: pd.DataFrame = field(default_factory=pd.DataFrame)
    # family -> its kind ("gan", "diffusion", ...) and label kind ("", "class", "code"), as its runs recorded them
    family_kinds: dict[str, str] = field(default_factory=dict)
    label_kinds: dict[str, str] = field(default_factory=dict)

    def families_of_kind(self, kind: str) -> pd.Series:
        """A boolean mask over ``summary``: the rows of families of ``kind``."""
        return self.summary["family"].map(lambda family: self.family_kinds.get(family) == kind).astype(bool)


def _key(record: Mapping[str, Any], key: str, path: Path) -> Any:
    if not isinstance(record, Mapping) or key not in record:
        raise InputError(f"{path}: missing key '{key}'; re-run the rule that makes it")
    return record[key]


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


TRUNCATION_KNOBS = (("psi", 1.0), ("truncation", 0.0), ("temperature", 1.0))  # each with its "off" value


def truncation_text(summary: pd.DataFrame, dataset: str, preset: str, sampler: str) -> str:
    """How a sampler setting pulls samples towards the mode, for the lines that name the setting a number was
    measured with: "untruncated", else its knobs ("psi 0.5"); "" for a setting the summary lacks."""
    rows = summary[(summary["dataset"] == dataset) & (summary["preset"] == preset) & (summary["sampler"] == sampler)]
    if rows.empty:
        return ""
    row = rows.iloc[0]
    knobs = [f"{knob} {row[knob]:g}" for knob, off in TRUNCATION_KNOBS
             if not math.isnan(row[knob]) and row[knob] != off]
    return ", ".join(knobs) or "untruncated"


def sampler_with_setting(summary: pd.DataFrame, dataset: str, preset: str, sampler: str) -> str:
    """A sampler's name and how it truncates ("direct (untruncated)", "psi05 (psi 0.5)"): which setting a number
    that stands for the model was measured with."""
    setting = truncation_text(summary, dataset, preset, sampler)
    return f"{sampler} ({setting})" if setting else sampler


def run_dir(root: Path, dataset: str, preset: str, seed: int) -> Path:
    return root / dataset / preset / f"seed{seed}"


def read_classifier(root: Path, dataset: str) -> dict[str, Any]:
    path = root / dataset / "domain" / "classifier.json"
    record = read_json(path)
    row = {"dataset": dataset}
    for key in ("test_accuracy", "n_test", "sha256", "n_train", "epochs", "train_seconds"):
        row[key] = _key(record, key, path)
    return row


def read_judges(root: Path, dataset: str) -> list[dict[str, Any]]:
    """The guide's and the judge's rows (genbench.features.judge) where the dataset has them, else none."""
    path = root / dataset / "domain" / "judges.json"
    if not path.is_file():
        return []
    record = read_json(path)
    return [{"dataset": dataset, "network": role, "architecture": _key(record, role, path)["architecture"],
             **{key: _key(record[role], key, path) for key in ("test_accuracy", "n_train", "n_test", "epochs", "sha256")},
             "test_agreement": _key(record, "test_agreement", path)} for role in ("guide", "judge")]


def peak_rss_mb(path: Path) -> float:
    """``max_rss`` (MB) of a Snakemake benchmark file; NaN ("n/a" in the report) when absent or unparsable."""
    if not path.is_file():
        return math.nan
    try:
        table = pd.read_csv(path, sep="\t")
        return float(pd.to_numeric(table["max_rss"], errors="coerce").max())
    except (KeyError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return math.nan


def read_train(directory: Path, dataset: str, preset: str, seed: int) -> dict[str, Any]:
    path = directory / "train_summary.json"
    record = read_json(path)
    for key, expected in (("dataset", dataset), ("preset", preset), ("seed", seed)):
        if str(_key(record, key, path)) != str(expected):
            raise InputError(f"{path}: says {key}={record[key]!r} but lies under {key} {expected!r}; "
                             "re-run its train rule")
    return {"family": _key(record, "family", path), "family_kind": _key(record, "family_kind", path),
            "label_kind": _key(record, "label_kind", path), "train_steps": _key(record, "steps", path),
            "train_seconds": _number(_key(record, "train_seconds", path)),
            "peak_rss_mb": peak_rss_mb(directory / "train.benchmark.tsv"),
            "train_images_per_second": _number(_key(record, "images_per_second", path)),
            "n_parameters": _key(record, "n_parameters", path), "device": record.get("device", ""),
            "mlflow_run_id": record.get("mlflow_run_id", "")}


def read_likelihood(directory: Path) -> list[dict[str, Any]]:
    """The estimates of ``likelihood.json`` (genbench.jobs.likelihood), primary first; [] when the model has none."""
    path = directory / "likelihood.json"
    if not path.is_file():
        return []
    record = read_json(path)
    primary, estimates = _key(record, "primary", path), _key(record, "estimates", path)
    protocol = _key(record, "protocol", path)
    if primary not in estimates:
        raise InputError(f"{path}: its primary estimate '{primary}' is not among its estimates; re-run its rule")
    names = [primary] + [name for name in estimates if name != primary]
    return [{"estimate": name, "primary": name == primary,
             "bits_per_dim": _number(_key(estimates[name], "bits_per_dim", path)),
             "standard_error": _number(estimates[name].get("standard_error")), "how": estimates[name].get("how", ""),
             "n": _key(protocol, "n", path), "seconds": _number(record.get("seconds")),
             "images_per_second": _number(record.get("images_per_second"))} for name in names]


def read_losses(directory: Path) -> pd.DataFrame:
    path = directory / "losses.csv"
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; re-run its train rule") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a valid CSV ({err}); re-run its train rule") from None
    missing = [c for c in ("step", "name", "value") if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column '{missing[0]}' (expected step,name,value)")
    return table[["step", "name", "value"]]


def sampler_names(directory: Path, samplers: Sequence[str] | None) -> list[str]:
    if samplers is not None:
        return list(samplers)
    names = sorted(p.stem for p in (directory / "samples").glob("*.json"))
    if not names:
        raise InputError(f"{directory / 'samples'}: no <sampler>.json files; run the sample rules of this model")
    return names


UNRECORDED = "unrecorded"  # results written before outputs carried their code version


def read_sampler(directory: Path, sampler: str) -> tuple[dict[str, Any], dict[str, dict]]:
    """One summary row's sampler and metric columns, and each metric's protocol."""
    samples_path, metrics_path = directory / "samples" / f"{sampler}.json", directory / "metrics" / f"{sampler}.json"
    samples, record = read_json(samples_path), read_json(metrics_path)
    row: dict[str, Any] = {column: _key(samples, key, samples_path) for column, key in
                           (("algo", "algo"), ("sampler_steps", "steps"), ("n_samples", "n"))}
    row["eta"] = _number(samples.get("eta", 0.0))
    row["task"] = samples.get("task", "")  # image-to-image outputs: paired, unpaired or super_resolution
    row["target_dataset"] = samples.get("target_dataset", "")
    row["sample_images_per_second"] = _number(_key(samples, "images_per_second", samples_path))
    row["psi"], row["truncation"] = _number(samples.get("psi", 1.0)), _number(samples.get("truncation", 0.0))
    row["guidance"] = _number(samples.get("guidance", 1.0))
    row["temperature"] = _number(samples.get("temperature", 1.0))
    row["stage"] = samples.get("stage", "")
    row["grid_captions"] = samples.get("grid_captions")
    code = record.get("code_version") or {}  # genbench.code_version of the training and the measuring code
    row["code_train"], row["code_metrics"] = code.get("train", UNRECORDED), code.get("metrics", UNRECORDED)
    metrics = _key(record, "metrics", metrics_path)
    if not isinstance(metrics, Mapping) or not metrics:
        raise InputError(f"{metrics_path}: 'metrics' is empty; re-run its evaluate rule")
    protocols = {}
    for name, metric in metrics.items():
        row[name] = _number(_key(metric, "value", metrics_path))
        if "std" in metric:
            row[f"{name}_std"] = _number(metric["std"])
        protocols[name] = _key(metric, "protocol", metrics_path)
    for column in PROTOCOL_COLUMNS:  # one value when all metrics agree, else "a;b"; task metrics have none
        values = list(dict.fromkeys(str(p[column]) for p in protocols.values() if column in p))
        row[column] = ";".join(values) if values else ""
    return row, protocols


def metric_order(names: Iterable[str]) -> list[str]:
    names = set(names)
    return [m for m in KNOWN_METRICS if m in names] + sorted(names - set(KNOWN_METRICS))


def shared_protocols(per_model: list[tuple[str, str, dict]]) -> pd.DataFrame:
    """Per (dataset, metric): the protocol keys equal across models, and the names of those that vary."""
    rows = []
    frame = pd.DataFrame(per_model, columns=["dataset", "metric", "protocol"])
    for (dataset, metric), group in frame.groupby(["dataset", "metric"], sort=False):
        texts = [{k: json.dumps(v, sort_keys=True) for k, v in p.items()} for p in group["protocol"]]
        keys = sorted(set().union(*texts))
        same = [k for k in keys if len({t.get(k) for t in texts}) == 1]
        first = group["protocol"].iloc[0]
        rows.append({"dataset": dataset, "metric": metric, "protocol": {k: first[k] for k in same},
                     "varies": [k for k in keys if k not in same]})
    return pd.DataFrame(rows, columns=["dataset", "metric", "protocol", "varies"])


def collect(root: Path, *, datasets: Sequence[str], presets: Sequence[str], seeds: Sequence[int],
            samplers: Mapping[str, Sequence[str]] | None = None,
            preset_datasets: Mapping[str, Sequence[str]] | None = None) -> Results:
    """Read every file the report needs; ``samplers`` (preset -> names) defaults to the ``samples/*.json`` found."""
    root = Path(root)
    rows, losses, protocols, grids, captions, likelihood = [], [], [], {}, {}, []
    preset_datasets = preset_datasets or {}
    run_datasets = list(dict.fromkeys([*datasets, *(d for p in presets for d in preset_datasets.get(p, ()))]))
    # A dataset has a domain classifier when it is a profile dataset or image-to-image outputs were measured
    # in it (MNIST-M); super-resolution patches have none.
    with_classifier = [d for d in run_datasets if d in datasets or (root / d / "domain" / "classifier.json").is_file()]
    classifiers = pd.DataFrame([read_classifier(root, d) for d in with_classifier])
    judges = pd.DataFrame([row for d in with_classifier for row in read_judges(root, d)])
    for dataset in run_datasets:
        for preset in presets:
            if dataset not in preset_datasets.get(preset, datasets):
                continue
            for seed in seeds:
                directory = run_dir(root, dataset, preset, seed)
                train = read_train(directory, dataset, preset, seed)
                losses.append(read_losses(directory).assign(dataset=dataset, preset=preset, seed=seed))
                estimates = read_likelihood(directory)
                likelihood += [{"dataset": dataset, "preset": preset, "family": train["family"], "seed": seed, **e}
                               for e in estimates]
                bits = estimates[0]["bits_per_dim"] if estimates else math.nan
                for sampler in sampler_names(directory, (samplers or {}).get(preset)):
                    sampler_row, metric_protocols = read_sampler(directory, sampler)
                    grid = directory / "samples" / f"{sampler}.png"
                    if not grid.is_file():
                        raise InputError(f"{grid}: file not found; re-run the sample rule that makes it")
                    grids.setdefault(f"{dataset}_{preset}_{sampler}.png", grid)  # first seed's grid
                    grid_captions = sampler_row.pop("grid_captions")
                    if grid_captions:
                        captions.setdefault(f"{dataset}_{preset}_{sampler}.png", list(grid_captions))
                    rows.append({"dataset": dataset, "preset": preset, "family": train["family"], "sampler": sampler,
                                 "seed": seed, **sampler_row, **train, LIKELIHOOD_COLUMN: bits})
                    protocols += [(dataset, name, p) for name, p in metric_protocols.items()]
    summary = pd.DataFrame(rows)
    metrics = metric_order(m for _, m, _ in protocols)
    columns = KEYS + ["algo", "eta", "psi", "truncation", "guidance", "temperature", "stage", "task", "target_dataset", "n_samples"]
    columns += [c for m in metrics for c in (m, f"{m}_std") if c in summary.columns] + [LIKELIHOOD_COLUMN]
    columns += list(PROTOCOL_COLUMNS) + list(PERF_COLUMNS) + ["train_steps", "device", "mlflow_run_id", "code_train",
                                                              "code_metrics"]
    return Results(summary=summary.reindex(columns=columns), losses=pd.concat(losses, ignore_index=True),
                   classifiers=classifiers, protocols=shared_protocols(protocols), metrics=metrics, grids=grids,
                   captions=captions, likelihood=pd.DataFrame(likelihood), judges=judges,
                   family_kinds={row["family"]: row["family_kind"] for row in rows},
                   label_kinds={row["family"]: row["label_kind"] for row in rows})

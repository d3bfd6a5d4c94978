"""What a job that measures a trained model takes from its train job, and where it files the numbers.

The run's ``train_summary.json`` says which model it is (dataset, preset, family, seed), its MLflow run and the
code version that trained it. A measurement is logged as a child run of the model's run, tagged with the code
versions that trained and measured it: the report warns when its rows mix versions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from genbench import tracking
from genbench.code_version import code_version
from genbench.config import MlflowConfig
from genbench.io import InputError, read_json

MODEL_KEYS = ("dataset", "preset", "family", "seed")  # what every record of a model's measurements starts with


def read_train_summary(path: Path) -> dict:
    summary = read_json(path)
    if "mlflow_run_id" not in summary:
        raise InputError(f"{path}: no 'mlflow_run_id'; re-run its train rule")
    return summary


def model_identity(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {key: summary[key] for key in MODEL_KEYS}


def code_versions(summary: Mapping[str, Any], command: str) -> dict[str, str]:
    """The code that trained the model and the code of ``command`` that measures it."""
    return {"train": summary.get("code_version", "unrecorded"), "metrics": code_version(command)}


def log_measurement(cfg: MlflowConfig, summary: Mapping[str, Any], *, name: str, params: Mapping[str, Any],
                    metrics: Mapping[str, float], code: Mapping[str, str]) -> None:
    """A child run ``<dataset>/<preset>/seed<k>/<name>`` of the model's MLflow run."""
    model = model_identity(summary)
    tracking.log_evaluation_run(cfg, model_run_id=summary["mlflow_run_id"],
                                name=f"{model['dataset']}/{model['preset']}/seed{model['seed']}/{name}",
                                params=model | dict(params), metrics=metrics,
                                tags={f"code_version.{part}": version for part, version in code.items()})

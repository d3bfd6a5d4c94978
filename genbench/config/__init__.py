"""YAML -> typed, frozen dataclasses.

Defaults live in code; ``params/*.yaml`` only override them. Any unknown key or wrong type is a
``ConfigError`` whose one-line message names the file and the dotted key, raised before any job runs.

Two kinds of file:
- a *profile* (``params/default.yaml``, ``ci.yaml``, ``full.yaml``): what to run and how to measure it
  (``profile.py``);
- a *preset* (``params/models/<preset>.yaml``): one model family with its hyperparameters (``preset.py``).
A profile may override any preset key per preset (``overrides: {dcgan: {train: {steps: 20}}}``), which is
how ``ci.yaml`` makes every model train for seconds without a second set of presets.

The modules form layers: ``parse`` (generic YAML -> dataclass) < ``preset`` < ``profile``, none of which
imports a registry, so models, features and datasets may import their config types from here;
``validate`` checks names against the registries and is imported only when one of its functions is first
asked for (``load_preset``, ``resolve_run``, ``validate_all``). Allowed values (``Literal``) and limits
(``bounded``) live on the fields; ``schema`` writes from them the JSON schema Snakemake validates against
(``python -m genbench.config.schema --write``).
"""
from __future__ import annotations

import importlib
from typing import Any

from genbench.config.parse import bounded, deep_merge, from_dict, limits, read_yaml, to_dict
from genbench.config.preset import (PRESET_DIR, PresetConfig, SamplerConfig, TrainConfig, main_sampler,
                                    milestone_steps, read_preset)
from genbench.config.profile import (METRIC_NAMES, CheckpointConfig, CudaConfig, DomainConfig, EvaluationConfig,
                                     JudgesConfig, LikelihoodConfig, MemorisationConfig, MlflowConfig, ProfileConfig,
                                     ReportConfig, RunConfig, SegmenterConfig, TrainingCurveConfig, load_profile,
                                     load_profile_file, run_config_from_json)
from genbench.errors import ConfigError

_REGISTRY_CHECKS = ("load_preset", "resolve_run", "validate_all")


def __getattr__(name: str) -> Any:
    # Lazily, so that importing a config type never imports the model registry (and torch) back.
    if name in _REGISTRY_CHECKS:
        return getattr(importlib.import_module("genbench.config.validate"), name)
    raise AttributeError(f"module 'genbench.config' has no attribute '{name}'")


__all__ = ["METRIC_NAMES", "PRESET_DIR", "CheckpointConfig", "ConfigError", "CudaConfig", "DomainConfig",
           "EvaluationConfig", "JudgesConfig", "LikelihoodConfig", "MemorisationConfig", "MlflowConfig", "PresetConfig",
           "ProfileConfig", "ReportConfig", "RunConfig", "SamplerConfig", "SegmenterConfig", "TrainConfig",
           "TrainingCurveConfig", "bounded", "deep_merge", "from_dict", "limits", "load_profile", "load_profile_file",
           "main_sampler", "milestone_steps", "read_preset", "read_yaml", "run_config_from_json", "to_dict",
           *_REGISTRY_CHECKS]

"""Experiments on trained generators beyond the sample metrics, one module each, found by name.

``registered()`` imports every module of this package and every module named in the ``GENBENCH_PLUGINS``
environment variable (comma-separated, importable names), each of which declares itself with
``EXPERIMENTS.add("<name>", Experiment(...))`` (``genbench.experiments.base``). The CLI, the Snakemake plan and
``validate_experiments`` read the declarations; the report reads the records (docs/experiments.md has the
recipe for adding one). The built-in ones:

- ``walks``: latent interpolation grids, and per-class (or per-code) grids of conditional models.
- ``stylegan_figures``: StyleGAN's style mixing and stochastic variation (Karras et al. 2019, Figures 3, 4).
- ``steering``: controllable generation by the gradient of the guide classifier, and how every other class
  probability moves with the target's (the feature-correlation figure).
- ``probe``: a linear probe on discriminator features against the same probe on an untrained network.
- ``augmentation``: the domain-classifier architecture trained on real and conditional-GAN images mixed.
- ``loss_guidance``: -log p(target | x0_hat) guidance of unconditional diffusion models.
- ``sdedit``: SDEdit img2img with unconditional diffusion models, structure kept against realism.
- ``freecontrol``: training-free structure control (FreeControl) against an image-to-image baseline.
- ``style_transfer``: Gatys et al. neural style transfer of held-out photos (once per profile).
"""
from __future__ import annotations

import functools
import importlib
import os
import pkgutil
from pathlib import Path
from typing import Mapping

from genbench.config import PresetConfig, ProfileConfig
from genbench.errors import ConfigError
from genbench.experiments.base import EXPERIMENTS, INPUTS, Experiment, ExperimentJob
from genbench.models import family_class
from genbench.registry import Registry

__all__ = ["EXPERIMENTS", "INPUTS", "Experiment", "ExperimentJob", "input_flags", "registered", "run_experiment",
           "validate_experiments"]

PLUGINS_VARIABLE = "GENBENCH_PLUGINS"


@functools.lru_cache(maxsize=1)
def registered() -> Registry[Experiment]:
    """The registry, once every built-in and plugin module has been imported (and so has declared itself)."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    for name in filter(None, (part.strip() for part in os.environ.get(PLUGINS_VARIABLE, "").split(","))):
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ConfigError(f"{PLUGINS_VARIABLE}: cannot import plugin module '{name}' ({err}); fix the name or "
                              "put its folder on PYTHONPATH") from None
    return EXPERIMENTS


def validate_experiments(profile: ProfileConfig, presets: Mapping[str, PresetConfig], *, profile_source: str) -> None:
    """Every section of ``experiments:`` names a registered experiment and parses, every preset it names is in
    the profile and of a family the experiment applies to, and the experiment's own check passes. ``presets``:
    what ``genbench.config.validate_all`` resolved (it checks the presets themselves)."""
    experiments = registered()
    for name in profile.experiments:
        experiments.get(name, source=f"{profile_source}: key 'experiments'")
    for name in experiments:
        experiment = experiments.get(name)
        config = experiment.config_of(profile, name, source=profile_source)
        key = f"experiments.{name}.presets"
        for preset in experiment.named_presets(config) or ():
            if preset not in presets:
                raise ConfigError(f"{profile_source}: key '{key}' names preset '{preset}', which is not in "
                                  f"'presets' ({', '.join(presets)})")
            cls = family_class(presets[preset].family)
            if experiment.applies_to is None or not experiment.applies_to(cls):
                raise ConfigError(f"{profile_source}: key '{key}': '{preset}' ({cls.family}) is not "
                                  f"{experiment.requirement or 'a family this experiment takes'}; remove it")
        if experiment.check is not None:
            experiment.check(config, profile, presets, profile_source)


def run_experiment(name: str, profile: ProfileConfig, *, inputs: Mapping[str, Path | None], threads: int,
                   out: Path, profile_source: str = "profile") -> tuple[dict, str]:
    """Run experiment ``name`` on the given input files (those it does not take are ignored): its record, and
    the line to print."""
    experiment = registered().get(name, source="genbench experiment")
    missing = [key for key in experiment.inputs if inputs.get(key) is None]
    if missing:
        raise ConfigError(f"experiment {name}: needs --{missing[0].replace('_', '-')}")
    job = ExperimentJob(inputs={key: Path(inputs[key]) for key in experiment.inputs},
                        config=experiment.config_of(profile, name, source=profile_source), profile=profile,
                        device=profile.device, threads=threads, out=out)
    record = experiment.run(job)
    if experiment.summary is not None:
        return record, experiment.summary(record)
    which = f" of {record['preset']} on {record['dataset']}" if experiment.per_run else ""
    return record, f"experiment {name}{which}: {out}"


def input_flags() -> dict[str, str]:
    """``{input name: help}`` of every input some registered experiment takes (the CLI's flags), naming which."""
    experiments = registered()
    takers: dict[str, list[str]] = {}
    helps = dict(INPUTS)
    for name in experiments:
        experiment = experiments.get(name)
        helps |= experiment.more_help
        for key in experiment.inputs:
            takers.setdefault(key, []).append(name)
    unknown = sorted(set(takers) - set(helps))
    if unknown:
        raise RuntimeError(f"experiment input '{unknown[0]}' has no help: add it to INPUTS or the experiment's "
                           "more_help")
    return {key: f"{helps[key]}; for {', '.join(takers[key])}" for key in sorted(takers, key=list(helps).index)}

"""The checks that need the registries (model families, datasets, feature spaces): a preset resolved
against its family, a profile against everything it names. The one config module that imports the
registries, and so torch; nothing under ``genbench.models``, ``features`` or ``data`` imports it."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from genbench.config.parse import from_dict
from genbench.config.preset import PRESET_DIR, PresetConfig, check_first_of, read_preset
from genbench.config.profile import ProfileConfig, RunConfig
from genbench.data import DATASETS, check_dataset_name
from genbench.errors import ConfigError
from genbench.features import EXTRACTORS
from genbench.models import family_class


def load_preset(name: str, overrides: Mapping[str, Any] | None = None, *, preset_dir: Path = PRESET_DIR,
                profile_source: str = "profile", samplers: bool = True) -> PresetConfig:
    """Read ``params/models/<name>.yaml`` and apply a profile's per-preset overrides (``samplers=False``: the
    training recipe alone, see ``read_preset``).

    Family-specific ``model`` keys are checked against the family's own Config dataclass, so a
    typo there also fails here, naming the preset file.
    """
    preset, source = read_preset(name, overrides, preset_dir=preset_dir, profile_source=profile_source,
                                 samplers=samplers)
    cls = family_class(preset.family, source=f"{source}: key 'family'")
    model_cfg = from_dict(cls.Config, preset.model, source=source, prefix="model.")
    for sampler_name, sampler in preset.samplers.items():
        cls.check_sampler(sampler, source=f"{source}: key 'samplers.{sampler_name}'", cfg=model_cfg)
    check_first_of(preset.samplers, source=source)
    return preset


def resolve_run(profile: ProfileConfig, *, dataset: str, preset: str, seed: int,
                profile_source: str = "profile", preset_dir: Path = PRESET_DIR, samplers: bool = True) -> RunConfig:
    spec = load_preset(preset, profile.overrides.get(preset), preset_dir=preset_dir, profile_source=profile_source,
                       samplers=samplers)
    return RunConfig(profile=profile.profile, dataset=dataset, preset=preset, seed=seed, device=profile.device,
                     threads=profile.threads, spec=spec, mlflow=profile.mlflow, checkpoint=profile.checkpoint,
                     cuda=profile.cuda)


def validate_all(profile: ProfileConfig, *, profile_source: str,
                 preset_dir: Path = PRESET_DIR) -> dict[str, PresetConfig]:
    """Resolve every preset the profile names (and every overridden one) so errors surface up front; the presets,
    by name. The ``experiments`` sections are the experiments' own: ``genbench.experiments.validate_experiments``."""
    for dataset in profile.datasets:
        check_dataset_name(dataset, source=f"{profile_source}: key 'datasets'")
    for space in profile.evaluation.feature_spaces:
        EXTRACTORS.get(space, source=f"{profile_source}: key 'evaluation.feature_spaces'")
    for preset, datasets in profile.preset_datasets.items():
        if preset not in profile.presets:
            raise ConfigError(f"{profile_source}: key 'preset_datasets.{preset}' names a preset not in 'presets' "
                              f"({', '.join(profile.presets)})")
        for dataset in datasets:
            check_dataset_name(dataset, source=f"{profile_source}: key 'preset_datasets.{preset}'")
    for key, presets in (("memorisation", profile.memorisation.presets),
                         ("training_curve", profile.training_curve.presets), ("likelihood", profile.likelihood.presets)):
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
    for name in profile.likelihood.presets:
        preset = presets[name]
        cls = family_class(preset.family)
        cls.check_likelihood(from_dict(cls.Config, dict(preset.model), source=f"preset '{name}'", prefix="model."),
                             source=f"{profile_source}: key 'likelihood.presets', preset '{name}'")
    return presets


def _check_dataset_arrays(profile: ProfileConfig, presets: Mapping[str, PresetConfig], *, profile_source: str) -> None:
    """Every dataset a preset runs on has the arrays its family trains on (pix2pix needs MNIST-M's label maps)."""
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
            if preset.train.init_dataset:
                raise ConfigError(f"{profile_source}: preset '{name}' has train.init_dataset "
                                  f"'{preset.train.init_dataset}' but no train.init_from; set that too")
            continue
        fix = f"add '{source}' to 'presets' or set overrides.{name}.train.init_from: ''"
        if source not in presets or source == name:
            raise ConfigError(f"{profile_source}: preset '{name}' has train.init_from '{source}', which is not "
                              f"another preset of this profile; {fix}")
        if presets[source].family != preset.family:
            raise ConfigError(f"{profile_source}: preset '{name}' ({preset.family}) has train.init_from '{source}', "
                              f"a {presets[source].family}; name a preset of family {preset.family}")
        # Image shapes are known once the data is prepared: the train job's initialise_from checks them.
        init_dataset = preset.train.init_dataset
        if init_dataset:
            check_dataset_name(init_dataset, source=f"{profile_source}: preset '{name}', key 'train.init_dataset'")
        wanted = {init_dataset} if init_dataset else set(profile.datasets_of(name))
        missing = sorted(wanted - set(profile.datasets_of(source)))
        if missing:
            raise ConfigError(f"{profile_source}: preset '{name}' starts from '{source}' on dataset '{missing[0]}', "
                              f"where '{source}' is not trained; add it to preset_datasets.{source}")

"""What an experiment declares, what one of its jobs gets, and the registry they are found in.

An experiment is one module under ``genbench/experiments/`` (or a plugin module, see ``genbench.experiments``)
that ends with ``EXPERIMENTS.add("<name>", Experiment(...))``. Everything else reads the declaration: the CLI
(``genbench experiment <name>``: its choices, its input flags), the plan (which runs get a record, the rule's
inputs and settings), validation (the profile section ``experiments.<name>`` and the presets it names).

Which runs an experiment takes part in follows its config section: a section with ``presets`` runs on the
presets it names (each must be of a family ``applies_to`` accepts); one with ``enabled`` and no ``presets`` runs
on every preset of the profile it applies to (``applies_to`` set) or once per profile (``applies_to`` None:
no checkpoint, e.g. neural style transfer of photos).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from genbench.config import ProfileConfig, from_dict
from genbench.registry import Registry

__all__ = ["EXPERIMENTS", "INPUTS", "Experiment", "ExperimentJob", "run_identity"]

#: Inputs the plan knows where to find, by the name a job reads them by (``job.inputs[name]``) and its CLI flag
#: (``--<name>`` with ``-`` for ``_``). A name ``data`` or ``*_data`` is a prepared dataset's folder.
INPUTS: dict[str, str] = {
    "checkpoint": "the run's trained checkpoint.pt",
    "data": "the run's prepared dataset folder (train.npz, test.npz)",
    "classifier": "the dataset's domain classifier.pt (its features define FD)",
    "guide": "the dataset's guide.pt, which steering and guidance optimise against (genbench.features.judge)",
    "judge": "the dataset's judge.pt, which scores what the guide was optimised for",
    "reference": "domain features of the dataset's test reference (.npz)",
    "vgg16": "the converted VGG16 weights (genbench fetch-weights vgg16)",
}


@dataclass(frozen=True)
class ExperimentJob:
    """One run of an experiment: its input files by name, its parsed config section, the profile (for the other
    keys its ``settings`` name), where to compute, and the JSON record to write (figures go beside it)."""

    inputs: Mapping[str, Path]
    config: Any
    profile: ProfileConfig
    device: str
    threads: int
    out: Path


@dataclass(frozen=True)
class Experiment:
    """The declaration of an experiment (see the module docstring for how its runs are chosen).

    ``run`` writes the record last (the file the plan waits for) and returns it. ``inputs`` are names of
    ``INPUTS`` or of ``more_inputs``, which maps (its config, the profile's results folder, the run's seed) to
    ``{name: [files]}`` for inputs only this experiment has (the job gets the first file; the rest are
    dependencies only). ``settings`` are the other profile keys ``run`` reads (dotted: one sub-key), so that
    the plan re-runs the job when one changes. ``check`` adds validation of what the profile combines
    (``check(config, profile, presets, source)`` raises ConfigError). ``summary`` is the line the CLI prints.
    """

    config: type
    run: Callable[[ExperimentJob], dict]
    inputs: tuple[str, ...]
    applies_to: Callable[[type], bool] | None = None  # a model family class -> whether it can take part
    requirement: str = ""  # what ``applies_to`` asks, for the error naming a preset it refuses
    settings: tuple[str, ...] = ()
    more_inputs: Callable[[Any, str, int], dict[str, list[str]]] | None = None
    more_help: Mapping[str, str] = dataclasses.field(default_factory=dict)  # CLI help of more_inputs' names
    check: Callable[[Any, ProfileConfig, Mapping[str, Any], str], None] | None = None
    mem_mb: int = 2000  # a job's peak memory here, for the scheduler (Snakemake resources)
    summary: Callable[[dict], str] | None = None

    @property
    def per_run(self) -> bool:
        return self.applies_to is not None

    def config_of(self, profile: ProfileConfig, name: str, *, source: str = "profile") -> Any:
        """The section ``experiments.<name>`` of ``profile``, parsed (defaults where it is absent)."""
        return from_dict(self.config, dict(profile.experiments.get(name, {})), source=source,
                         prefix=f"experiments.{name}.")

    def named_presets(self, config: Any) -> tuple[str, ...] | None:
        """The presets the section names, or None where it runs on every preset it applies to."""
        if "presets" in {f.name for f in dataclasses.fields(config)}:
            return tuple(config.presets)
        return None

    def enabled(self, config: Any) -> bool:
        return getattr(config, "enabled", True)

    def presets_taking_part(self, config: Any, families: Mapping[str, type]) -> tuple[str, ...]:
        """The presets of a profile (``{preset: family class}``) a per-run experiment runs on."""
        named = self.named_presets(config)
        if named is not None:
            return named
        if not self.per_run or not self.enabled(config):
            return ()
        return tuple(preset for preset, cls in families.items() if self.applies_to(cls))


EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def run_identity(checkpoint: Path, run_cfg) -> dict:
    """The keys every per-run record starts with: which model of which run it measured."""
    return {"dataset": run_cfg.dataset, "preset": run_cfg.preset, "family": run_cfg.spec.family,
            "seed": run_cfg.seed, "checkpoint": str(checkpoint)}

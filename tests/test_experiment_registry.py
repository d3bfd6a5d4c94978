"""Experiments are a registry (genbench.experiments): one module declares an experiment, and the CLI, validation
and the plan find it there. The plugin below lives in a test folder and edits no file of genbench."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import REPO, copy_workflow, snakemake
from test_workflow import planned_jobs

from genbench.experiments import INPUTS, input_flags, registered

PLUGIN = textwrap.dedent('''
    """A test experiment: the mean grey level of a GAN's first samples."""
    from dataclasses import dataclass

    import torch

    from genbench.config import SamplerConfig, bounded
    from genbench.experiments.base import EXPERIMENTS, Experiment, run_identity
    from genbench.images import to_uint8
    from genbench.io import write_json
    from genbench.train.checkpoint import load_for_sampling


    @dataclass(frozen=True)
    class BrightnessConfig:
        presets: tuple[str, ...] = bounded((), unique=True)
        n: int = bounded(4, ge=1)


    def run(job):
        model, run_cfg = load_for_sampling(job.inputs["checkpoint"], "cpu")
        generator = torch.Generator().manual_seed(run_cfg.seed)
        images = to_uint8(model.sample(job.config.n, generator=generator, sampler=SamplerConfig()))
        record = {**run_identity(job.inputs["checkpoint"], run_cfg), "mean": float(images.mean())}
        write_json(job.out, record)
        return record


    EXPERIMENTS.add("brightness", Experiment(config=BrightnessConfig, run=run, inputs=("checkpoint",),
                                             applies_to=lambda cls: cls.kind == "gan", requirement="a GAN"))
''')


@pytest.fixture()
def plugin_env(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "brightness_plugin.py").write_text(PLUGIN)
    return {"PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
            "GENBENCH_PLUGINS": "brightness_plugin"}


def genbench(*args: str, env_extra: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env_extra}, timeout=300)


def profile_with(tmp_path: Path, experiments: dict) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"profile": "p", "datasets": ["mnist"], "presets": ["dcgan", "vae"],
                                    "experiments": {"walks": {"enabled": False}, **experiments}}))
    return path


def test_a_plugin_experiment_is_a_choice_of_the_cli_with_its_inputs(plugin_env: dict[str, str]) -> None:
    result = genbench("experiment", "--help", env_extra=plugin_env)
    assert result.returncode == 0, result.stderr
    assert "brightness" in result.stdout and "walks" in result.stdout
    assert "brightness" not in genbench("experiment", "--help", env_extra={"GENBENCH_PLUGINS": ""}).stdout


def test_validation_reads_the_plugins_section_and_what_it_applies_to(tmp_path: Path,
                                                                     plugin_env: dict[str, str]) -> None:
    ok = genbench("validate", "--profile", str(profile_with(tmp_path, {"brightness": {"presets": ["dcgan"]}})),
                  env_extra=plugin_env)
    assert ok.returncode == 0, ok.stderr
    refused = genbench("validate", "--profile", str(profile_with(tmp_path, {"brightness": {"presets": ["vae"]}})),
                       env_extra=plugin_env)
    assert refused.returncode == 2
    assert "key 'experiments.brightness.presets': 'vae' (vae) is not a GAN; remove it" in refused.stderr
    typo = genbench("validate", "--profile", str(profile_with(tmp_path, {"brightness": {"m": 3}})),
                    env_extra=plugin_env)
    assert typo.returncode == 2 and "experiments.brightness.m" in typo.stderr
    unknown = genbench("validate", "--profile", str(profile_with(tmp_path, {"brightness": {}})),
                       env_extra={"GENBENCH_PLUGINS": ""})
    assert unknown.returncode == 2 and "unknown experiment 'brightness'" in unknown.stderr


def test_a_misnamed_plugin_is_one_line_naming_the_variable(plugin_env: dict[str, str]) -> None:
    result = genbench("experiment", "--help", env_extra={**plugin_env, "GENBENCH_PLUGINS": "brightnes_plugin"})
    assert result.returncode == 2
    assert result.stderr.startswith("genbench: error: GENBENCH_PLUGINS: cannot import plugin module "
                                    "'brightnes_plugin'") and len(result.stderr.splitlines()) == 1


@pytest.mark.slow  # a snakemake process
def test_the_plan_runs_a_plugin_experiment_on_the_presets_its_section_names(tmp_path: Path,
                                                                          plugin_env: dict[str, str]) -> None:
    workdir = copy_workflow(tmp_path / "wf")
    profile = profile_with(workdir / "params", {"brightness": {"presets": ["dcgan"], "n": 2}})
    result = snakemake(workdir, "reports/all", "-n", "-p", "--configfile", str(profile), env_extra=plugin_env)
    assert result.returncode == 0, result.stderr
    assert planned_jobs(result.stdout)["brightness"] == 1
    assert "results/p/mnist/dcgan/seed0/experiments/brightness.json" in result.stdout
    assert "genbench experiment brightness --checkpoint results/p/mnist/dcgan/seed0/checkpoint.pt" in result.stdout


def test_every_input_of_a_builtin_experiment_has_a_flag_and_a_place_in_the_plan() -> None:
    experiments = registered()
    plan = (REPO / "workflow/rules/experiments_plan.smk").read_text()
    for name in experiments:
        experiment = experiments.get(name)
        own = set(experiment.more_help)
        assert set(experiment.inputs) <= set(INPUTS) | own, name
        assert set(experiment.inputs) <= set(input_flags()), name
        assert all(f'"{key}":' in plan for key in set(experiment.inputs) - own), name


def test_the_builtin_experiments_are_the_ones_the_docs_describe() -> None:
    documented = (REPO / "docs/experiments.md").read_text()
    for name in registered():
        assert f"`{name}`" in documented, name

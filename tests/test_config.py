"""Config contract: typed defaults, overrides, and one-line errors naming file and key."""
from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path

import pytest
import yaml

from genbench.config import (ConfigError, ProfileConfig, RunConfig, from_dict, load_preset, load_profile_file,
                             resolve_run, to_dict)

REPO = Path(__file__).resolve().parents[1]
PROFILES = sorted((REPO / "params").glob("*.yaml"))


@pytest.fixture()
def preset_dir(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    for src in (REPO / "params" / "models").glob("*.yaml"):
        (d / src.name).write_text(src.read_text())
    return d


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_every_shipped_profile_resolves_every_run(path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    profile = load_profile_file(path)
    for preset in profile.presets:
        run = resolve_run(profile, dataset=profile.datasets[0], preset=preset, seed=profile.seeds[0])
        assert run.spec.samplers, preset


def test_round_trip_through_json(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    run = resolve_run(load_profile_file("params/default.yaml"), dataset="mnist", preset="ddpm", seed=0)
    again = from_dict(RunConfig, json.loads(json.dumps(to_dict(run))), source="json")
    assert again == run


def test_profile_override_wins_over_preset(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    profile = load_profile_file("params/ci.yaml")
    run = resolve_run(profile, dataset="mnist", preset="ddpm", seed=0)
    assert run.spec.train.steps == profile.overrides["ddpm"]["train"]["steps"]
    assert run.spec.model["timesteps"] == 50
    assert run.spec.samplers["ddim50"].algo == "ddim"  # untouched keys survive the merge


@pytest.mark.parametrize("data, key", [
    ({"evaluation": {"n_fakes": 10}}, "evaluation.n_fakes"),
    ({"seeds": [0, "one"]}, "seeds[1]"),
    ({"threads": 1.5}, "threads"),
    ({"domain": 3}, "domain"),
    ({"datasetz": ["mnist"]}, "datasetz"),
])
def test_profile_errors_name_file_and_key(tmp_path: Path, data: dict, key: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_profile_file(path)
    message = str(err.value)
    assert str(path) in message and f"'{key}'" in message and "\n" not in message


@pytest.mark.parametrize("edit, key", [
    (lambda d: d["train"].update(stepz=3), "train.stepz"),
    (lambda d: d["model"].update(latent_dimm=3), "model.latent_dimm"),
    (lambda d: d["train"].update(lr="fast"), "train.lr"),
    (lambda d: d.update(family="dcgann"), "family"),
])
def test_preset_errors_name_file_and_key(preset_dir: Path, edit, key: str) -> None:
    path = preset_dir / "dcgan.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_preset("dcgan", preset_dir=preset_dir)
    assert str(path) in str(err.value) and key in str(err.value)


@pytest.mark.parametrize("model, says", [
    ({"critic_norm": "batch"}, "key 'model.critic_norm' must be one of layer, none, got 'batch'"),
    ({"n_critic": 0}, "key 'model.n_critic' must be >= 1, got 0"),
])
def test_a_family_key_out_of_its_range_names_preset_and_key(preset_dir: Path, model: dict, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_preset("wgan_gp", {"model": model}, preset_dir=preset_dir, profile_source="p.yaml")
    assert str(err.value) == f"{preset_dir / 'wgan_gp.yaml'} + p.yaml overrides.wgan_gp: {says}"


def test_unknown_family_lists_known_ones(preset_dir: Path) -> None:
    (preset_dir / "mystery.yaml").write_text("family: nope\n")
    with pytest.raises(ConfigError, match=r"unknown model family 'nope' \(known: .*dcgan.*ddpm.*vae"):
        load_preset("mystery", preset_dir=preset_dir)


def test_unknown_preset_lists_known_ones(preset_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such preset .dcgann. \(known presets: (\w+, )*dcgan, (\w+, )*vae"):
        load_preset("dcgann", preset_dir=preset_dir)


def test_sampler_setting_checked_against_family(preset_dir: Path) -> None:
    with pytest.raises(ConfigError, match="samplers.x.*cannot use sampler algo 'ddim'"):
        load_preset("dcgan", {"samplers": {"x": {"algo": "ddim"}}}, preset_dir=preset_dir)


def test_a_null_sampler_override_removes_that_sampler(preset_dir: Path) -> None:
    spec = load_preset("ddpm", {"samplers": {"ddim1000": None, "ddim10": {"n": 20}}}, preset_dir=preset_dir)
    assert "ddim1000" not in spec.samplers and "ddpm" in spec.samplers
    assert spec.samplers["ddim10"].n == 20 and spec.samplers["ddim10"].steps == 10  # merged, not replaced


def test_removing_a_sampler_the_preset_lacks_is_an_error(preset_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"p\.yaml \(overrides\.ddpm\): key 'samplers\.ddim7' is null .*no such "
                                          r"sampler \(its samplers: ddpm, ddim50"):
        load_preset("ddpm", {"samplers": {"ddim7": None}}, preset_dir=preset_dir, profile_source="p.yaml")


def test_removing_every_sampler_is_an_error(preset_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"overrides\.vae.*removes every sampler of the preset"):
        load_preset("vae", {"samplers": {"direct": None}}, preset_dir=preset_dir)


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_the_main_sampler_of_every_shipped_preset_is_untruncated(path: Path, monkeypatch) -> None:
    from genbench.config import main_sampler

    monkeypatch.chdir(REPO)
    profile = load_profile_file(path)
    for preset in profile.presets:
        spec = resolve_run(profile, dataset=profile.datasets[0], preset=preset, seed=profile.seeds[0]).spec
        assert not spec.samplers[main_sampler(spec)].truncated, (path.name, preset, main_sampler(spec))
    stylegan = load_preset("stylegan", profile.overrides.get("stylegan"))
    assert stylegan.main == "direct" and stylegan.samplers["direct"].psi == 1.0  # named, not the first (psi05)


def test_the_main_sampler_defaults_to_the_first_untruncated_setting_drawing_n_fake(preset_dir: Path) -> None:
    from genbench.config import main_sampler

    cgan = load_preset("cgan", {"samplers": {"direct": {"n": 100}}}, preset_dir=preset_dir)
    assert main_sampler(cgan) == "direct"  # untruncated beats drawing n_fake (trunc1 is truncated)
    ddpm = load_preset("ddpm", {"samplers": {"ddpm": {"n": 100}}}, preset_dir=preset_dir)
    assert main_sampler(ddpm) == "ddim50"  # the first without an n of its own
    flow = load_preset("flow", {"main": "t07"}, preset_dir=preset_dir)
    assert main_sampler(flow) == "t07"  # a profile may name another, truncated or not


@pytest.mark.parametrize("overrides, match", [
    ({"main": "psi09"}, r"stylegan\.yaml \+ p\.yaml overrides\.stylegan: key 'main' names 'psi09', not a sampler of "
                        r"the preset; name one of psi05, psi07, direct"),
    ({"samplers": {"direct": None}}, r"p\.yaml: key 'overrides\.stylegan\.samplers\.direct' "
                                     r"removes the preset's main sampler; keep it or set overrides\.stylegan\.main"),
])
def test_a_main_sampler_the_preset_lacks_is_an_error(preset_dir: Path, overrides, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_preset("stylegan", overrides, preset_dir=preset_dir, profile_source="p.yaml")
    kept = load_preset("stylegan", {"samplers": {"direct": None}, "main": "psi07"}, preset_dir=preset_dir)
    assert kept.main == "psi07"


def test_a_sampler_may_draw_its_own_number_of_images(preset_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"samplers\.x.*key 'n' must be >= 0"):
        load_preset("ddpm", {"samplers": {"x": {"algo": "ddim", "n": -1}}}, preset_dir=preset_dir)


@pytest.mark.parametrize("subset, match", [
    ({"algo": "ddim", "steps": 50, "n": 200, "first_of": "ddim5"}, r"'ddim5' is not a drawing sampler .*ddim50"),
    ({"algo": "ddim", "steps": 50, "n": 200, "first_of": "x"}, r"'x' is not a drawing sampler"),  # itself
    ({"algo": "ddim", "steps": 20, "n": 200, "first_of": "ddim50"}, r"'ddim50' draws with other settings"),
    ({"algo": "ddim", "steps": 50, "first_of": "ddim50"}, r"set 'n' to at most the evaluation\.n_fake images"),
    ({"algo": "ddpm", "n": 300, "first_of": "ddpm"}, r"set 'n' to at most the 200 images 'ddpm' draws, got 300"),
])
def test_a_first_of_setting_takes_images_of_a_setting_that_draws_alike(preset_dir: Path, subset, match) -> None:
    with pytest.raises(ConfigError, match=r"samplers\.x\.first_of': " + match):
        load_preset("ddpm", {"samplers": {"ddpm": {"n": 200}, "x": subset}}, preset_dir=preset_dir)
    kept = load_preset("ddpm", {"samplers": {"x": {"algo": "ddim", "steps": 50, "n": 200, "first_of": "ddim50"}}},
                       preset_dir=preset_dir).samplers["x"]
    assert kept.first_of == "ddim50" and kept.draws_like(load_preset("ddpm", preset_dir=preset_dir).samplers["ddim50"])


@pytest.mark.parametrize("preset_datasets, match", [
    ({"dcgann": ["mnist"]}, r"'preset_datasets\.dcgann' names a preset not in 'presets'"),
    ({"dcgan": ["cifar10"]}, r"'preset_datasets\.dcgan': unknown dataset 'cifar10' \(known: .*mnist_m"),
])
def test_preset_datasets_must_name_profile_presets_and_datasets(monkeypatch, preset_datasets, match) -> None:
    from genbench.config import load_profile, validate_all

    monkeypatch.chdir(REPO)
    profile = load_profile({"profile": "p", "presets": ["dcgan"], "preset_datasets": preset_datasets}, source="p.yaml")
    with pytest.raises(ConfigError, match=match):
        validate_all(profile, profile_source="p.yaml")
    assert load_profile({"profile": "p", "presets": ["dcgan"]}, source="p").datasets_of("dcgan") == ("mnist",
                                                                                                      "fashion_mnist")


def test_the_committed_schema_is_the_one_the_dataclasses_generate() -> None:
    from genbench.config.schema import SCHEMA_PATH, render_profile

    assert (REPO / SCHEMA_PATH).read_text() == render_profile(), "run: python -m genbench.config.schema --write"


def test_the_schema_accepts_every_shipped_profile_and_refuses_what_the_dataclasses_refuse(tmp_path: Path) -> None:
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = str(REPO / "workflow/schemas/params.schema.yaml")
    for path in PROFILES:
        validate(yaml.safe_load(path.read_text()), schema)
    for data in ({"profile": "p", "threads": 0}, {"profile": "p", "evaluation": {"metrics": ["fid"]}}):
        with pytest.raises(WorkflowError):
            validate(data, schema)
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data))
        with pytest.raises(ConfigError):
            load_profile_file(tmp_path / "bad.yaml")


def test_metric_names_are_one_list() -> None:
    from genbench.config import METRIC_NAMES
    from genbench.jobs.evaluate import compute_metrics

    schema = yaml.safe_load((REPO / "workflow/schemas/params.schema.yaml").read_text())
    assert schema["properties"]["evaluation"]["properties"]["metrics"]["items"]["enum"] == list(METRIC_NAMES)
    assert ProfileConfig().evaluation.metrics == METRIC_NAMES
    assert inspect.signature(compute_metrics).parameters["names"].default is METRIC_NAMES


def test_the_feature_spaces_a_profile_may_name_are_the_registered_extractors() -> None:
    from genbench.config.profile import FeatureSpace
    from genbench.features import EXTRACTORS

    assert set(typing.get_args(FeatureSpace)) == set(EXTRACTORS.names())


@pytest.mark.parametrize("data, key, says", [
    ({"threads": 0}, "threads", "must be >= 1, got 0"),
    ({"memorisation": {"near_copy_quantile": 1.0}}, "memorisation.near_copy_quantile", "must be < 1, got 1.0"),
    ({"seeds": [0, 0]}, "seeds", "lists 0 twice"),
    ({"preset_datasets": {"dcgan": []}}, "preset_datasets.dcgan", "must list at least 1"),
    ({"device": "gpu"}, "device", "must be one of auto, cpu, cuda, got 'gpu'"),
    ({"evaluation": {"metrics": ["fd", "fid"]}}, "evaluation.metrics[1]", "must be one of fd, kid, is, pr, dc"),
    ({"evaluation": {"reference_split": "val"}}, "evaluation.reference_split", "must be one of train, test"),
])
def test_out_of_range_or_unlisted_values_name_file_and_key(tmp_path: Path, data: dict, key: str, says: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"profile": "p", **data}))
    with pytest.raises(ConfigError) as err:
        load_profile_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}: key '{key}' {says}") and "\n" not in message, message


def test_the_training_runtime_is_a_profile_key(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    assert load_profile_file("params/full.yaml").train_runtime_minutes == 720
    assert load_profile_file("params/default.yaml").train_runtime_minutes == ProfileConfig().train_runtime_minutes

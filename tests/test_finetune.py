"""Fine-tuning from another dataset's checkpoint (train.init_from + train.init_dataset): the start is the source's
weights bitwise, a source of another family or shape is refused in one line, and the profile checks the chain."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genbench.config import ConfigError, MlflowConfig, PresetConfig, RunConfig, TrainConfig, load_profile, validate_all
from genbench.io import InputError
from genbench.models import build_model
from genbench.models.base import ImageSpec
from genbench.train.checkpoint import initialise_from, save_checkpoint
from genbench.train.job import init_checkpoint

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
TINY = {"base_channels": 8, "timesteps": 50}


def checkpoint(path: Path, family: str, model_cfg: dict, *, ema: bool, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(family, model_cfg, SPEC)
    run_cfg = RunConfig(profile="t", dataset="mnist", preset=family, seed=0, device="cpu", threads=1,
                        spec=PresetConfig(family=family, model=model_cfg, train=TrainConfig(steps=7)),
                        mlflow=MlflowConfig())
    ema_state = None
    if ema:  # an EMA that differs from the trained weights, so the test sees which one was taken
        ema_state = {k: v + 1.0 for k, v in model.sampling_module().state_dict().items()}
    save_checkpoint(path, model=model, run_cfg=run_cfg, step=7, optimizers={}, ema_state=ema_state)
    return model


@pytest.mark.parametrize("ema", [True, False])
def test_fine_tuning_starts_from_the_source_weights_bitwise(tmp_path: Path, ema: bool) -> None:
    source = checkpoint(tmp_path / "source.pt", "ddpm", TINY, ema=ema)
    torch.manual_seed(1)
    model = build_model("ddpm", TINY, SPEC)
    record = initialise_from(model, tmp_path / "source.pt")
    expected = {k: v + 1.0 if ema else v for k, v in source.sampling_module().state_dict().items()}
    state = model.sampling_module().state_dict()
    assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in state)
    assert record == {"preset": "ddpm", "dataset": "mnist", "seed": 0, "steps": 7,
                      "weights": "ema" if ema else "trained", "checkpoint": str(tmp_path / "source.pt")}


def test_a_source_of_another_family_is_refused_in_one_line(tmp_path: Path) -> None:
    checkpoint(tmp_path / "cond.pt", "ddpm_cond", TINY, ema=False)
    with pytest.raises(InputError, match=r"^\S+cond.pt: cannot initialise a ddpm from it, it is a ddpm_cond "
                                         r"checkpoint; give train.init_from a preset of the same family$"):
        initialise_from(build_model("ddpm", TINY, SPEC), tmp_path / "cond.pt")


def test_a_source_of_another_shape_is_refused_in_one_line(tmp_path: Path) -> None:
    checkpoint(tmp_path / "wide.pt", "ddpm", {**TINY, "base_channels": 16}, ema=False)
    with pytest.raises(InputError, match=r"^\S+wide.pt: cannot initialise from it: tensor '\S+' is missing or has "
                                         r"another shape"):
        initialise_from(build_model("ddpm", TINY, SPEC), tmp_path / "wide.pt")


def test_the_source_checkpoint_is_the_init_datasets() -> None:
    out_dir = Path("results/default/fashion_mnist/ddpm_ft/seed2")
    to_mnist = init_checkpoint(out_dir, "ddpm", 2, dataset="mnist")
    assert to_mnist == Path("results/default/mnist/ddpm/seed2/checkpoint.pt")
    same = init_checkpoint(out_dir, "ddpm", 2, dataset="fashion_mnist")
    assert same == out_dir.parent.parent / "ddpm/seed2/checkpoint.pt"


def profile(**overrides) -> dict:
    return {"profile": "t", "datasets": ["mnist", "fashion_mnist"], "presets": ["ddpm", "ddpm_ft"],
            "preset_datasets": {"ddpm_ft": ["fashion_mnist"]}, **overrides}


def test_the_default_chain_validates_and_a_source_not_trained_there_is_refused() -> None:
    validate_all(load_profile(profile(), source="t.yaml"), profile_source="t.yaml")
    untrained = profile(preset_datasets={"ddpm": ["fashion_mnist"], "ddpm_ft": ["fashion_mnist"]})
    with pytest.raises(ConfigError, match=r"^t.yaml: preset 'ddpm_ft' starts from 'ddpm' on dataset 'mnist', where "
                                         r"'ddpm' is not trained; add it to preset_datasets.ddpm$"):
        validate_all(load_profile(untrained, source="t.yaml"), profile_source="t.yaml")
    orphan = profile(overrides={"ddpm_ft": {"train": {"init_from": ""}}})
    with pytest.raises(ConfigError, match=r"init_dataset 'mnist' but no train.init_from"):
        validate_all(load_profile(orphan, source="t.yaml"), profile_source="t.yaml")


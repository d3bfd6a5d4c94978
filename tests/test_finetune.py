"""Fine-tuning from another dataset's checkpoint (train.init_from + train.init_dataset): the start is the source's
weights bitwise (and the curve's step 0), a source of another family, image shape or architecture is refused in one
line, the profile checks the chain, and the report compares like with like."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genbench.config import (ConfigError, MlflowConfig, PresetConfig, RunConfig, TrainConfig, load_profile,
                             resolve_run, validate_all)
from genbench.data import fashion_mnist, mnist
from genbench.data.base import write_prepared
from genbench.io import InputError, read_json
from genbench.jobs.train import init_checkpoint, run_training
from genbench.models import build_model
from genbench.models.base import ImageSpec
from genbench.report.collect import Results
from genbench.report.finetune import finetune_section
from genbench.train.checkpoint import initialise_from, read_checkpoint, read_milestones, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
TINY = {"base_channels": 8, "timesteps": 50}


def checkpoint(path: Path, family: str, model_cfg: dict, *, ema: bool, seed: int = 0,
               image: ImageSpec = SPEC) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(family, model_cfg, image)
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


def test_a_source_of_another_image_size_is_refused_in_one_line(tmp_path: Path) -> None:
    # The UNet's tensors fit 32x32 images as well as 28x28 ones: the image spec decides, before the tensors.
    checkpoint(tmp_path / "big.pt", "ddpm", TINY, ema=False, image=ImageSpec(1, 32, 32, 10))
    with pytest.raises(InputError, match=r"^\S+big.pt: cannot initialise from it: trained on 1x32x32 images of "
                                         r"'mnist', this model makes 1x28x28; set train.init_dataset to a dataset "
                                         r"of the same image shape$"):
        initialise_from(build_model("ddpm", TINY, SPEC), tmp_path / "big.pt")


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
    typo = profile(overrides={"ddpm_ft": {"train": {"init_dataset": "mnsit"}}})
    with pytest.raises(ConfigError, match=r"^t.yaml: preset 'ddpm_ft', key 'train.init_dataset': unknown dataset "
                                         r"'mnsit' \(known: "):
        validate_all(load_profile(typo, source="t.yaml"), profile_source="t.yaml")


def tiny_data(root: Path, name: str, source, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    splits = {split: (rng.integers(0, 256, (32, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 32).astype(np.int64))
              for split in ("train", "test")}
    write_prepared(root / name, name=name, source=source, class_names=tuple("0123456789"), splits=splits)
    return root / name


def test_a_fine_tuning_run_starts_from_the_other_datasets_checkpoint(tmp_path: Path) -> None:
    """The train job finds the source by train.init_dataset under its own results root, records it, and keeps its
    step 0 (the source's EMA weights, bitwise) in milestones.pt: the fine-tuning curve's first point."""
    recipe = {"model": {"base_channels": 8, "timesteps": 20}, "train": {"steps": 4, "batch_size": 8, "log_every": 2,
                                                                      "grid_size": 4, "curve_points": 1}}
    cfg = load_profile({"profile": "t", "device": "cpu", "datasets": ["mnist", "fashion_mnist"],
                        "presets": ["ddpm", "ddpm_ft"], "preset_datasets": {"ddpm_ft": ["fashion_mnist"]},
                        "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                        "overrides": {"ddpm": recipe, "ddpm_ft": recipe}}, source="t.yaml")
    results = tmp_path / "results" / "t"
    chain = (("mnist", "ddpm", mnist.SOURCE), ("fashion_mnist", "ddpm_ft", fashion_mnist.SOURCE))
    for dataset, preset, source in chain:
        run_cfg = resolve_run(cfg, dataset=dataset, preset=preset, seed=0, preset_dir=REPO / "params" / "models",
                              samplers=False)
        run_training(run_cfg, data_dir=tiny_data(tmp_path / "data", dataset, source, seed=len(dataset)),
                     out_dir=results / dataset / preset / "seed0")
    tuned = results / "fashion_mnist" / "ddpm_ft" / "seed0"
    source = results / "mnist" / "ddpm" / "seed0" / "checkpoint.pt"
    assert read_json(tuned / "train_summary.json")["init_from"] == {
        "preset": "ddpm", "dataset": "mnist", "seed": 0, "steps": 4, "weights": "ema", "checkpoint": str(source)}
    milestones, ema = read_milestones(tuned / "milestones.pt"), read_checkpoint(source)["ema"]
    assert list(milestones) == [0, 2]
    assert milestones[0].keys() == ema.keys() and all(torch.equal(milestones[0][k], ema[k]) for k in ema)


def curve(path: Path, steps_fd: dict[int, float], **protocol) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    points = [{"step": s, "fd_domain": fd, "precision_domain": 0.5, "recall_domain": 0.25}
              for s, fd in steps_fd.items()]
    path.write_text(json.dumps({"points": points, "protocol": {"n_fake": 250, "seed": 0, "sampler_config": {
        "algo": "ddim", "steps": 50}, **protocol}}))


def test_the_report_sets_the_fine_tune_against_the_source_from_scratch_at_equal_steps(tmp_path: Path) -> None:
    def results(*presets: str) -> Results:
        summary = pd.DataFrame([{"dataset": "fashion_mnist", "preset": p, "seed": 0} for p in presets])
        return Results(summary=summary, losses=pd.DataFrame(), classifiers=pd.DataFrame(), protocols=pd.DataFrame(),
                       metrics=[])

    run = tmp_path / "fashion_mnist"
    (run / "ddpm/seed0").mkdir(parents=True)
    (run / "ddpm/seed0/train_summary.json").write_text("{}")
    assert finetune_section(results("ddpm"), tmp_path) is None  # no fine-tuned run
    (run / "ddpm_ft/seed0").mkdir(parents=True)
    (run / "ddpm_ft/seed0/train_summary.json").write_text(json.dumps({"init_from": {
        "preset": "ddpm", "dataset": "mnist", "seed": 0, "steps": 1200, "weights": "ema", "checkpoint": "c.pt"}}))
    curve(run / "ddpm_ft/seed0/training_curve/ddim50.json", {0: 150.0, 240: 98.3, 480: 76.4})
    curve(run / "ddpm/seed0/training_curve/ddim50.json", {240: 120.8, 480: 99.4, 720: 82.8})
    section = finetune_section(results("ddpm", "ddpm_ft"), tmp_path)
    assert [row[4:7] for row in section.rows] == [["0 (the source)", "150", "n/a"], ["240", "98.3", "120.8"],
                                                  ["480", "76.4", "99.4"]]
    assert "ddpm trained 1200 steps on mnist" in section.text and "250 samples per point" in section.text
    assert list(section.figures) == ["finetune_fashion_mnist_ddpm_ft.png"]
    # A from-scratch curve of another sampler setting does not compare: its column is n/a.
    curve(run / "ddpm/seed0/training_curve/ddim50.json", {240: 120.8}, sampler_config={"algo": "ddim", "steps": 10})
    assert [row[6] for row in finetune_section(results("ddpm", "ddpm_ft"), tmp_path).rows] == ["n/a"] * 3


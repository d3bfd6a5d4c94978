"""A first_of sampler setting: the first n images of another setting's draw, without drawing again."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genbench.config import SamplerConfig, load_profile, resolve_run
from genbench.data.base import write_prepared
from genbench.data.mnist import SOURCE
from genbench.io import InputError, load_npz, read_json
from genbench.jobs.sample import run_sampling
from genbench.jobs.train import run_training

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("subsets")
    rng = np.random.default_rng(0)
    splits = {split: (rng.integers(0, 256, (32, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 32).astype(np.int64))
              for split in ("train", "test")}
    write_prepared(root / "mnist", name="mnist", source=SOURCE, class_names=tuple("0123456789"), splits=splits)
    profile = load_profile({"profile": "subsets", "device": "cpu",
                            "mlflow": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}"},
                            "overrides": {"cgan": {"model": {"base_channels": 8},
                                                   "train": {"steps": 4, "batch_size": 8, "grid_size": 4},
                                                   "samplers": {"direct_n8": {"n": 8, "first_of": "direct"}}}}},
                           source="test")
    run_cfg = resolve_run(profile, dataset="mnist", preset="cgan", seed=0, preset_dir=REPO / "params" / "models")
    run_training(run_cfg, data_dir=root / "mnist", out_dir=root / "run")
    return root / "run" / "checkpoint.pt"


SAMPLERS = {"direct": SamplerConfig(), "direct_n8": SamplerConfig(n=8, first_of="direct")}  # the profile's above


def _sample(checkpoint: Path, name: str, out: Path, *, n: int = 24, seed: int = 0, parent: Path | None = None) -> dict:
    return run_sampling(checkpoint, sampler_name=name, sampler=SAMPLERS[name], n=n, batch_size=8, seed=seed,
                        device="cpu", threads=1, out=out, parent_samples=parent)


def test_a_first_of_setting_is_the_first_n_images_and_labels_of_its_parent(checkpoint: Path, tmp_path: Path) -> None:
    parent = tmp_path / "direct.npz"
    _sample(checkpoint, "direct", parent)
    record = _sample(checkpoint, "direct_n8", tmp_path / "direct_n8.npz", parent=parent)
    taken, drawn = load_npz(tmp_path / "direct_n8.npz"), load_npz(parent)
    assert np.array_equal(taken["images"], drawn["images"][:8]) and np.array_equal(taken["labels"], drawn["labels"][:8])
    assert int(taken["sampler_n"]) == 8  # evaluate measures all of its images, whatever evaluation.n_fake says
    assert record == read_json(tmp_path / "direct_n8.json")
    assert (record["sampler"], record["n"], record["first_of"]) == ("direct_n8", 8, "direct")
    # whole batches from one seeded generator: the same images as drawing 8 with the parent's setting
    _sample(checkpoint, "direct", tmp_path / "direct8.npz", n=8)
    assert np.array_equal(taken["images"], load_npz(tmp_path / "direct8.npz")["images"])


def test_a_first_of_setting_refuses_a_parent_of_another_seed_or_a_missing_one(checkpoint: Path, tmp_path: Path) -> None:
    parent = tmp_path / "direct.npz"
    _sample(checkpoint, "direct", parent, seed=1)
    with pytest.raises(InputError, match=r"direct\.npz: not 'direct' samples of .*checkpoint\.pt at seed 0"):
        _sample(checkpoint, "direct_n8", tmp_path / "direct_n8.npz", parent=parent)
    with pytest.raises(ValueError, match=r"'direct_n8' takes the first images of 'direct': pass --parent-samples"):
        _sample(checkpoint, "direct_n8", tmp_path / "direct_n8.npz")
    assert not (tmp_path / "direct_n8.npz").exists()


def test_the_train_job_writes_every_model_key_with_its_familys_default(checkpoint: Path) -> None:
    """config.yaml holds the keys the preset leaves out too: the report reads the paper settings' keys there."""
    import dataclasses

    import yaml

    from genbench.models import family_class

    spec = yaml.safe_load((checkpoint.parent / "config.yaml").read_text())["spec"]
    assert set(spec["model"]) == {field.name for field in dataclasses.fields(family_class("cgan").Config)}
    assert spec["model"]["base_channels"] == 8  # the profile's override

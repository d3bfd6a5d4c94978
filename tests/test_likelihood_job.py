"""The likelihood job and its report: one record per model on the same test rows, checked configs, and the
bits/dim column beside FD."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from genbench.config import LikelihoodConfig, load_profile, resolve_run, validate_all
from genbench.data.base import write_prepared
from genbench.data.mnist import SOURCE
from genbench.errors import ConfigError
from genbench.io import InputError, load_npz, read_json
from genbench.jobs.likelihood import run_likelihood
from genbench.jobs.train import run_training

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "params" / "models"


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory) -> tuple[Path, Path]:
    """A VAE with the discretised logistic decoder trained for a few steps on 48 random 28x28 images."""
    root = tmp_path_factory.mktemp("likelihood")
    rng = np.random.default_rng(0)
    splits = {split: (rng.integers(0, 256, (48, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 48).astype(np.int64))
              for split in ("train", "test")}
    data = root / "mnist"
    write_prepared(data, name="mnist", source=SOURCE, class_names=tuple("0123456789"), splits=splits)
    profile = load_profile({"profile": "lik", "device": "cpu",
                            "mlflow": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}"},
                            "overrides": {"vae": {"model": {"base_channels": 8, "latent_dim": 4},
                                                  "train": {"steps": 4, "batch_size": 8, "grid_size": 4}}}},
                           source="test")
    run_cfg = resolve_run(profile, dataset="mnist", preset="vae", seed=0, preset_dir=PRESETS)
    run_training(run_cfg, data_dir=data, out_dir=root / "run")
    return root / "run" / "checkpoint.pt", data


def _run(checkpoint: Path, data: Path, out: Path, **cfg) -> dict:
    return run_likelihood(checkpoint, data, LikelihoodConfig(**{"n": 12, "batch_size": 5, "iwae_k": 8, **cfg}),
                          seed=0, device="cpu", threads=1, identity={"preset": "vae"}, out=out)


def test_record_has_every_estimate_per_image_and_is_reproducible(tiny_vae, tmp_path):
    checkpoint, data = tiny_vae
    record = _run(checkpoint, data, tmp_path / "a" / "likelihood.json")
    again = _run(checkpoint, data, tmp_path / "b" / "likelihood.json")
    assert record["primary"] == "iwae" and set(record["estimates"]) == {"iwae", "elbo"}
    assert record["protocol"]["n"] == 12 and record["protocol"]["dims"] == 784
    per_image = load_npz(tmp_path / "a" / "likelihood.npz")
    assert per_image["iwae"].shape == (12,) and (per_image["iwae"] <= per_image["elbo"] + 1e-6).all()
    assert math.isclose(record["estimates"]["iwae"]["bits_per_dim"], float(per_image["iwae"].mean()))
    assert read_json(tmp_path / "b" / "likelihood.json")["estimates"] == record["estimates"] == again["estimates"]
    assert 0 < record["estimates"]["iwae"]["bits_per_dim"] < 20


def test_too_many_rows_or_another_datasets_images_name_the_fix(tiny_vae, tmp_path):
    checkpoint, data = tiny_vae
    with pytest.raises(InputError, match="has 48 rows, likelihood.n asks for 49; lower it"):
        _run(checkpoint, data, tmp_path / "x.json", n=49)
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "x.npz").exists()


def test_profile_check_refuses_models_without_an_8_bit_likelihood():
    base = {"datasets": ["mnist"], "presets": ["dcgan", "vae"]}
    with pytest.raises(ConfigError, match=r"likelihood.presets', preset 'dcgan'.*no likelihood"):
        validate_all(load_profile(base | {"likelihood": {"presets": ["dcgan"]}}, source="p.yaml"),
                     profile_source="p.yaml", preset_dir=PRESETS)
    bernoulli = base | {"likelihood": {"presets": ["vae"]}, "overrides": {"vae": {"model": {"likelihood": "bernoulli"}}}}
    with pytest.raises(ConfigError, match="set model.likelihood: logistic"):
        validate_all(load_profile(bernoulli, source="p.yaml"), profile_source="p.yaml", preset_dir=PRESETS)
    with pytest.raises(ConfigError, match="not in 'presets'"):
        validate_all(load_profile(base | {"likelihood": {"presets": ["flow"]}}, source="p.yaml"),
                     profile_source="p.yaml", preset_dir=PRESETS)

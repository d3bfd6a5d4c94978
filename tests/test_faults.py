"""Faults a training job meets: a diverging loss or gradient, and files that try to run code when loaded."""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.config import load_profile, resolve_run
from genbench.data.base import write_prepared
from genbench.data.mnist import SOURCE
from genbench.io import InputError
from genbench.models.dcgan import DCGAN
from genbench.train.loop import TrainingDiverged

REPO = Path(__file__).resolve().parents[1]


class _RunsCode:
    """Unpickling it would call ``Path.touch`` on the marker: what a hostile checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture()
def tiny_mnist(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    splits = {split: (rng.integers(0, 256, (32, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 32).astype(np.int64))
              for split in ("train", "test")}
    write_prepared(tmp_path / "mnist", name="mnist", source=SOURCE, class_names=tuple("0123456789"), splits=splits)
    return tmp_path / "mnist"


def _run_cfg(tmp_path: Path):
    profile = load_profile({"profile": "faults", "device": "cpu", "checkpoint": {"every_steps": 2},
                            "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                            "overrides": {"dcgan": {"model": {"base_channels": 8},
                                                    "train": {"steps": 12, "batch_size": 8, "log_every": 1}}}},
                           source="test")
    return resolve_run(profile, dataset="mnist", preset="dcgan", seed=0, preset_dir=REPO / "params" / "models")


@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_divergence_stops_within_the_step_and_leaves_no_output(tiny_mnist, tmp_path, monkeypatch, where) -> None:
    from mlflow import MlflowClient

    from genbench.jobs.train import run_training

    real_step, calls = DCGAN.train_step, []

    def step_that_diverges_at_7(self, images, labels, optimizers):
        calls.append(1)
        if len(calls) < 7:
            return real_step(self, images, labels, optimizers)
        if where == "loss":
            return {"loss_d": float("nan"), "loss_g": 1.0}
        weights = {k: v.clone() for k, v in self.generator.state_dict().items()}
        optimizers["generator"].zero_grad()
        next(self.generator.parameters()).grad = torch.full_like(next(self.generator.parameters()), float("inf"))
        try:
            optimizers["generator"].step()
        finally:  # the guard refused the update: G's weights are those before the step
            assert all(torch.equal(v, self.generator.state_dict()[k]) for k, v in weights.items())

    monkeypatch.setattr(DCGAN, "train_step", step_that_diverges_at_7)
    monkeypatch.chdir(tmp_path)  # MLflow's artifact folder
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as err:
        run_training(_run_cfg(tmp_path), data_dir=tiny_mnist, out_dir=out)
    message = str(err.value)
    assert message.startswith("dcgan: step 7: ") and "\n" not in message
    assert ("loss 'loss_d' is nan" if where == "loss" else "gradient norm of optimiser 'generator' is inf") in message
    assert sorted(p.name for p in out.iterdir()) == ["resume.pt"]  # the last good snapshot (step 6), nothing else
    assert torch.load(out / "resume.pt", weights_only=True)["loop"]["step"] == 6
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("genbench-faults").experiment_id])
    assert run.info.status == "FAILED"


def test_checkpoint_or_snapshot_that_runs_code_is_refused(tmp_path) -> None:
    from genbench.train.checkpoint import read_checkpoint
    from genbench.train.resume import load_snapshot

    marker = tmp_path / "pwned"
    hostile = tmp_path / "checkpoint.pt"
    torch.save({"format_version": 1, "model": _RunsCode(marker)}, hostile)
    with pytest.raises(InputError, match="checkpoint.pt: not a readable genbench checkpoint"):
        read_checkpoint(hostile)
    with pytest.raises(InputError, match="checkpoint.pt: not a readable resume snapshot"):
        load_snapshot(hostile, _run_cfg(tmp_path))
    assert not marker.exists()


def test_vgg_pickle_reader_allows_numpy_arrays_only(tmp_path) -> None:
    from genbench.features.vgg import load_array_pickle

    arrays = {"conv1": {"w": np.ones((2, 2), np.float32)}}
    assert np.array_equal(load_array_pickle(pickle.dumps(arrays), source="vgg16.pkl")["conv1"]["w"], np.ones((2, 2)))
    marker = tmp_path / "pwned"
    with pytest.raises(InputError, match="vgg16.pkl: the pickle asks for pathlib"):
        load_array_pickle(pickle.dumps({"w": _RunsCode(marker)}), source="vgg16.pkl")
    assert not marker.exists()


def test_every_loader_in_the_sources_is_a_safe_one() -> None:
    """No torch.load without weights_only=True, no yaml.load / pickle.load, no shell=True anywhere in the
    code that runs (the VGG16 pickle goes through ArrayUnpickler, tested above)."""
    unsafe = re.compile(r"torch\.load\((?!.*weights_only=True)|yaml\.(?:load|unsafe_load)\(|pickle\.loads?\("
                        r"|shell=True|Unpickler\.load\(")
    sources = [*REPO.glob("genbench/**/*.py"), *REPO.glob("workflow/**/*.smk"), REPO / "Snakefile",
               *REPO.glob("benchmarks/*.py")]
    hits = [f"{path.relative_to(REPO)}:{number}" for path in sources
            for number, line in enumerate(path.read_text().splitlines(), 1) if unsafe.search(line)]
    assert len(sources) > 50 and hits == []

"""Bad inputs met through the ``genbench`` commands the rules run: each is one line on stderr, exit code 2,
and no output file. (Profile keys, datasets, fetches and metric inputs have their own tests beside their
code: test_config, test_data, test_io, test_metrics_cli; RELIABILITY.md lists them all.)"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.cli import main
from genbench.config import EvaluationConfig
from genbench.data.base import write_prepared
from genbench.data.mnist import SOURCE
from genbench.features.domain import DomainClassifier, save_classifier
from genbench.io import InputError, save_npz
from genbench.jobs.evaluate import run_evaluation
from genbench.jobs.reference import run_reference
from genbench.models.dcgan import DCGAN

REPO = Path(__file__).resolve().parents[1]


def tiny_dataset(root: Path, size: int = 28) -> Path:
    rng = np.random.default_rng(0)
    splits = {split: (rng.integers(0, 256, (32, 1, size, size), dtype=np.uint8), rng.integers(0, 10, 32).astype(np.int64))
              for split in ("train", "test")}
    write_prepared(root / "mnist", name="mnist", source=SOURCE, class_names=tuple("0123456789"), splits=splits)
    return root / "mnist"


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """A working directory as Snakemake's: params/ beside it, MLflow's store and artifacts inside."""
    (tmp_path / "params").symlink_to(REPO / "params")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def train_args(data: Path, out: Path) -> list[str]:
    settings = {"profile": "bad", "device": "cpu", "threads": 1,
                "overrides": {"dcgan": {"model": {"base_channels": 8}, "train": {"steps": 6, "batch_size": 8}}}}
    return ["train", "--dataset", "mnist", "--preset", "dcgan", "--data", str(data), "--out-dir", str(out),
            "--settings", json.dumps(settings)]


def one_line_error(capsys) -> str:
    """genbench's own error line (MLflow may log its store's creation to stderr before it)."""
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("genbench ")]
    return line


def run_statuses(workdir: Path) -> list[str]:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("genbench-bad")
    return [run.info.status for run in client.search_runs([experiment.experiment_id])]


def test_images_of_a_size_the_model_cannot_make(workdir: Path, capsys) -> None:
    out = workdir / "run"
    assert main(train_args(tiny_dataset(workdir, size=30), out)) == 2
    err = one_line_error(capsys)
    assert "dcgan" in err and "30" in err
    assert not out.exists() or not any(out.iterdir())


def test_cuda_out_of_memory_names_the_batch_size_key(workdir: Path, capsys, monkeypatch) -> None:
    def out_of_memory(self, images, labels, optimizers):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 8.00 GiB total)")

    monkeypatch.setattr(DCGAN, "train_step", out_of_memory)
    out = workdir / "run"
    assert main(train_args(tiny_dataset(workdir), out)) == 2
    err = one_line_error(capsys)
    assert "out of device memory (CUDA out of memory. Tried to allocate 2.00 GiB" in err
    assert "lower train.batch_size in the profile (overrides: {dcgan: {train: {batch_size: ...}}})" in err
    assert not (out / "checkpoint.pt").exists() and run_statuses(workdir) == ["FAILED"]


def test_a_sampler_that_makes_nan_writes_no_samples(workdir: Path, capsys, monkeypatch) -> None:
    run = workdir / "run"
    assert main(train_args(tiny_dataset(workdir), run)) == 0
    monkeypatch.setattr(DCGAN, "sample", lambda self, n, **_: torch.full((n, 1, 28, 28), float("nan")))
    out = workdir / "samples" / "direct.npz"
    assert main(["sample", "--checkpoint", str(run / "checkpoint.pt"), "--sampler", "direct", "--out", str(out),
                 "--settings", json.dumps({"profile": "bad", "device": "cpu"})]) == 2
    assert "sampler 'direct' produced NaN/inf images" in one_line_error(capsys)
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no grid or record either


@pytest.fixture()
def reference(tmp_path: Path) -> tuple[Path, Path]:
    """An (untrained) 1-channel domain network and the reference features of a tiny dataset."""
    torch.manual_seed(0)
    classifier = tmp_path / "classifier.pt"
    save_classifier(DomainClassifier(in_channels=1, num_classes=10), classifier, {})
    ref = tmp_path / "reference.npz"
    run_reference(tiny_dataset(tmp_path), classifier, space="domain", split="test", n=16, batch_size=8,
                  device="cpu", threads=1, out=ref)
    return ref, classifier


@pytest.mark.parametrize("images, needle", [
    (np.full((16, 1, 28, 28), np.nan, np.float32), "float32 with NaN or inf values"),
    (np.zeros((0, 1, 28, 28), np.uint8), "non-empty uint8"),
    (np.zeros((16, 3, 28, 28), np.uint8), "3-channel images, but the domain network"),
])
def test_sample_files_the_evaluation_refuses(tmp_path: Path, reference, images, needle: str) -> None:
    samples = tmp_path / "samples.npz"
    save_npz(samples, {"images": images})
    out = tmp_path / "metrics.json"
    cfg = EvaluationConfig(n_fake=len(images), n_real=16, batch_size=8, feature_spaces=("domain",))
    with pytest.raises(InputError, match=needle) as err:
        run_evaluation([samples], [reference[0]], [reference[1]], cfg, device="cpu", threads=1, identities=[{}],
                       outs=[out])
    assert str(samples) in str(err.value) and "\n" not in str(err.value)
    assert not out.exists()


def test_metrics_command_names_a_nan_sample_file(tmp_path: Path, reference, capsys) -> None:
    fake = tmp_path / "fake.npz"
    save_npz(fake, {"images": np.full((16, 1, 28, 28), np.nan, np.float32)})
    out = tmp_path / "m.json"
    assert main(["metrics", "--real", str(fake), "--fake", str(fake), "--features", "domain",
                 "--extractor-file", str(reference[1]), "--out", str(out)]) == 2
    err = one_line_error(capsys)
    assert str(fake) in err and "NaN" in err and not out.exists()

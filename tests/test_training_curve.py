"""FD over training steps: milestone weights kept without disturbing training, and a curve whose last point
is the FD of the finished model's own samples."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.config import SamplerConfig, TrainingCurveConfig, load_profile, milestone_steps, resolve_run
from genbench.data.base import write_prepared
from genbench.data.mnist import SOURCE
from genbench.features.domain import DomainClassifier, extract, load_classifier, save_classifier
from genbench.io import load_npz
from genbench.jobs.reference import run_reference
from genbench.jobs.sample import run_sampling
from genbench.jobs.train import run_training
from genbench.jobs.training_curve import run_training_curve
from genbench.metrics import frechet_distance
from genbench.train.checkpoint import read_milestones, save_milestones

REPO = Path(__file__).resolve().parents[1]


def test_milestones_are_evenly_spaced_strictly_inside_the_run():
    assert milestone_steps(1000, 4) == (200, 400, 600, 800)
    assert milestone_steps(5, 4) == (1, 2, 3, 4)
    assert milestone_steps(3, 4) == (1, 2)  # no step twice, never step 0 or the last one
    assert milestone_steps(1000, 0) == ()


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    splits = {split: (rng.integers(0, 256, (48, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, 48).astype(np.int64))
              for split in ("train", "test")}
    out = tmp_path_factory.mktemp("data") / "mnist"
    write_prepared(out, name="mnist", source=SOURCE, class_names=tuple("0123456789"), splits=splits)
    return out


def _train(tmp_path: Path, data: Path, name: str, curve_points: int) -> Path:
    profile = load_profile({"profile": "curve", "device": "cpu",
                            "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                            "overrides": {"dcgan": {"model": {"base_channels": 8},
                                                    "train": {"steps": 12, "batch_size": 8, "log_every": 4,
                                                              "grid_size": 4, "curve_points": curve_points}}}},
                           source="test")
    run_cfg = resolve_run(profile, dataset="mnist", preset="dcgan", seed=0, preset_dir=REPO / "params" / "models")
    run_training(run_cfg, data_dir=data, out_dir=tmp_path / name)
    return tmp_path / name


def test_milestones_keep_a_modules_extra_state(tmp_path):
    # t2i's state dict holds its class names (get_extra_state) beside the tensors.
    state = {"unet.weight": torch.arange(4.0), "_extra_state": {"class_names": ["0", "1"]}}
    save_milestones(tmp_path / "milestones.pt", {20: state, 10: state})
    loaded = read_milestones(tmp_path / "milestones.pt")
    assert list(loaded) == [10, 20] and loaded[10]["_extra_state"] == {"class_names": ["0", "1"]}
    assert torch.equal(loaded[20]["unet.weight"], state["unet.weight"])


def test_milestones_change_nothing_in_training_and_the_curve_ends_at_the_models_own_fd(tiny_mnist, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's artifact folder
    with_curve, without = _train(tmp_path, tiny_mnist, "curve", 3), _train(tmp_path, tiny_mnist, "plain", 0)
    weights = [torch.load(run / "checkpoint.pt", weights_only=True)["model"] for run in (with_curve, without)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    milestones = read_milestones(with_curve / "milestones.pt")
    assert list(milestones) == [3, 6, 9] and read_milestones(without / "milestones.pt") == {}
    first = next(iter(milestones[3]))  # the generator's, as sampling_module() names them
    assert not torch.equal(milestones[3][first], weights[0][f"generator.{first}"])

    torch.manual_seed(0)
    classifier = tmp_path / "classifier.pt"
    save_classifier(DomainClassifier(in_channels=1, num_classes=10), classifier, {})
    reference = tmp_path / "reference.npz"
    run_reference(tiny_mnist, classifier, space="domain", split="test", n=32, batch_size=16, device="cpu",
                  threads=1, out=reference)
    record = run_training_curve(with_curve / "checkpoint.pt", with_curve / "milestones.pt", classifier, reference,
                                TrainingCurveConfig(n_fake=24), sampler_name="direct", sampler=SamplerConfig(),
                                reference_split="test",
                                batch_size=16, train_summary=with_curve / "train_summary.json", device="cpu",
                                threads=1, out=tmp_path / "curve.json")
    assert [p["step"] for p in record["points"]] == [3, 6, 9, 12]
    assert record["protocol"]["n_fake"] == 24 and record["protocol"]["n_real"] == 32
    assert {key: record[key] for key in ("dataset", "preset", "seed", "sampler")} == {  # from train_summary.json
        "dataset": "mnist", "preset": "dcgan", "seed": 0, "sampler": "direct"}
    assert len({p["fd_domain"] for p in record["points"]}) == 4  # the weights differ, so do the FDs

    samples = tmp_path / "samples.npz"  # the sample job at the same n, batch size and seed
    run_sampling(with_curve / "checkpoint.pt", sampler_name="direct", sampler=SamplerConfig(), n=24, batch_size=16,
                 seed=0, device="cpu", threads=1, out=samples)
    domain, _ = load_classifier(classifier, device="cpu")
    fake, _ = extract(domain, load_npz(samples)["images"], batch_size=16, device="cpu")
    expected = frechet_distance(load_npz(reference)["features"], fake)
    assert record["points"][-1]["fd_domain"] == pytest.approx(expected, rel=1e-9)

    # A sample file drawn alike (same checkpoint, seed and batch size; 24 = 3 whole batches of 8) gives the final
    # point's images without drawing them again, and the same FD; one drawn with another seed is not used.
    curve = lambda samples, out: run_training_curve(  # noqa: E731
        with_curve / "checkpoint.pt", with_curve / "milestones.pt", classifier, reference,
        TrainingCurveConfig(n_fake=24), sampler_name="direct", sampler=SamplerConfig(),
        reference_split="test", batch_size=8, train_summary=with_curve / "train_summary.json", device="cpu",
        threads=1, out=tmp_path / out, final_samples=samples)
    drawn = curve(None, "drawn.json")
    for seed in (0, 1):
        run_sampling(with_curve / "checkpoint.pt", sampler_name="direct", sampler=SamplerConfig(), n=48, batch_size=8,
                     seed=seed, device="cpu", threads=1, out=tmp_path / f"samples_seed{seed}.npz")
    reused = curve(tmp_path / "samples_seed0.npz", "reused.json")
    other_seed = curve(tmp_path / "samples_seed1.npz", "other.json")
    assert reused["protocol"]["final_point_from"] == str(tmp_path / "samples_seed0.npz")
    assert other_seed["protocol"]["final_point_from"] == drawn["protocol"]["final_point_from"] == "drawn"
    assert reused["points"] == drawn["points"] == other_seed["points"]

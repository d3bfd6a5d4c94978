"""WGAN with weight clipping: the bound after every critic step, RMSProp, the critic-weight record, and the
report's clipping-vs-penalty section on synthetic result files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import recorded_config, recorded_kinds
from genbench.config import ConfigError, TrainConfig
from genbench.images import save_grid
from genbench.io import write_json
from genbench.models import build_model
from genbench.models.base import ImageSpec
from genbench.report import build_report

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"base_channels": 8, "latent_dim": 16, "n_critic": 5, "clip": 0.01}


def test_every_critic_parameter_is_within_c_after_every_critic_step() -> None:
    torch.manual_seed(0)
    model = build_model("wgan", SMALL, SPEC).train()
    optimizers = model.configure_optimizers(TrainConfig(lr=0.05))  # a large step: it would leave [-c, c] unclipped
    steps = []
    original = model.critic_step

    def checked(real, optimizer):
        record = original(real, optimizer)
        largest = max(p.detach().abs().max().item() for p in model.discriminator.parameters())
        steps.append(largest)
        return record

    model.critic_step = checked
    for _ in range(3):
        losses = model.train_step(torch.rand(10, 1, 28, 28) * 2 - 1, torch.zeros(10, dtype=torch.long), optimizers)
    assert len(steps) == 3 * SMALL["n_critic"] and max(steps) <= SMALL["clip"]
    assert set(losses) == {"loss_d", "wasserstein", "loss_g"}
    assert losses["loss_d"] == pytest.approx(-losses["wasserstein"])
    assert min(steps) == pytest.approx(SMALL["clip"])  # the big lr pushes some weight onto the bound


def test_both_nets_use_rmsprop_and_the_generator_is_not_clipped() -> None:
    model = build_model("wgan", SMALL, SPEC)
    optimizers = model.configure_optimizers(TrainConfig(lr=5e-5))
    assert {name: type(opt) for name, opt in optimizers.items()} == {"generator": torch.optim.RMSprop,
                                                                      "discriminator": torch.optim.RMSprop}
    assert optimizers["discriminator"].defaults["momentum"] == 0 and optimizers["generator"].defaults["lr"] == 5e-5
    model.train_step(torch.rand(10, 1, 28, 28) * 2 - 1, torch.zeros(10, dtype=torch.long),
                     model.configure_optimizers(TrainConfig(lr=0.05)))
    assert max(p.abs().max().item() for p in model.generator.parameters()) > SMALL["clip"]


def test_the_critic_weight_record_counts_every_parameter() -> None:
    for family in ("wgan", "wgan_gp"):
        model = build_model(family, {k: v for k, v in SMALL.items() if family == "wgan" or k != "clip"}, SPEC)
        record = model.training_diagnostics()["critic_weights"]
        n = sum(p.numel() for p in model.discriminator.parameters())
        assert record["n"] == n and sum(record["counts"]) == n and len(record["bin_edges"]) == len(record["counts"]) + 1
        expected = (0.01, False) if family == "wgan" else (None, True)
        assert (record["clip"], record["fraction_at_bound"] is None) == expected


def test_a_bad_clip_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match=r"^wgan: .*key 'model.clip' must be > 0"):
        build_model("wgan", {**SMALL, "clip": 0.0}, SPEC)


def _write_run(root: Path, family: str, fd: float) -> None:
    run = root / "mnist" / family / "seed0"
    protocol = {"feature_space": "domain", "extractor_sha256": "a" * 64, "n_real": 64, "n_fake": 64,
                "reference_split": "test"}
    clip = 0.01 if family == "wgan" else None
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text(recorded_config(family))
    write_json(run / "train_summary.json", {
        "family": family, **recorded_kinds(family), "preset": family, "dataset": "mnist", "seed": 0, "steps": 20,
        "train_seconds": 4.0,
        "images_per_second": 300.0, "n_parameters": 100, "device": "cpu", "mlflow_run_id": "x",
        "critic_weights": {"bin_edges": [-0.01, 0.0, 0.01], "counts": [40, 60], "n": 100, "clip": clip,
                           "fraction_at_bound": 0.8 if clip else None}})
    lines = ["step,name,value"] + [f"{s},{n},{v}" for s in range(0, 20, 5)
                                   for n, v in (("loss_d", -s), ("wasserstein", s / 10), ("loss_g", 1))]
    (run / "losses.csv").write_text("\n".join(lines) + "\n")
    write_json(run / "samples" / "direct.json", {"sampler": "direct", "algo": "direct", "n": 64, "steps": 1,
                                                 "seconds": 1.0, "images_per_second": 64.0})
    save_grid(np.zeros((4, 1, 8, 8), np.uint8), run / "samples" / "direct.png")
    np.savez(run / "samples" / "direct.npz", images=np.zeros((8, 1, 8, 8), np.uint8))
    write_json(run / "metrics" / "direct.json", {"dataset": "mnist", "preset": family, "family": family,
                                                 "sampler": "direct", "seed": 0, "metrics": {
        name: {"value": value, "protocol": protocol} for name, value in
        (("fd_domain", fd), ("precision_domain", 0.6), ("recall_domain", 0.5))}})
    write_json(run / "training_curve" / "direct.json", {"points": [{"step": 10, "fd_domain": 2 * fd},
                                                                   {"step": 20, "fd_domain": fd}],
                                                        "protocol": {"n_fake": 64, "n_real": 64}})


def test_the_report_pairs_clipping_with_the_penalty(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_json(root / "mnist/domain/classifier.json", {"test_accuracy": 0.97, "n_train": 10, "n_test": 10,
                                                       "epochs": 1, "train_seconds": 1.0, "sha256": "a" * 64})
    _write_run(root, "wgan", 150.0)
    _write_run(root, "wgan_gp", 86.0)
    out = tmp_path / "all"
    build_report(root, out, profile="t", datasets=("mnist",), presets=("wgan", "wgan_gp"), seeds=(0,))
    markdown = (out / "report.md").read_text()
    assert "### WGAN: weight clipping vs gradient penalty (mnist)" in markdown
    assert "| WGAN (clipping) | wgan | 150 | 0.6 | 0.5 | 80.0% |" in markdown
    assert "| WGAN-GP | wgan_gp | 86 | 0.6 | 0.5 | n/a |" in markdown
    assert {"wgan_critic_weights_mnist.png", "wgan_training_mnist.png"} <= {p.name for p in (out / "figures").iterdir()}

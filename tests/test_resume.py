"""Exact resume: a real `genbench train` process killed with SIGKILL mid-run, then run again, ends with the
weights an uninterrupted run has, bit for bit, and one MLflow run holding every logged step exactly once."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.data.base import write_prepared
from genbench.data.mnist import SOURCE
from genbench.train.checkpoint import read_milestones

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
STEPS = 40
# A snapshot every 3 steps, logs every 2: the kill lands between snapshots, so the resumed job replays
# steps that MLflow already holds.
TRAIN = {"steps": STEPS, "batch_size": 8, "log_every": 2, "grid_size": 4}
PROGRESS = re.compile(rf"\| (\d+)/{STEPS} \[")
PRESETS = {
    "dcgan": {"model": {"base_channels": 8}, "train": TRAIN},
    "ddpm": {"model": {"base_channels": 8, "channel_mults": [1, 2], "num_res_blocks": 1},
             "train": {**TRAIN, "ema_decay": 0.9}},
}


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    splits = {split: (rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64))
              for split, n in (("train", 64), ("test", 16))}
    out = tmp_path_factory.mktemp("data") / "mnist"
    write_prepared(out, name="mnist", source=SOURCE, class_names=tuple("0123456789"), splits=splits)
    return out


def _train(workdir: Path, data: Path, preset: str, out: str, *, kill_after_step: int = 0) -> subprocess.Popen:
    settings = {"profile": "resume", "threads": 1, "device": "cpu", "checkpoint": {"every_steps": 3},
                "mlflow": {"tracking_uri": "sqlite:///mlflow.db"}, "overrides": {preset: PRESETS[preset]}}
    cmd = [str(BIN / "genbench"), "train", "--dataset", "mnist", "--preset", preset, "--data", str(data),
           "--out-dir", out, "--settings", json.dumps(settings)]
    if not (workdir / "params").exists():  # presets are read from params/models/ of the working directory
        shutil.copytree(REPO / "params", workdir / "params")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if kill_after_step:
        for line in proc.stdout:  # a progress line after each log: " 35%|###5      | 14/40 [00:01<...]"
            done = PROGRESS.search(line)
            if done and int(done.group(1)) >= kill_after_step:
                os.kill(proc.pid, signal.SIGKILL)
                break
    return proc


def _finish(proc: subprocess.Popen) -> str:
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output
    return output


def _weights(path: Path) -> dict[str, torch.Tensor]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    return {**{f"model.{k}": v for k, v in payload["model"].items()},
            **{f"ema.{k}": v for k, v in (payload["ema"] or {}).items()}}


@pytest.mark.slow  # real train processes, killed and run again
@pytest.mark.parametrize("preset", ["dcgan", "ddpm"])
def test_sigkill_then_rerun_equals_an_uninterrupted_run_bitwise(tiny_mnist: Path, tmp_path: Path, preset: str) -> None:
    _finish(_train(tmp_path, tiny_mnist, preset, "whole"))
    # A step drawn at random between snapshots, from a fixed seed so a failure reproduces.
    kill_after_step = int(np.random.default_rng(len(preset)).integers(8, 34))
    killed = _train(tmp_path, tiny_mnist, preset, "resumed", kill_after_step=kill_after_step)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "resumed" / "resume.pt").is_file() and not (tmp_path / "resumed" / "checkpoint.pt").exists()

    output = _finish(_train(tmp_path, tiny_mnist, preset, "resumed"))
    assert "resuming from" in output
    assert not (tmp_path / "resumed" / "resume.pt").exists()  # removed once checkpoint.pt is written
    whole, resumed = _weights(tmp_path / "whole" / "checkpoint.pt"), _weights(tmp_path / "resumed" / "checkpoint.pt")
    assert whole.keys() == resumed.keys()
    for name in whole:
        assert torch.equal(whole[name], resumed[name]), name
    assert (tmp_path / "whole" / "losses.csv").read_text() == (tmp_path / "resumed" / "losses.csv").read_text()
    # The FD-curve weights taken before the kill travel in the snapshot: all four milestones, bitwise equal.
    whole, resumed = (read_milestones(tmp_path / d / "milestones.pt") for d in ("whole", "resumed"))
    assert list(whole) == list(resumed) == [8, 16, 24, 32]
    assert all(torch.equal(whole[s][k], resumed[s][k]) for s in whole for k in whole[s])

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_ids = {d: json.loads((tmp_path / d / "train_summary.json").read_text())["mlflow_run_id"]
               for d in ("whole", "resumed")}
    loss = "loss" if preset == "ddpm" else "loss_d"
    histories = {d: [(m.step, m.value) for m in client.get_metric_history(run_id, loss)]
                 for d, run_id in run_ids.items()}
    assert sorted(histories["resumed"]) == sorted(histories["whole"])  # no step lost, none twice
    assert [s for s, _ in sorted(histories["whole"])] == list(range(2, STEPS + 1, 2))
    assert client.get_run(run_ids["resumed"]).info.status == "FINISHED"
    runs = client.search_runs([client.get_experiment_by_name("genbench-resume").experiment_id])
    assert len(runs) == 2  # the resumed job reopened its run rather than starting another


@pytest.mark.slow  # real train processes, killed and run again
def test_snapshot_of_other_settings_is_not_resumed(tiny_mnist: Path, tmp_path: Path) -> None:
    killed = _train(tmp_path, tiny_mnist, "dcgan", "run", kill_after_step=10)
    killed.wait(timeout=60)
    PRESETS["dcgan"]["train"] = {**TRAIN, "lr": 1e-3}
    try:
        output = _finish(_train(tmp_path, tiny_mnist, "dcgan", "run"))
    finally:
        PRESETS["dcgan"]["train"] = TRAIN
    assert "resuming from" not in output and "training from the start" in output


@pytest.mark.slow  # a real train process
def test_damaged_snapshot_is_refused_with_its_path(tiny_mnist: Path, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "resume.pt").write_bytes(b"PK\x03\x04 truncated")
    proc = _train(tmp_path, tiny_mnist, "dcgan", "run")
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 2 and "resume.pt: not a readable resume snapshot" in output
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["resume.pt"]


def test_progress_line_has_rate_and_eta_counting_only_steps_run_since_a_resume():
    from genbench.train.progress import Progress

    now = [100.0]
    progress = Progress(1000, first_step=400, clock=lambda: now[0])
    now[0] += 10.0  # 100 steps in 10 s after resuming at 400
    line = progress.line(500, {"g_loss": 1.23456})
    assert "500/1000" in line and "10.00step/s" in line and "00:10<00:50" in line and "g_loss=1.235" in line
    assert "\r" not in line and "\n" not in line

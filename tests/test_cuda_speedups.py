"""The ``cuda:`` speed-ups change nothing on a CPU: a training run with every one of them switched on is
bitwise the run with all of them off (they are measured on a GPU in benchmarks/, when one is lent)."""
from __future__ import annotations

import contextlib

import pytest
import torch

from genbench.config import CudaConfig, TrainConfig
from genbench.models import build_model
from genbench.models.base import ImageSpec
from genbench.train.cuda import CudaSpeedups
from genbench.train.loop import fit

ALL_ON = CudaConfig(bf16=True, channels_last=True, compile=True, data_on_device=False)
ALL_OFF = CudaConfig(bf16=False, channels_last=False, compile=False, data_on_device=True)


def train(cuda: CudaConfig) -> tuple[dict[str, torch.Tensor], list]:
    torch.manual_seed(0)
    model = build_model("dcgan", {"base_channels": 8}, ImageSpec(channels=1, height=28, width=28, num_classes=10))
    tensors = (torch.rand(32, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (32,)))
    result = fit(model, tensors, TrainConfig(steps=6, batch_size=8, log_every=2), seed=0, cuda=cuda)
    assert 0.0 <= result.data_fraction < 1.0
    return model.state_dict(), result.history


def test_cpu_training_ignores_every_cuda_flag() -> None:
    (on, on_history), (off, off_history) = train(ALL_ON), train(ALL_OFF)
    assert on_history == off_history
    assert on.keys() == off.keys() and all(torch.equal(on[k], off[k]) for k in on)
    assert all(v.is_contiguous() for v in on.values())  # no channels_last weights on a CPU


@pytest.mark.parametrize("cfg", [ALL_ON, ALL_OFF])
def test_cpu_batches_are_plain_rows(cfg: CudaConfig) -> None:
    speedups = CudaSpeedups(cfg, torch.device("cpu"))
    data = speedups.place(torch.arange(24.0).reshape(6, 1, 2, 2))
    rows = speedups.batch(data, torch.tensor([4, 1]))
    assert torch.equal(rows, data[[4, 1]]) and rows.is_contiguous()
    assert not speedups.active and isinstance(speedups.autocast(), contextlib.nullcontext)  # no autocast

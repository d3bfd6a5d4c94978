"""The ``cuda:`` speed-ups change nothing on a CPU: a training run with every one of them switched on is
bitwise the run with all of them off (they are measured on a GPU in benchmarks/, when one is lent)."""
from __future__ import annotations

import contextlib

import pytest
import torch

from genbench.config import CudaConfig, TrainConfig
from genbench.models import FAMILIES, build_model
from genbench.models.base import ImageSpec
from genbench.train.cuda import CudaSpeedups
from genbench.train.loop import fit

ALL_ON = CudaConfig(bf16=True, channels_last=True, compile=True, data_on_device=False)
ALL_OFF = CudaConfig(bf16=False, channels_last=False, compile=False, data_on_device=True)


def train(cuda: CudaConfig, family: str = "dcgan") -> tuple[dict[str, torch.Tensor], list]:
    torch.manual_seed(0)
    model = build_model(family, {"base_channels": 8}, ImageSpec(channels=1, height=28, width=28, num_classes=10))
    tensors = (torch.rand(32, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (32,)))
    result = fit(model, tensors, TrainConfig(steps=6, batch_size=8, log_every=2), seed=0, cuda=cuda)
    assert 0.0 <= result.data_fraction < 1.0
    return model.state_dict(), result.history


def test_cpu_training_ignores_every_cuda_flag() -> None:
    (on, on_history), (off, off_history) = train(ALL_ON), train(ALL_OFF)
    assert on_history == off_history
    assert on.keys() == off.keys() and all(torch.equal(on[k], off[k]) for k in on)
    # the family's own CPU layout (DCGAN: channels_last), whatever the cuda keys say
    assert all(v.is_contiguous(memory_format=torch.channels_last) for v in on.values() if v.ndim == 4)


@pytest.mark.slow  # three trainings
def test_cpu_layout_is_the_familys_choice(monkeypatch) -> None:
    """NHWC on a CPU only for families measured faster that way, and it is only a layout: the same training
    in the plain layout gives the same losses and weights up to float rounding."""
    assert all(v.is_contiguous() for v in train(ALL_OFF, family="progan")[0].values())
    nhwc, nhwc_history = train(ALL_OFF)
    monkeypatch.setattr(FAMILIES.get("dcgan"), "cpu_channels_last", False)
    plain, plain_history = train(ALL_OFF)
    assert all(v.is_contiguous() for v in plain.values())
    assert [(s, n) for s, n, _ in nhwc_history] == [(s, n) for s, n, _ in plain_history]
    torch.testing.assert_close([v for _, _, v in nhwc_history], [v for _, _, v in plain_history], rtol=1e-4, atol=1e-5)
    for key in plain:
        torch.testing.assert_close(nhwc[key], plain[key], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("cfg", [ALL_ON, ALL_OFF])
def test_cpu_batches_are_plain_rows(cfg: CudaConfig) -> None:
    speedups = CudaSpeedups(cfg, torch.device("cpu"))
    data = speedups.place(torch.arange(24.0).reshape(6, 1, 2, 2))
    rows = speedups.batch(data, torch.tensor([4, 1]))
    assert torch.equal(rows, data[[4, 1]]) and rows.is_contiguous()
    assert not speedups.active and isinstance(speedups.autocast(), contextlib.nullcontext)  # no autocast

"""The CUDA-only speed-ups of a training job (``genbench.config.CudaConfig``). On a CPU every method is the
plain path, so CPU results never depend on the ``cuda:`` keys; the one layout choice made there is the
family's own (``GenerativeModel.cpu_channels_last``)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from genbench.config import CudaConfig

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


def wants_channels_last(model: nn.Module, device: torch.device, cfg: CudaConfig) -> bool:
    """NHWC weights and batches for a convolutional model: on CUDA as ``cuda.channels_last`` says, on a CPU
    where the family measured faster that way (``cpu_channels_last``), whatever the cuda keys say."""
    wanted = cfg.channels_last if device.type == "cuda" else getattr(model, "cpu_channels_last", False)
    return wanted and any(isinstance(m, CONVOLUTIONS) for m in model.modules())


@dataclass(frozen=True)
class CudaSpeedups:
    cfg: CudaConfig
    device: torch.device
    channels_last: bool = False  # wants_channels_last of the model being trained

    @property
    def active(self) -> bool:
        return self.device.type == "cuda"

    def prepare(self, model: nn.Module) -> None:
        """channels_last weights (``channels_last``); on CUDA each sub-network compiled if asked."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if not self.active:
            return
        if self.cfg.compile:
            for child in model.children():
                child.compile()

    def place(self, tensor: torch.Tensor) -> torch.Tensor:
        """Where the training split lives: the device, or (``data_on_device: false``) pinned host memory."""
        if self.active and not self.cfg.data_on_device:
            return tensor.pin_memory()
        return tensor.to(self.device)

    def batch(self, tensor: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        rows = tensor[idx.to(tensor.device)].to(self.device, non_blocking=True)
        if self.channels_last and rows.ndim == 4 and rows.is_floating_point():
            rows = rows.contiguous(memory_format=torch.channels_last)
        return rows

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.active and self.cfg.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

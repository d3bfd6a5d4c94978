"""The CUDA-only speed-ups of a training job (``genbench.config.CudaConfig``). On a CPU every method is the
plain path, so CPU results never depend on the ``cuda:`` keys."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from genbench.config import CudaConfig

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


@dataclass(frozen=True)
class CudaSpeedups:
    cfg: CudaConfig
    device: torch.device

    @property
    def active(self) -> bool:
        return self.device.type == "cuda"

    def prepare(self, model: nn.Module) -> None:
        """channels_last weights for a convolutional model; each sub-network compiled if asked."""
        if not self.active:
            return
        if self.cfg.channels_last and any(isinstance(m, CONVOLUTIONS) for m in model.modules()):
            model.to(memory_format=torch.channels_last)
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
        if self.active and self.cfg.channels_last and rows.ndim == 4 and rows.is_floating_point():
            rows = rows.contiguous(memory_format=torch.channels_last)
        return rows

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.active and self.cfg.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

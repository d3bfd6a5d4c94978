"""Exponential moving average of a module's weights (Polyak averaging), used for sampling.

Buffers (BatchNorm running statistics) are copied, not averaged, as in StyleGAN2-ADA and diffusers' EMAModel.
"""
from __future__ import annotations

import torch
from torch import nn


class ExponentialMovingAverage:
    def __init__(self, module: nn.Module, *, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        # Warm-up (as in TF's ExponentialMovingAverage with num_updates): early averages would otherwise
        # be dominated by the random initialisation when a profile trains for few steps.
        decay = min(self.decay, (1 + step) / (10 + step))
        for name, value in module.state_dict().items():
            shadow = self.shadow[name]
            if value.dtype.is_floating_point:
                shadow.lerp_(value.detach(), 1.0 - decay)
            else:
                shadow.copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.shadow = {k: v.clone() for k, v in state.items()}

"""Exponential moving average of a module's weights (Polyak averaging), used for sampling.

Floating-point buffers (BatchNorm running means and variances) are averaged like the weights, so that the
averaged network normalises with statistics that drift as slowly as its weights; integer buffers (step
counters such as ``num_batches_tracked``) and non-tensor extra state (t2i's class names) are copied.
StyleGAN2-ADA copies every buffer instead; with the running statistics' own momentum (0.1) the two differ
little once training has settled, and this choice is what every figure in benchmarks/README.md was
measured with.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class ExponentialMovingAverage:
    def __init__(self, module: nn.Module, *, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy_state(module.state_dict())

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        # Warm-up (as in TF's ExponentialMovingAverage with num_updates): early averages would otherwise
        # be dominated by the random initialisation when a profile trains for few steps.
        decay = min(self.decay, (1 + step) / (10 + step))
        for name, value in module.state_dict().items():
            shadow = self.shadow[name]
            if not isinstance(value, torch.Tensor):  # a module's extra state (e.g. t2i's class names): copied
                self.shadow[name] = _copy(value)
            elif value.dtype.is_floating_point:
                shadow.lerp_(value.detach(), 1.0 - decay)
            else:
                shadow.copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.shadow = copy_state(state)


def copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A detached copy of a state dict, tensors and non-tensor extra state alike."""
    return {k: _copy(v) for k, v in state.items()}


def _copy(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)

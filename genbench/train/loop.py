"""The generic training loop: one loop for every family, because each family owns its ``train_step``.

Reads top to bottom: seed -> optimisers -> (batch, step, EMA, log) x steps. Batches come from a seeded
permutation on the CPU, so the data order is the same on any device.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from genbench.config import TrainConfig
from genbench.models import GenerativeModel
from genbench.train.ema import ExponentialMovingAverage

LogFn = Callable[[int, dict[str, float]], None]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names family, step and loss."""


@dataclass
class TrainResult:
    steps: int
    seconds: float
    images_per_second: float
    optimizers: dict[str, torch.optim.Optimizer]
    ema: ExponentialMovingAverage | None
    history: list[tuple[int, str, float]] = field(default_factory=list)  # (step, loss name, mean since last log)


def seeded_subset(n_total: int, n_keep: int, seed: int) -> np.ndarray:
    """Indices of a fixed random subset (all indices, in order, when ``n_keep`` is 0 or >= ``n_total``)."""
    if n_keep <= 0 or n_keep >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n_keep, replace=False))


def batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless minibatch indices: a fresh permutation per epoch, incomplete tail batches dropped."""
    batch_size = min(batch_size, n)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


def fit(model: GenerativeModel, tensors: tuple[torch.Tensor, torch.Tensor], cfg: TrainConfig, *, seed: int,
        on_log: LogFn | None = None) -> TrainResult:
    """Train ``model`` in place for ``cfg.steps`` steps on ``tensors`` (``model.training_tensors`` of the
    training arrays: images and labels, or a translator's source and target), batch rows drawn together."""
    device = model.device
    data, targets = (t.to(device) for t in tensors)
    order_gen = torch.Generator().manual_seed(seed)
    optimizers = model.configure_optimizers(cfg)
    ema = ExponentialMovingAverage(model.sampling_module(), decay=cfg.ema_decay) if cfg.ema_decay > 0 else None

    history: list[tuple[int, str, float]] = []
    running: dict[str, float] = {}
    since_log = 0
    model.train()
    start = time.perf_counter()
    for step, idx in enumerate(batches(len(data), cfg.batch_size, order_gen), start=1):
        idx = idx.to(device)
        losses = model.train_step(data[idx], targets[idx], optimizers)
        _check_finite(model.family, step, losses)
        if ema is not None:
            ema.update(model.sampling_module(), step)
        for name, value in losses.items():
            running[name] = running.get(name, 0.0) + value
        since_log += 1
        if step % cfg.log_every == 0 or step == cfg.steps:
            means = {name: total / since_log for name, total in running.items()}
            history.extend((step, name, value) for name, value in means.items())
            if on_log is not None:
                on_log(step, means)
            running, since_log = {}, 0
        if step == cfg.steps:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return TrainResult(steps=cfg.steps, seconds=seconds, images_per_second=cfg.steps * min(cfg.batch_size, len(data)) / seconds,
                       optimizers=optimizers, ema=ema, history=history)


def _check_finite(family: str, step: int, losses: dict[str, float]) -> None:
    for name, value in losses.items():
        if not math.isfinite(value):
            raise TrainingDiverged(f"{family}: loss '{name}' is {value} at step {step}; "
                                   "lower train.lr or check the data (no checkpoint was written)")

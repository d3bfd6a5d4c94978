"""The generic training loop: one loop for every family, because each family owns its ``train_step``.

Reads top to bottom: seed -> optimisers -> [resume] -> (batch, step, EMA, [milestone], log, [snapshot]) x steps. Batches
come from a seeded permutation on the CPU, so the data order is the same on any device. A NaN/inf loss or
gradient norm stops the loop before the bad update is applied (a pre-step hook on every optimiser).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from typing import Any, Callable

import torch

from genbench.config import CudaConfig, TrainConfig, milestone_steps
from genbench.models import GenerativeModel
from genbench.train.cuda import CudaSpeedups, wants_channels_last
from genbench.train.ema import ExponentialMovingAverage, copy_state
from genbench.train.resume import BatchOrder, Checkpointer, rng_state, set_rng_state

LogFn = Callable[[int, dict[str, float]], None]


DIVERGED_HINT = ("lower train.lr or check the data; no checkpoint was written and the last resume snapshot, "
                 "if any, is kept")


class TrainingDiverged(RuntimeError):
    """A loss or gradient norm became NaN or infinite; the message names family, step and loss."""


@dataclass
class LoopState:
    """The loop's own state, which a resume snapshot carries beside model, optimisers, EMA, batch order and RNG
    (stored as a plain dict, so a snapshot loads with ``weights_only=True``)."""

    step: int = 0  # the last step done
    running: dict[str, float] = field(default_factory=dict)  # loss sums since the last log
    since_log: int = 0  # steps in those sums
    history: list[tuple[int, str, float]] = field(default_factory=list)  # (step, loss name, mean since last log)
    seconds: float = 0.0  # training time of the processes before this one
    # step -> the sampling network's weights at that step, so a resumed run keeps the milestones already passed
    milestones: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> LoopState:
        return cls(**{f.name: state[f.name] for f in fields(cls)})


@dataclass
class TrainResult:
    steps: int
    seconds: float
    images_per_second: float
    optimizers: dict[str, torch.optim.Optimizer]
    ema: ExponentialMovingAverage | None
    history: list[tuple[int, str, float]] = field(default_factory=list)  # (step, loss name, mean since last log)
    # step -> the sampling network's weights at that step (EMA when kept): TrainConfig.curve_points
    milestones: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    data_fraction: float = 0.0  # of this process's step time spent drawing batches (on CUDA: launching copies)


def fit(model: GenerativeModel, tensors: tuple[torch.Tensor, torch.Tensor], cfg: TrainConfig, *, seed: int,
        on_log: LogFn | None = None, checkpointer: Checkpointer | None = None,
        resume: dict[str, Any] | None = None, run_id: str = "", cuda: CudaConfig = CudaConfig()) -> TrainResult:
    """Train ``model`` in place for ``cfg.steps`` steps on ``tensors`` (``model.training_tensors`` of the
    training arrays: images and labels, or a translator's source and target), batch rows drawn together.

    ``checkpointer`` writes resume snapshots (``genbench.train.resume``, recording ``run_id``); ``resume``,
    one such snapshot, continues from its step exactly as if the run had not stopped. ``cuda``: the
    speed-ups used on a CUDA device (none on a CPU)."""
    device = model.device
    speedups = CudaSpeedups(cuda, device, channels_last=wants_channels_last(model, device, cuda))
    speedups.prepare(model)
    data, targets = (speedups.place(t) for t in tensors)
    order = BatchOrder(len(data), cfg.batch_size, seed)
    optimizers = model.configure_optimizers(cfg)
    for name, optimizer in optimizers.items():
        optimizer.register_step_pre_hook(_finite_gradients_guard(name))
    ema = ExponentialMovingAverage(model.sampling_module(), decay=cfg.ema_decay) if cfg.ema_decay > 0 else None
    loop = LoopState()
    if resume is not None:
        loop = _restore(resume, model=model, optimizers=optimizers, ema=ema, order=order)
    milestone_at = set(milestone_steps(cfg.steps, cfg.curve_points))

    running, history = loop.running, loop.history
    model.train()
    start = started = time.perf_counter()
    data_seconds = 0.0
    for step in range(loop.step + 1, cfg.steps + 1):
        fetch = time.perf_counter()
        idx = order.next()
        images, labels = speedups.batch(data, idx), speedups.batch(targets, idx)
        data_seconds += time.perf_counter() - fetch
        try:
            with speedups.autocast():
                losses = model.train_step(images, labels, optimizers)
        except NonFiniteGradient as err:
            raise TrainingDiverged(f"{model.family}: step {step}: {err}; {DIVERGED_HINT}") from None
        _check_finite(model.family, step, losses)
        if ema is not None:
            ema.update(model.sampling_module(), step)
        if step in milestone_at:
            weights = ema.state_dict() if ema is not None else model.sampling_module().state_dict()
            loop.milestones[step] = copy_state(weights)
        for name, value in losses.items():
            running[name] = running.get(name, 0.0) + value
        loop.since_log += 1
        if step % cfg.log_every == 0 or step == cfg.steps:
            means = {name: total / loop.since_log for name, total in running.items()}
            history.extend((step, name, value) for name, value in means.items())
            if on_log is not None:
                on_log(step, means)
            running.clear()
            loop.since_log = 0
        if checkpointer is not None and step < cfg.steps and checkpointer.due(step):
            loop.step, loop.seconds = step, loop.seconds + time.perf_counter() - start
            start = time.perf_counter()
            checkpointer.save(_snapshot(loop, model=model, optimizers=optimizers, ema=ema, order=order,
                                        run_key=checkpointer.run_key, run_id=run_id))
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = loop.seconds + time.perf_counter() - start
    n_images = cfg.steps * min(cfg.batch_size, len(data))
    return TrainResult(steps=cfg.steps, seconds=seconds, images_per_second=n_images / seconds,
                       optimizers=optimizers, ema=ema, history=history, milestones=loop.milestones,
                       data_fraction=data_seconds / max(time.perf_counter() - started, 1e-9))


def _snapshot(loop: LoopState, *, model: GenerativeModel, optimizers: dict[str, torch.optim.Optimizer],
              ema: ExponentialMovingAverage | None, order: BatchOrder, run_key: dict[str, Any],
              run_id: str) -> dict[str, Any]:
    return {"run_key": run_key, "mlflow_run_id": run_id, "loop": loop.to_dict(), "model": model.state_dict(),
            "training_state": model.training_state(), "ema": ema.state_dict() if ema is not None else None,
            "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
            "order": order.state_dict(), "rng": rng_state()}


def _restore(state: dict[str, Any], *, model: GenerativeModel, optimizers: dict[str, torch.optim.Optimizer],
             ema: ExponentialMovingAverage | None, order: BatchOrder) -> LoopState:
    model.load_state_dict(state["model"])
    model.load_training_state(state["training_state"])
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    order.load_state_dict(state["order"])
    set_rng_state(state["rng"])
    return LoopState.from_dict(state["loop"])


class NonFiniteGradient(FloatingPointError):
    """An optimiser was about to step on a NaN or infinite gradient; raised before the step is applied."""


def _finite_gradients_guard(name: str):
    def hook(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            if not torch.isfinite(norm):
                raise NonFiniteGradient(f"the gradient norm of optimiser '{name}' is {norm.item()}")
    return hook


def _check_finite(family: str, step: int, losses: dict[str, float]) -> None:
    for name, value in losses.items():
        if not math.isfinite(value):
            raise TrainingDiverged(f"{family}: step {step}: loss '{name}' is {value}; {DIVERGED_HINT}")

"""Exact resume of an interrupted training job (a preempted SLURM job, an out-of-memory kill, a closed laptop).

A snapshot, ``resume.pt`` in the run's directory, holds everything the rest of the run depends on:

- the model's state dict (weights, BatchNorm statistics, step buffers such as StyleGAN's) and its
  training-only state (``GenerativeModel.training_state``: CycleGAN's image pools and their generators);
- each optimiser's state and the EMA weights;
- every random number generator: python, numpy, torch CPU and CUDA, and the data order (the permutation
  generator's state at the start of the epoch plus the batches served since);
- the loop's bookkeeping: the step, loss sums since the last log, the loss history, the wall time spent;
- the MLflow run id, so that the resumed job continues the same run.

Restored after the model is built, a snapshot continues bit for bit: on a CPU, the final weights equal an
uninterrupted run's (tests/test_resume.py kills a real job with SIGKILL to prove it). It is not a Snakemake
output, so the clean-up of a failed or incomplete job keeps it, and ``snakemake --rerun-incomplete``
resumes; the job deletes it once ``checkpoint.pt`` is written. Written atomically (temp file + rename),
so a kill during the write leaves the previous snapshot; read with ``weights_only=True``.
"""
from __future__ import annotations

import random
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from genbench.config import RunConfig, to_dict
from genbench.torch_io import read_torch_file, save_torch_file

RESUME_FILE = "resume.pt"
FORMAT_VERSION = 1
# Run settings that change no result: a snapshot taken under other values still resumes.
NEUTRAL_KEYS = ("checkpoint", "mlflow")


class BatchOrder:
    """Endless minibatch indices: a fresh seeded permutation per epoch, incomplete tail batches dropped.

    Resumable: the state is the generator's state before the current epoch's permutation plus the number
    of batches served from it, so a restored order repeats the permutation and skips what was served."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size = n, min(batch_size, n)
        self.generator = torch.Generator().manual_seed(seed)
        self._new_epoch()

    def _new_epoch(self) -> None:
        self.epoch_state = self.generator.get_state()
        self.order = torch.randperm(self.n, generator=self.generator)
        self.served = 0

    def next(self) -> torch.Tensor:
        if (self.served + 1) * self.batch_size > self.n:
            self._new_epoch()
        start = self.served * self.batch_size
        self.served += 1
        return self.order[start:start + self.batch_size]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch_state": self.epoch_state, "served": self.served}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["epoch_state"])
        self._new_epoch()
        self.served = state["served"]


def rng_state() -> dict[str, Any]:
    """The global generators' states, in types ``torch.load(weights_only=True)`` accepts."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                    cached),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resume_key(run_cfg: RunConfig) -> dict[str, Any]:
    """What a snapshot must have been taken under to be resumed: the run config but its neutral keys."""
    return {k: v for k, v in to_dict(run_cfg).items() if k not in NEUTRAL_KEYS}


def save_snapshot(path: Path, state: dict[str, Any]) -> None:
    save_torch_file(path, {"format_version": FORMAT_VERSION, **state})


def load_snapshot(path: Path, run_cfg: RunConfig) -> dict[str, Any] | None:
    """The snapshot at ``path`` when there is one taken under this run's config; None (and why) otherwise."""
    path = Path(path)
    if not path.is_file():
        return None
    state = read_torch_file(path, what="resume snapshot", version=FORMAT_VERSION,
                            fix="delete it to train from the start")
    if state["run_key"] != resume_key(run_cfg):
        warnings.warn(f"{path}: taken under other settings than this run's; training from the start")
        return None
    return state


class Checkpointer:
    """Writes snapshots every ``every_steps`` steps and/or ``every_seconds`` of wall time.

    ``before_save`` runs first (the MLflow run flushes its buffered metrics), so that everything logged
    up to a snapshot's step is stored before the snapshot exists: a resumed job replays only steps after
    it, and ``tracking.TrainingRun`` skips those it had already logged."""

    def __init__(self, path: Path, run_cfg: RunConfig, *, before_save: Callable[[], None] | None = None) -> None:
        self.path, self.cfg, self.before_save = Path(path), run_cfg.checkpoint, before_save
        self.run_key = resume_key(run_cfg)
        self._last = time.monotonic()

    def due(self, step: int) -> bool:
        by_steps = self.cfg.every_steps > 0 and step % self.cfg.every_steps == 0
        by_time = self.cfg.every_seconds > 0 and time.monotonic() - self._last >= self.cfg.every_seconds
        return by_steps or by_time

    def save(self, state: dict[str, Any]) -> None:
        if self.before_save is not None:
            self.before_save()
        save_snapshot(self.path, state)
        self._last = time.monotonic()

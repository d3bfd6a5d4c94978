"""The full profile's presets built at full size and trained a few timed steps on one device: the training figures
of benchmarks/cuda_training.py and benchmarks/gpu_acceptance.py (images/s, data-wait fraction, peak memory).

A preset trains on the first dataset the profile gives it (``preset_datasets``, else ``datasets``) at its model
and batch size as written. A few-step run changes only what one must: no curve milestones, no ``init_from``
source (SRGAN, ddpm_ft start from random weights: same shapes, same cost per step), and LDM's autoencoder stage
cut to one step (``FEW_STEP_MODEL``), so that the steps timed are its diffusion stage's, the bulk of its training.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from genbench.config import CudaConfig, ProfileConfig, RunConfig, TrainConfig, resolve_run
from genbench.data import image_spec, load_arrays
from genbench.models import GenerativeModel, ImageSpec, build_model
from genbench.train.loop import TrainingDiverged, fit

FULL = Path("params/full.yaml")
# Model keys a few-step run must change: LDM trains its autoencoder alone for autoencoder_steps (5000) steps first
# and refuses a run no longer than that (genbench.models.ldm).
FEW_STEP_MODEL = {"ldm": {"autoencoder_steps": 1}}


@dataclass
class BuiltPreset:
    """A preset's model, built and ``prepare``d on the CPU (copied to the device for each run), and its train split."""

    preset: str
    dataset: str
    run_cfg: RunConfig
    model: GenerativeModel
    tensors: tuple[torch.Tensor, torch.Tensor]


def build_preset(profile: ProfileConfig, preset: str, *, data_root: Path = Path("data")) -> BuiltPreset:
    dataset = profile.datasets_of(preset)[0]
    run_cfg = resolve_run(profile, dataset=dataset, preset=preset, seed=0)
    info = image_spec(data_root / dataset)
    image = ImageSpec(channels=info.channels, height=info.height, width=info.width, num_classes=info.num_classes)
    model_cfg = {**run_cfg.spec.model, **FEW_STEP_MODEL.get(run_cfg.spec.family, {})}
    torch.manual_seed(0)
    model = build_model(run_cfg.spec.family, model_cfg, image, source=f"preset {preset}")
    model.prepare(info.class_names)
    tensors = model.training_tensors(load_arrays(data_root / dataset, "train", model.training_arrays))
    return BuiltPreset(preset, dataset, run_cfg, model, tensors)


def few_steps(train: TrainConfig, steps: int, *, batch_size: int = 0) -> TrainConfig:
    """``train`` cut to ``steps`` steps (see the module docstring); ``batch_size`` > 0 replaces the preset's."""
    return replace(train, steps=steps, curve_points=0, init_from="", init_dataset="",
                   batch_size=batch_size or train.batch_size)


def train_speed(built: BuiltPreset, cuda: CudaConfig, *, device: torch.device, steps: int, warmup: int,
                batch_size: int = 0) -> dict:
    """``warmup`` + ``steps`` steps of a fresh copy of ``built.model`` on ``device`` in one ``fit`` (its own
    optimisers, EMA as the preset says); images/s over the last ``steps`` only, so that cuDNN autotuning and
    compilation stay out of it. ``data_wait_fraction``: share of the loop spent drawing batches; peak memory:
    ``torch.cuda.max_memory_allocated`` (the train split included when it lives on the device), None on a CPU.
    A NaN/inf loss is a result (``loss_finite`` false), not an exception."""
    train = replace(few_steps(built.run_cfg.spec.train, warmup + steps, batch_size=batch_size), log_every=warmup)
    model = copy.deepcopy(built.model).to(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    timed_from: list[float] = []

    def mark(step: int, losses: dict[str, float]) -> None:
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            timed_from.append(time.perf_counter())

    record = {"batch_size": train.batch_size, "steps": steps, "warmup": warmup}
    try:
        result = fit(model, built.tensors, train, seed=0, on_log=mark, cuda=cuda)
    except TrainingDiverged as err:
        return record | {"loss_finite": False, "diverged": str(err)}
    seconds = time.perf_counter() - timed_from[0]
    last = {name: round(value, 5) for step, name, value in result.history if step == train.steps}
    return record | {"images_per_second": round(steps * min(train.batch_size, len(built.tensors[0])) / seconds, 1),
                     "data_wait_fraction": round(result.data_fraction, 4),
                     "peak_memory_mib": (round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
                                         if device.type == "cuda" else None),
                     "loss_finite": True, "last_losses": last}

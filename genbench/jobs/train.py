"""One training job = one (dataset, preset, seed): data -> fit -> checkpoint + summary, mirrored to MLflow.

Outputs in ``out_dir``: ``checkpoint.pt`` (written last, the file Snakemake waits for), ``config.yaml``
(the resolved run config, each model key the preset leaves out at its family's default), ``train_summary.json``,
``losses.csv``, ``grid.png`` and ``milestones.pt`` (the sampling network at ``train.curve_points`` earlier steps,
and at step 0 when it starts from ``train.init_from``). While it trains, the job keeps a resume snapshot there
(``resume.pt``, genbench.train.resume): the same command after a crash or a kill continues from it and the same
MLflow run, and ends with the weights an uninterrupted run would have.
"""
from __future__ import annotations

import csv
import io
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import yaml

from genbench import tracking
from genbench.code_version import code_version
from genbench.config import ProfileConfig, RunConfig, to_dict
from genbench.config.validate import resolve_run
from genbench.data import image_spec, load_arrays, seeded_subset
from genbench.device import resolve_device, set_threads
from genbench.images import save_grid, to_uint8
from genbench.io import write_bytes, write_json
from genbench.models import GenerativeModel, ImageSpec, build_model
from genbench.models.translation import Translator
from genbench.train.checkpoint import initialise_from, save_checkpoint, save_milestones
from genbench.train.ema import copy_state
from genbench.train.loop import fit
from genbench.train.progress import Progress
from genbench.train.resume import RESUME_FILE, Checkpointer, load_snapshot


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_training_job(profile: ProfileConfig, *, dataset: str, preset: str, seed: int, threads: int,
                     profile_source: str, data_dir: Path, out_dir: Path) -> dict:
    """``genbench train``: (dataset, preset, seed) resolved against ``profile`` (read from ``profile_source``, which
    errors name), trained; returns the train summary."""
    run_cfg = resolve_run(profile, dataset=dataset, preset=preset, seed=seed, samplers=False,
                          profile_source=profile_source)
    return run_training(replace(run_cfg, threads=threads), data_dir=data_dir, out_dir=out_dir)


def run_training(run_cfg: RunConfig, *, data_dir: Path, out_dir: Path) -> dict:
    set_threads(run_cfg.threads)
    device = resolve_device(run_cfg.device)
    seed_everything(run_cfg.seed)
    spec = run_cfg.spec

    info = image_spec(data_dir)
    image = ImageSpec(channels=info.channels, height=info.height, width=info.width, num_classes=info.num_classes)
    model = build_model(spec.family, dict(spec.model), image, source=f"preset {run_cfg.preset}").to(device)
    arrays = load_arrays(data_dir, "train", model.training_arrays)
    keep = seeded_subset(len(next(iter(arrays.values()))), spec.train.max_train_images, run_cfg.seed)
    model.prepare(info.class_names)
    initialised, start = None, {}
    if spec.train.init_from:
        source = init_checkpoint(out_dir, spec.train.init_from, run_cfg.seed,
                                 dataset=spec.train.init_dataset or run_cfg.dataset)
        initialised = initialise_from(model, source)
        if spec.train.curve_points:  # the curve's step 0: the source itself on this data (fine-tuning's start)
            start = {0: copy_state(model.sampling_module().state_dict())}

    snapshot_path = out_dir / RESUME_FILE
    snapshot = load_snapshot(snapshot_path, run_cfg)
    if snapshot is not None:
        print(f"resuming from {snapshot_path} at step {snapshot['loop']['step']}", flush=True)
    code = code_version("train", family=spec.family)
    tags = {"family": spec.family, "dataset": run_cfg.dataset, "preset": run_cfg.preset, "seed": str(run_cfg.seed),
            "profile": run_cfg.profile, "data_version": tracking.data_version(), "git_commit": tracking.git_commit(),
            "code_version": code, "device": device.type}
    out_dir.mkdir(parents=True, exist_ok=True)
    resume_run_id = snapshot["mlflow_run_id"] if snapshot is not None else None
    with tracking.TrainingRun(run_cfg, params=to_dict(run_cfg), tags=tags, resume_run_id=resume_run_id) as run:
        def on_log(step: int, losses: dict[str, float]) -> None:
            run.log_metrics(losses, step)
            print(progress.line(step, losses), flush=True)

        kept = {name: array[keep] for name, array in arrays.items()}
        tensors = model.training_tensors(kept)
        checkpointer = Checkpointer(snapshot_path, run_cfg, before_save=run.flush)
        progress = Progress(spec.train.steps, first_step=snapshot["loop"]["step"] if snapshot is not None else 0)
        result = fit(model, tensors, spec.train, seed=run_cfg.seed, on_log=on_log, checkpointer=checkpointer,
                     resume=snapshot, run_id=run.run_id, cuda=run_cfg.cuda)
        # EMA weights (when kept) are what sampling uses, so they are also what the grid shows.
        sampler_module = model.sampling_module()
        if result.ema is not None:
            trained_state = copy_state(sampler_module.state_dict())
            sampler_module.load_state_dict(result.ema.state_dict())
        grid_path = out_dir / "grid.png"
        save_grid(_preview(model, spec, run_cfg.seed, arrays=kept), grid_path)
        if result.ema is not None:
            sampler_module.load_state_dict(trained_state)
        run.log_artifact(grid_path)

        # family_kind and label_kind: what the report groups by, read from here so that it needs no model registry
        summary = {"family": spec.family, "family_kind": model.kind, "label_kind": model.label_kind,
                   "preset": run_cfg.preset, "dataset": run_cfg.dataset, "seed": run_cfg.seed,
                   "steps": result.steps, "train_seconds": round(result.seconds, 3),
                   "images_per_second": round(result.images_per_second, 2),
                   "data_wait_fraction": round(result.data_fraction, 4), "n_parameters": model.num_parameters(),
                   "n_train_images": int(len(keep)), "device": device.type, "mlflow_run_id": run.run_id,
                   "code_version": code, **model.training_diagnostics()}
        if initialised is not None:
            summary["init_from"] = initialised
        run.log_metrics({"train_seconds": result.seconds, "train_images_per_second": result.images_per_second,
                         "n_parameters": float(summary["n_parameters"])}, step=result.steps)
        config_yaml = yaml.safe_dump(resolved_config(run_cfg, model), sort_keys=True)
        write_bytes(out_dir / "config.yaml", config_yaml.encode())
        write_bytes(out_dir / "losses.csv", _losses_csv(result.history))
        write_json(out_dir / "train_summary.json", summary)
        save_milestones(out_dir / "milestones.pt", {**start, **result.milestones})
        save_checkpoint(out_dir / "checkpoint.pt", model=model, run_cfg=run_cfg, step=result.steps,
                        optimizers=result.optimizers, ema_state=result.ema.state_dict() if result.ema else None)
    snapshot_path.unlink(missing_ok=True)  # after checkpoint.pt: a kill in between resumes at the snapshot
    return summary


def resolved_config(run_cfg: RunConfig, model: GenerativeModel) -> dict:
    """config.yaml: the run config with every key of the family's model config, defaults filled in, so that the
    report compares a run with its paper's settings (genbench.report.paper_settings) without the model registry."""
    config = to_dict(run_cfg)
    config["spec"]["model"] = to_dict(model.cfg)
    return config


def init_checkpoint(out_dir: Path, preset: str, seed: int, *, dataset: str) -> Path:
    """The checkpoint of ``preset`` on ``dataset`` in this run's results: <results>/<dataset>/<preset>/seed<seed>/
    checkpoint.pt, ``out_dir`` being <results>/<this dataset>/<this preset>/seed<seed>."""
    return Path(out_dir).parent.parent.parent / dataset / preset / f"seed{seed}" / "checkpoint.pt"


def _preview(model, spec, seed: int, *, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Grid images: samples, or a translator's outputs for the first training rows (first direction)."""
    model.eval()
    with torch.no_grad():
        if isinstance(model, Translator):
            direction = model.sampler_algos[0]
            sources = model.translation_inputs({k: v[:spec.train.grid_size] for k, v in arrays.items()}, direction)
            x = model.translate(sources.to(model.device), direction=direction)
        else:
            x = model.sample(spec.train.grid_size, generator=torch.Generator().manual_seed(seed),
                             sampler=model.preview_sampler())
    model.train()
    return to_uint8(x)


def _losses_csv(history: list[tuple[int, str, float]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["step", "name", "value"])
    writer.writerows((step, name, f"{value:.6g}") for step, name, value in history)
    return buf.getvalue().encode()

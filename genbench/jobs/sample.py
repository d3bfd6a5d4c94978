"""The sample job: a trained checkpoint + a named sampler setting -> ``samples.npz`` (uint8 N x C x H x W)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from genbench.config import SamplerConfig
from genbench.device import resolve_device, set_threads
from genbench.errors import ConfigError
from genbench.images import save_grid, to_uint8
from genbench.io import InputError, load_npz, read_json, save_npz, sha256_file, write_json
from genbench.jobs.translate import run_translation
from genbench.models import GenerativeModel
from genbench.models.translation import Translator
from genbench.train.checkpoint import load_for_sampling
from genbench.train.loop import TrainingDiverged


def draw_images(model: GenerativeModel, sampler: SamplerConfig, n: int, *, batch_size: int, seed: int,
                source: str) -> tuple[np.ndarray, torch.Tensor | None]:
    """``n`` uint8 images in batches from one seeded CPU generator, and the labels asked for: conditional (and
    code-controlled) families draw a balanced label sequence. NaN/inf images stop it, naming ``source``."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % model.num_label_values() if model.label_kind else None
    chunks = []
    with torch.no_grad():
        for first in range(0, n, batch_size):
            batch_labels = None if labels is None else labels[first:first + batch_size].to(model.device)
            x = model.sample(min(batch_size, n - first), generator=generator, sampler=sampler, labels=batch_labels)
            if not torch.isfinite(x).all():
                raise TrainingDiverged(f"{source} produced NaN/inf images; the checkpoint has diverged, retrain it")
            chunks.append(to_uint8(x))
    return np.concatenate(chunks), labels


def run_sampling(checkpoint: Path, *, sampler_name: str, sampler: SamplerConfig, n: int, batch_size: int, seed: int,
                 device: str, threads: int, out: Path, data_dir: Path | None = None,
                 parent_samples: Path | None = None, diversity: tuple[int, int] = (0, 0)) -> dict:
    """Draw ``n`` images (the sampler's own ``n`` where it sets one) in batches from one seeded CPU generator;
    writes ``out`` plus ``.json`` and ``.png`` beside it. An image-to-image family translates the first ``n``
    test inputs of ``data_dir`` instead (``genbench.jobs.translate``); a ``first_of`` setting takes the first ``n``
    images of ``parent_samples``, its parent setting's file (``take_first``).

    ``diversity`` (inputs, styles per input) sizes an unpaired translator's diversity outputs.

    ``sampler`` is the setting named ``sampler_name`` as the preset defines it now (the checkpoint keeps only
    the training recipe). The images depend on (checkpoint, sampler, n, batch_size, seed); all five are recorded.
    """
    set_threads(threads)
    model, run_cfg = load_for_sampling(checkpoint, resolve_device(device))
    type(model).check_sampler(sampler, source=f"{checkpoint}: sampler '{sampler_name}'", cfg=model.cfg)
    if isinstance(model, Translator):
        if sampler.first_of:
            raise ConfigError(f"{checkpoint}: sampler '{sampler_name}': first_of is for drawn samples; "
                              f"an image-to-image family translates the first n test inputs, so set n alone")
        if data_dir is None:
            raise ConfigError(f"{checkpoint}: family '{model.family}' translates test inputs: give --data "
                              f"data/{run_cfg.dataset}")
        return run_translation(model, run_cfg, checkpoint=checkpoint, data_dir=data_dir, sampler_name=sampler_name,
                               sampler=sampler, n=n, batch_size=batch_size, out=out, seed=seed, diversity=diversity)
    if sampler.first_of:
        if parent_samples is None:
            raise ConfigError(f"{checkpoint}: sampler '{sampler_name}' takes the first images of "
                              f"'{sampler.first_of}': pass --parent-samples with that setting's samples .npz")
        return take_first(sampler_name, sampler, parent_samples, checkpoint=checkpoint, seed=seed, out=out)
    n = sampler.n or n
    start = time.perf_counter()
    images, labels = draw_images(model, sampler, n, batch_size=batch_size, seed=seed,
                                 source=f"{checkpoint}: sampler '{sampler_name}'")
    seconds = time.perf_counter() - start
    # What the grid's images were asked for, batch by batch as ``sample`` saw the labels (t2i: the captions).
    batches = [] if labels is None else [labels[i:i + batch_size] for i in range(0, min(n, 64), batch_size)]
    captions = [c for batch in batches for c in (model.label_captions(batch) or [])][:64]
    save_grid(images[:64], out.with_suffix(".png"))
    record = {"sampler": sampler_name, "algo": sampler.algo, "steps": model.network_evaluations(sampler),
              "eta": sampler.eta, "psi": sampler.psi, "truncation": sampler.truncation,
              "guidance": sampler.guidance, "temperature": sampler.temperature, "n": n,
              "label_kind": model.label_kind,
              "batch_size": batch_size, "seed": seed, "seconds": round(seconds, 3),
              "images_per_second": round(n / seconds, 3), "checkpoint": str(checkpoint),
              "checkpoint_sha256": sha256_file(checkpoint),
              "stage": sampler.stage, **({"grid_captions": captions} if captions else {})}
    write_json(out.with_suffix(".json"), record)
    # A sampler with its own n is evaluated on all of its images, whatever evaluation.n_fake says.
    arrays = {"images": images, **({"sampler_n": np.array(sampler.n)} if sampler.n else {})}
    if labels is not None:
        arrays.update(labels=labels.numpy().astype(np.int64), label_kind=np.array(model.label_kind))
    save_npz(out, arrays)  # last: the file Snakemake waits for
    return record


def take_first(sampler_name: str, sampler: SamplerConfig, parent_samples: Path, *, checkpoint: Path, seed: int,
               out: Path) -> dict:
    """The first ``sampler.n`` images of the parent setting's samples, drawn from the same checkpoint and seed,
    written as this setting's own file: a sweep point at a smaller n without drawing again. The record keeps
    the parent's speed and names it (``first_of``)."""
    parent = read_json(parent_samples.with_suffix(".json"))
    if (parent.get("sampler"), parent.get("seed"), parent.get("checkpoint_sha256")) != (
            sampler.first_of, seed, sha256_file(checkpoint)):
        raise InputError(f"{parent_samples}: not '{sampler.first_of}' samples of {checkpoint} at seed {seed}; "
                         "re-run its sample rule")
    arrays = load_npz(parent_samples, required=("images",))
    if len(arrays["images"]) < sampler.n:
        raise ConfigError(f"{checkpoint}: sampler '{sampler_name}' takes {sampler.n} images, but "
                          f"'{sampler.first_of}' drew {len(arrays['images'])}: lower its n or raise evaluation.n_fake")
    kept = {name: a[:sampler.n] if a.ndim and len(a) == len(arrays["images"]) else a for name, a in arrays.items()}
    kept["sampler_n"] = np.array(sampler.n)
    save_grid(kept["images"][:64], out.with_suffix(".png"))
    record = {**parent, "sampler": sampler_name, "n": sampler.n, "first_of": sampler.first_of,
              "seconds": round(parent["seconds"] * sampler.n / parent["n"], 3)}
    if "grid_captions" in parent:
        record["grid_captions"] = parent["grid_captions"][:sampler.n]
    write_json(out.with_suffix(".json"), record)
    save_npz(out, kept)  # last: the file Snakemake waits for
    return record

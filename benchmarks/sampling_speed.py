"""Sampling images/s of trained diffusion checkpoints, every sampler setting of their preset.

    python benchmarks/sampling_speed.py [--checkpoint results/default/mnist/ddpm/seed0/checkpoint.pt ...] \
        [--n 50] [--batch-size 50] [--threads 1] [--out benchmarks/results/sampling_speed.json]

Each setting draws ``n`` images in batches on one seeded generator (as the sample job does, balanced labels
for a conditional model), timed alone in this process; the ratio of DDIM-50 to DDPM over all 1000 steps
is the figure DDIM's speed claim is about. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from genbench.train.checkpoint import load_for_sampling

CHECKPOINTS = [Path("results/default/mnist/ddpm/seed0/checkpoint.pt"),
               Path("results/default/mnist/ddpm_cond/seed0/checkpoint.pt")]


def time_sampler(model, sampler, *, n: int, batch_size: int) -> float:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % model.num_label_values() if model.label_kind else None
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, n, batch_size):
            batch = None if labels is None else labels[first:first + batch_size]
            model.sample(min(batch_size, n - first), generator=generator, sampler=sampler, labels=batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, nargs="+", default=CHECKPOINTS)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sampling_speed.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for checkpoint in args.checkpoint:
        model, run_cfg = load_for_sampling(checkpoint, torch.device("cpu"))
        for name, sampler in run_cfg.spec.samplers.items():
            seconds = time_sampler(model, sampler, n=args.n, batch_size=args.batch_size)
            key = f"{run_cfg.preset}/{name}"
            results[key] = {"algo": sampler.algo, "steps": sampler.steps or model.cfg.timesteps, "eta": sampler.eta,
                            "guidance": sampler.guidance, "network_evaluations_per_image":
                                model.network_evaluations(sampler),
                            "n": args.n, "seconds": round(seconds, 2), "images_per_second": round(args.n / seconds, 3)}
            print(key, results[key], flush=True)
    record = {"checkpoints": [str(c) for c in args.checkpoint], "threads": args.threads, "batch_size": args.batch_size,
              "cpu": platform.processor() or platform.machine(), "torch": torch.__version__, "results": results}
    if "ddpm/ddpm" in results and "ddpm/ddim50" in results:
        record["ddim50_vs_ddpm1000_speedup"] = round(
            results["ddpm/ddim50"]["images_per_second"] / results["ddpm/ddpm"]["images_per_second"], 2)
        print("DDIM-50 vs DDPM-1000 speed-up:", record["ddim50_vs_ddpm1000_speedup"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Wall time of each metric on random 128-d features (the domain feature size), 1 thread by default.

    python benchmarks/metric_speed.py [--sizes 1000 10000] [--threads 1] [--out benchmarks/results/metric_speed.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return round(time.perf_counter() - start, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/metric_speed.json"))
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy's BLAS starts its threads
    from genbench import metrics

    rng = np.random.default_rng(0)
    results = {}
    for n in args.sizes:
        real = rng.standard_normal((n, args.dim), dtype=np.float32)
        fake = (rng.standard_normal((n, args.dim)) + 0.1).astype(np.float32)
        logits = rng.standard_normal((n, 10), dtype=np.float32)
        results[str(n)] = {
            "fd": timed(lambda: metrics.frechet_distance(real, fake)),
            "kid (100 subsets of 1000)": timed(lambda: metrics.kernel_inception_distance(
                real, fake, num_subsets=100, subset_size=min(1000, n), seed=0)),
            "is (10 splits)": timed(lambda: metrics.inception_score(logits, splits=10)),
            "precision_recall (k=3)": timed(lambda: metrics.precision_recall(real, fake, k=3)),
        }
        print(n, results[str(n)], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"dim": args.dim, "threads": args.threads, "seconds": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""genbench's metrics side by side with clean-fid, prdc and torch-fidelity: same inputs, wall time, peak memory.

    python benchmarks/metrics/compare_peers.py [--n 10000] [--dim 2048] [--seed 0]
        [--out benchmarks/results/metric_peers.json] [--only kid prdc ...]

Inputs: ``n`` real and ``n`` fake float32 features of ``dim`` dimensions, standard normal, the fake ones
shifted by 0.1 and scaled by 1.05 (fixed ``seed``), and (n, 1000) float32 logits for the Inception Score;
every peer gets exactly these arrays (as torch tensors where its entry point wants them).

Each measurement runs ``--repeats`` rounds (in each round ours and then the peers, back to back; the
fastest run is reported, all times are kept, and the headline time ratio is the median over rounds of
the ratio within a round, which cancels the machine's slow drifts in speed), each time in a fresh interpreter (``--worker NAME``) that builds the inputs, imports its
library, records its own ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the peak resident set so far;
what a parent would read as RUSAGE_CHILDREN after that single child), runs the metric once, and records
the wall time, the CPU time (user + system over all threads) and the peak again. The machine may be
shared: the CPU-time ratio is less sensitive to other processes than the wall-time one (both are kept,
with the load average). ``peak_mb`` is the whole process's peak (interpreter, libraries, inputs,
metric); ``metric_mb`` is the rise of the peak during the call, i.e. what the metric itself allocated
beyond what was already resident (torch's import alone is several hundred MB, hence both).

Peer entry points (the functions their public APIs call once the features exist):
  clean-fid 0.1.35  fid.frechet_distance on np.mean / np.cov statistics (as fid.compute_fid does),
                    fid.kernel_distance (global np.random, seeded here)
  prdc 0.2          compute_prdc (precision, recall, density, coverage in one call, same k)
  torch-fidelity    metric_kid.kid_features_to_metric, metric_prc.prc_features_to_metric (save_cpu_ram
  0.4.0             False, its default), metric_isc.isc_features_to_metric (shuffle off)
ours: genbench.metrics. KID's dot products follow the features' precision on every side (float32 here);
"kid (float64 copies of the features)" gives every library float64 copies (made before timing), so that
all compute float64 products. For prdc, ours is precision_recall(k) + density_coverage(k), two calls.

Ratios: time = peer_s / ours_s and memory = peer metric_mb / ours metric_mb (>= 1: ours is faster / leaner).
Values are reported too. KID subsets are drawn by each library's own generator (clean-fid and
torch-fidelity happen to draw the same ones), so KID values differ within their sampling noise, not by
definition; the agreement tests compare on identical subsets. torch-fidelity's P/R uses float32
distances; ours decides every comparison as float64 distances do.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

KID_SUBSETS, KID_SUBSET_SIZE, PR_K, DC_K, IS_SPLITS, IS_CLASSES = 100, 1000, 3, 5, 10, 1000

#: comparison -> (ours worker, [peer workers])
COMPARISONS = {
    "fd": ("ours_fd", ["cleanfid_fd"]),
    "kid": ("ours_kid", ["cleanfid_kid", "torchfidelity_kid"]),
    "kid (float64 copies of the features)": ("ours_kid64", ["cleanfid_kid64", "torchfidelity_kid64"]),
    "prdc (k=5)": ("ours_prdc", ["prdc_prdc"]),
    "precision_recall (k=3)": ("ours_pr", ["torchfidelity_pr"]),
    "inception_score": ("ours_is", ["torchfidelity_is"]),
}


def make_inputs(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, dim), dtype=np.float32)
    fake = rng.standard_normal((n, dim), dtype=np.float32)
    fake *= 1.05
    fake += 0.1
    logits = 3.0 * rng.standard_normal((n, IS_CLASSES), dtype=np.float32)
    return real, fake, logits


def _torch(*arrays):
    import torch
    return [torch.from_numpy(a) for a in arrays]


def worker(name: str, real: np.ndarray, fake: np.ndarray, logits: np.ndarray, seed: int):
    """The timed call of one measurement; imports (and float64 copies for the *64 workers) happen before."""
    if name.endswith("64"):
        real64, fake64 = real.astype(np.float64), fake.astype(np.float64)
    if name.startswith("ours"):
        from genbench import metrics
        return {
            "ours_fd": lambda: {"fd": metrics.frechet_distance(real, fake)},
            "ours_kid": lambda: dict(zip(("kid_mean", "kid_std"), metrics.kernel_inception_distance(
                real, fake, num_subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=seed))),
            "ours_kid64": lambda: dict(zip(("kid_mean", "kid_std"), metrics.kernel_inception_distance(
                real64, fake64, num_subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=seed))),
            "ours_prdc": lambda: dict(zip(("precision", "recall", "density", "coverage"),
                                          metrics.precision_recall(real, fake, k=DC_K)
                                          + metrics.density_coverage(real, fake, k=DC_K))),
            "ours_pr": lambda: dict(zip(("precision", "recall"), metrics.precision_recall(real, fake, k=PR_K))),
            "ours_is": lambda: dict(zip(("is_mean", "is_std"), metrics.inception_score(logits, splits=IS_SPLITS))),
        }[name]
    if name.startswith("cleanfid"):
        from cleanfid import fid

        def cleanfid_fd():
            stats = [(np.mean(x, axis=0), np.cov(x, rowvar=False)) for x in (real, fake)]
            with contextlib.redirect_stdout(io.StringIO()):
                return {"fd": float(fid.frechet_distance(*stats[0], *stats[1]))}

        def cleanfid_kid(features=(real, fake)):
            np.random.seed(seed)
            return {"kid_mean": fid.kernel_distance(*features, num_subsets=KID_SUBSETS,
                                                    max_subset_size=KID_SUBSET_SIZE)}
        return {"cleanfid_fd": cleanfid_fd, "cleanfid_kid": cleanfid_kid,
                "cleanfid_kid64": lambda: cleanfid_kid((real64, fake64))}[name]
    if name == "prdc_prdc":
        import prdc

        def run():
            with contextlib.redirect_stdout(io.StringIO()):
                return {key: float(value) for key, value in prdc.compute_prdc(real, fake, nearest_k=DC_K).items()}
        return run
    if name.startswith("torchfidelity"):
        from torch_fidelity import metric_isc, metric_kid, metric_prc
        real_t, fake_t, logits_t = _torch(real, fake, logits)
        if name.endswith("64"):
            real_t, fake_t = _torch(real64, fake64)

        def kid():
            out = metric_kid.kid_features_to_metric(fake_t, real_t, kid_subsets=KID_SUBSETS,
                                                    kid_subset_size=KID_SUBSET_SIZE, rng_seed=seed, verbose=False)
            return {"kid_mean": out["kernel_inception_distance_mean"], "kid_std": out["kernel_inception_distance_std"]}

        def pr():
            # 0.4.0's convention: features_1 is the GENERATED set, features_2 the REAL one
            out = metric_prc.prc_features_to_metric(fake_t, real_t, prc_neighborhood=PR_K, prc_batch_size=10000,
                                                    save_cpu_ram=False, verbose=False)
            return {"precision": out["precision"], "recall": out["recall"]}

        def isc():
            out = metric_isc.isc_features_to_metric(logits_t, splits=IS_SPLITS, shuffle=False)
            return {"is_mean": out["inception_score_mean"], "is_std": out["inception_score_std"]}
        return {"torchfidelity_kid": kid, "torchfidelity_kid64": kid, "torchfidelity_pr": pr,
                "torchfidelity_is": isc}[name]
    raise SystemExit(f"unknown worker {name!r}")


def run_worker(args: argparse.Namespace) -> None:
    real, fake, logits = make_inputs(args.n, args.dim, args.seed)
    run = worker(args.worker, real, fake, logits, args.seed)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    values = run()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mb": after.ru_maxrss / 1024,
                      "metric_mb": (after.ru_maxrss - before.ru_maxrss) / 1024,
                      "values": {key: float(value) for key, value in values.items()}}))


def measure(name: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--worker", name, "--n", str(args.n), "--dim", str(args.dim),
               "--seed", str(args.seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {name}: {result['seconds']:.2f} s ({result['cpu_seconds']:.2f} s CPU), "
          f"metric {result['metric_mb']:.0f} MB, {result['values']}", flush=True)
    return result


def table(rows: list[dict]) -> str:
    lines = ["| metric | peer | ours s | peer s | time ratio (peer/ours, median of rounds) | best-of ratio "
             "| CPU-time ratio | ours MB | peer MB | memory ratio | ours value | peer value |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ours, peer = row["ours"], row["peer"]
        values = [", ".join(f"{k}={v:.6g}" for k, v in side["values"].items()) for side in (ours, peer)]
        lines.append(f"| {row['metric']} | {row['peer_name']} | {ours['seconds']:.2f} | {peer['seconds']:.2f} | "
                     f"{row['paired_time_ratio_median']:.2f} | {row['time_ratio']:.2f} | {row['cpu_time_ratio']:.2f} | {ours['metric_mb']:.0f} | "
                     f"{peer['metric_mb']:.0f} | "
                     f"{row['memory_ratio']:.2f} | {values[0]} | {values[1]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/metric_peers.json"))
    parser.add_argument("--only", nargs="+", choices=sorted(COMPARISONS), default=sorted(COMPARISONS))
    parser.add_argument("--repeats", type=int, default=2, help="runs per worker; the fastest is reported")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)

    rows, measured = [], {}  # a worker shared by two comparisons runs once
    for metric in args.only:
        ours_name, peer_names = COMPARISONS[metric]
        print(metric, flush=True)
        names = [name for name in [ours_name, *peer_names] if name not in measured]
        runs = {name: [] for name in names}
        for _ in range(args.repeats):  # interleaved, so a burst of load elsewhere hits both sides
            for name in names:
                runs[name].append(measure(name, args))
        for name, results in runs.items():
            best = min(results, key=lambda result: result["seconds"])
            measured[name] = {**best, "all_seconds": [round(result["seconds"], 3) for result in results]}
        ours = measured[ours_name]
        for peer_name in peer_names:
            peer = measured[peer_name]
            # This machine's speed drifts by +-20 % over minutes; a ratio within one round (the two runs
            # back to back) cancels most of that, so the median of the per-round ratios is the headline.
            paired = [p / o for p, o in zip(peer["all_seconds"], ours["all_seconds"])]
            rows.append({"metric": metric, "peer_name": peer_name.split("_")[0], "ours": ours, "peer": peer,
                         "paired_time_ratio_median": statistics.median(paired),
                         "paired_time_ratios": [round(r, 3) for r in paired],
                         "time_ratio": peer["seconds"] / ours["seconds"],
                         "cpu_time_ratio": peer["cpu_seconds"] / ours["cpu_seconds"],
                         "memory_ratio": peer["metric_mb"] / max(ours["metric_mb"], 1.0)})
    import numpy
    record = {"n": args.n, "dim": args.dim, "seed": args.seed, "dtype": "float32", "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg(), "repeats": args.repeats,
              "platform": platform.platform(), "numpy": numpy.__version__,
              "memory": "ru_maxrss of a fresh worker process (RUSAGE_SELF); metric_mb = rise during the call",
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()

"""Cost figures of a finished profile, from the files the pipeline already writes.

    python benchmarks/pipeline_costs.py [--results results/default] [--out benchmarks/results/default_costs.md]

Training images/s per family (train_summary.json), sampling images/s per sampler (samples/*.json),
wall time and peak RSS of every job (Snakemake benchmark: files), metric time (metrics/*.benchmark.tsv), the
memorisation checks, FD-over-training curves and the likelihood jobs (bits/dim).
"""
from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path


WORKER_LINE = re.compile(r"genbench: ran in the worker: peak RSS (\d+) MB")


def read_benchmark(path: Path, log: Path | None = None) -> dict:
    """Wall seconds and peak RSS of a job. A job run through the warm worker (genbench.worker) has its peak RSS
    in its log: its benchmark: file measured only the command that handed it over."""
    with open(path) as fh:
        row = next(csv.DictReader(fh, delimiter="\t"))
    rss = float(row["max_rss"]) if row["max_rss"] != "NA" else None
    if log is not None and log.is_file() and (found := WORKER_LINE.findall(log.read_text(errors="replace"))):
        rss = float(found[-1])
    return {"seconds": float(row["s"]), "max_rss_mb": rss}


def collect(results: Path) -> list[str]:
    lines = ["| job | dataset | preset / sampler | wall s | peak RSS MB | throughput |", "|---|---|---|---|---|---|"]
    logs = results.parent.parent / "logs" / results.name  # results/<profile> -> logs/<profile>
    for summary_path in sorted(results.glob("*/*/seed*/train_summary.json")):
        run = summary_path.parent
        run_logs = logs / run.relative_to(results)
        summary = json.loads(summary_path.read_text())
        bench = read_benchmark(run / "train.benchmark.tsv", run_logs / "train.log")
        lines.append(f"| train | {summary['dataset']} | {summary['preset']} | {bench['seconds']:.1f} | "
                     f"{bench['max_rss_mb']} | {summary['images_per_second']:.0f} train images/s "
                     f"({summary['steps']} steps) |")
        for record_path in sorted((run / "samples").glob("*.json")):
            record = json.loads(record_path.read_text())
            bench = read_benchmark(record_path.with_suffix(".benchmark.tsv"),
                                   run_logs / f"sample_{record_path.stem}.log")
            lines.append(f"| sample | {summary['dataset']} | {summary['preset']} / {record['sampler']} | "
                         f"{bench['seconds']:.1f} | {bench['max_rss_mb']} | {record['images_per_second']:.1f} images/s "
                         f"(n={record['n']}) |")
        if (run / "evaluate.benchmark.tsv").is_file():  # one evaluate job per generative model: all its samplers
            bench = read_benchmark(run / "evaluate.benchmark.tsv", run_logs / "evaluate.log")
            lines.append(f"| evaluate | {summary['dataset']} | {summary['preset']} (every sampler) | "
                         f"{bench['seconds']:.1f} | {bench['max_rss_mb']} |  |")
        if (run / "likelihood.benchmark.tsv").is_file():  # bits/dim on the test rows (genbench.jobs.likelihood)
            bench = read_benchmark(run / "likelihood.benchmark.tsv", run_logs / "likelihood.log")
            record = json.loads((run / "likelihood.json").read_text())
            bits = ", ".join(f"{name} {e['bits_per_dim']:.3f}" for name, e in record["estimates"].items())
            lines.append(f"| likelihood | {summary['dataset']} | {summary['preset']} | {bench['seconds']:.1f} | "
                         f"{bench['max_rss_mb']} | n {record['protocol']['n']}: {bits} bits/dim |")
        for job, folder, log_prefix in (("evaluate", "metrics", "evaluate_"), ("memorisation", "memorisation",
                                        "memorisation_"), ("training_curve", "training_curve", "training_curve_")):
            for bench_path in sorted((run / folder).glob("*.benchmark.tsv")):
                bench = read_benchmark(bench_path, run_logs / f"{log_prefix}{bench_path.name.split('.')[0]}.log")
                lines.append(f"| {job} | {summary['dataset']} | {summary['preset']} / {bench_path.name.split('.')[0]} "
                             f"| {bench['seconds']:.1f} | {bench['max_rss_mb']} | {_job_throughput(bench_path)} |")
    for bench_path in sorted(results.glob("*/domain/train.benchmark.tsv")):
        bench = read_benchmark(bench_path, logs / bench_path.parts[-3] / "domain.log")
        acc = json.loads((bench_path.parent / "classifier.json").read_text())["test_accuracy"]
        lines.append(f"| train_domain | {bench_path.parts[-3]} | classifier | {bench['seconds']:.1f} | "
                     f"{bench['max_rss_mb']} | test accuracy {acc:.4f} |")
    return lines


def _job_throughput(bench_path: Path) -> str:
    """What a memorisation or training-curve job measured (from its JSON record beside the benchmark file)."""
    record_path = bench_path.with_name(bench_path.name.split(".")[0] + ".json")
    if bench_path.parent.name == "training_curve" and record_path.is_file():
        record = json.loads(record_path.read_text())
        return f"{len(record['points'])} points x n_fake {record['protocol']['n_fake']}"
    if bench_path.parent.name == "memorisation" and record_path.is_file():
        record = json.loads(record_path.read_text())
        return f"n_fake {record['protocol']['n_fake']} vs n_train {record['protocol']['n_train']}"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/default"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/default_costs.md"))
    args = parser.parse_args()
    text = "\n".join(collect(args.results)) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

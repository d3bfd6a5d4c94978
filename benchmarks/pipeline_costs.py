"""Cost figures of a finished profile, from the files the pipeline already writes.

    python benchmarks/pipeline_costs.py [--results results/default] [--out benchmarks/results/default_costs.md]

Training images/s per family (train_summary.json), sampling images/s per sampler (samples/*.json),
wall time and peak RSS of every job (Snakemake benchmark: files), metric time (metrics/*.benchmark.tsv).
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def read_benchmark(path: Path) -> dict:
    with open(path) as fh:
        row = next(csv.DictReader(fh, delimiter="\t"))
    return {"seconds": float(row["s"]), "max_rss_mb": float(row["max_rss"]) if row["max_rss"] != "NA" else None}


def collect(results: Path) -> list[str]:
    lines = ["| job | dataset | preset / sampler | wall s | peak RSS MB | throughput |", "|---|---|---|---|---|---|"]
    for summary_path in sorted(results.glob("*/*/seed*/train_summary.json")):
        run = summary_path.parent
        summary = json.loads(summary_path.read_text())
        bench = read_benchmark(run / "train.benchmark.tsv")
        lines.append(f"| train | {summary['dataset']} | {summary['preset']} | {bench['seconds']:.1f} | "
                     f"{bench['max_rss_mb']} | {summary['images_per_second']:.0f} train images/s "
                     f"({summary['steps']} steps) |")
        for record_path in sorted((run / "samples").glob("*.json")):
            record = json.loads(record_path.read_text())
            bench = read_benchmark(record_path.with_suffix(".benchmark.tsv"))
            lines.append(f"| sample | {summary['dataset']} | {summary['preset']} / {record['sampler']} | "
                         f"{bench['seconds']:.1f} | {bench['max_rss_mb']} | {record['images_per_second']:.1f} images/s "
                         f"(n={record['n']}) |")
        for bench_path in sorted((run / "metrics").glob("*.benchmark.tsv")):
            bench = read_benchmark(bench_path)
            lines.append(f"| evaluate | {summary['dataset']} | {summary['preset']} / {bench_path.name.split('.')[0]} | "
                         f"{bench['seconds']:.1f} | {bench['max_rss_mb']} | |")
    for bench_path in sorted(results.glob("*/domain/train.benchmark.tsv")):
        bench = read_benchmark(bench_path)
        acc = json.loads((bench_path.parent / "classifier.json").read_text())["test_accuracy"]
        lines.append(f"| train_domain | {bench_path.parts[-3]} | classifier | {bench['seconds']:.1f} | "
                     f"{bench['max_rss_mb']} | test accuracy {acc:.4f} |")
    return lines


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

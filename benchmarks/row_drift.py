"""Cross-family rows of two runs side by side: per model, its best sampler by FD among those drawing
evaluation.n_fake images (the row the report's overview ranks), with FD, KID, precision and recall.

    python benchmarks/row_drift.py --old OLD/results/default --new results/default [--out benchmarks/results/row_drift.md]
    python benchmarks/row_drift.py --new results/default --save-rows benchmarks/results/default_rows_<commit>.json

What changes between two code versions shows here; run with several seeds to see what a seed changes. A run's
rows saved as JSON (``--save-rows``) serve as ``--old`` later, when its results are gone.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

METRICS = ("fd_domain", "kid_domain", "precision_domain", "recall_domain")


def best_rows(results: Path) -> dict[tuple[str, str, str], dict]:
    """(dataset, preset, seed) -> the metrics record of its best full-n sampler (lowest fd_domain)."""
    best: dict[tuple[str, str, str], dict] = {}
    for path in sorted(results.glob("*/*/seed*/metrics/*.json")):
        record = json.loads(path.read_text())
        values = {name: rec["value"] for name, rec in record["metrics"].items()}
        protocol = record["metrics"].get("fd_domain", {}).get("protocol", {})
        if "fd_domain" not in values or protocol.get("n_fake") != protocol.get("n_real"):
            continue  # a sweep point at its own smaller n: not a cross-family row
        key = (path.parts[-5], path.parts[-4], path.parts[-3])
        if key not in best or values["fd_domain"] < best[key]["fd_domain"]:
            best[key] = {"sampler": path.stem, **values}
    return best


def load_rows(path: Path) -> dict[tuple[str, str, str], dict]:
    """A results folder's best rows, or rows saved by ``--save-rows``."""
    if path.is_file():
        return {tuple(row["key"]): row["values"] for row in json.loads(path.read_text())}
    return best_rows(path)


def table(old: dict, new: dict) -> list[str]:
    lines = ["| dataset | model | seed | sampler old / new | " + " | ".join(f"{m} old / new" for m in METRICS)
             + " | FD new/old |", "|---" * (5 + len(METRICS)) + "|"]
    for key in sorted(old.keys() & new.keys()):
        o, n = old[key], new[key]
        cells = [f"{o.get(m, float('nan')):.4g} / {n.get(m, float('nan')):.4g}" for m in METRICS]
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {o['sampler']} / {n['sampler']} | " + " | ".join(cells)
                     + f" | {n['fd_domain'] / o['fd_domain']:.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="a results folder, or rows saved by --save-rows")
    parser.add_argument("--new", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--save-rows", type=Path, default=None, help="write --new's best rows here as JSON")
    args = parser.parse_args()
    new = load_rows(args.new)
    if args.save_rows is not None:
        args.save_rows.write_text(json.dumps([{"key": list(k), "values": v} for k, v in sorted(new.items())],
                                             indent=1) + "\n")
    if args.old is None:
        return
    text = "\n".join(table(load_rows(args.old), new)) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

"""``genbench compare``: one line per model from MLflow's finished runs, families side by side.

Pure formatting over the rows ``genbench.tracking.finished_runs`` returns, so it is tested without a store.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

COLUMNS = ("model", "family", "samplers", "best sampler", "train s", "images/s", "parameters")


def comparison_table(runs: Sequence[dict[str, Any]], metric: str) -> list[list[str]]:
    """Header + one row per run: the sampler setting with the best ``metric`` (the lowest for distances,
    the highest for scores and accuracies), its value, and the training cost.

    A run's final metrics are named ``<sampler>/<metric>`` (genbench.tracking); a run without ``metric``
    (e.g. FD for a super-resolution model) shows '-'."""
    lower_is_better = metric.split("_")[0] in ("fd", "kid", "lpips")
    header = [*COLUMNS[:4], metric, *COLUMNS[4:]]
    rows = [header]
    for run in runs:
        metrics = run["metrics"]
        by_sampler = {key.split("/", 1)[0]: value for key, value in metrics.items()
                      if "/" in key and key.split("/", 1)[1] == metric and math.isfinite(value)}
        pick = min if lower_is_better else max
        best = pick(by_sampler, key=by_sampler.get) if by_sampler else None
        samplers = {key.split("/", 1)[0] for key in metrics if "/" in key}
        rows.append([run["model"], run["tags"].get("family", "-"), str(len(samplers)), best or "-",
                     _number(by_sampler.get(best)), _number(metrics.get("train_seconds"), 1),
                     _number(metrics.get("train_images_per_second"), 1),
                     _number(metrics.get("n_parameters"), 0, grouped=True)])
    return rows


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _number(value: float | None, digits: int = 4, *, grouped: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if grouped else f"{value:.{digits}f}"

"""gpu_acceptance.md: benchmarks/gpu_acceptance.py's JSON record as the tables a reader checks first."""
from __future__ import annotations

from typing import Any

FLAGS = ("bf16", "channels_last", "data_on_device", "compile", "all")


def markdown(record: dict[str, Any]) -> str:
    env = record["environment"]
    gpus = env["nvidia_smi"]["gpus"] if isinstance(env.get("nvidia_smi"), dict) else []
    device = ", ".join(f"{g['name']} (driver {g['driver_version']}, {g['memory.total']})" for g in gpus) or "no GPU"
    lines = [f"# GPU acceptance: {'PASSED' if record.get('passed') else 'FAILED'}", "",
             f"{record['mode']} run on {record['device']}: {device}; torch {env['torch']}, commit {env['git_commit']}, "
             f"{record['wall_seconds']} s wall (budget {record['budget_s']} s).", ""]
    lines += [f"- {failure}" for failure in record.get("failures", [])] + ([""] if record.get("failures") else [])
    lines += _inception(record.get("inception")) + _dag(record.get("dag")) + _training(record.get("training"), cpu=record["device"] == "cpu")
    return "\n".join(lines) + "\n"


def _inception(inc: dict[str, Any] | None) -> list[str]:
    if not inc:
        return []
    if "error" in inc:
        return ["## Inception", "", f"error: {inc['error']}", ""]
    rows = [f"| {name} | {row.get('cleanfid_features_per_second', '-')} | {row['genbench_features_per_second']} | "
            f"{row.get('speedup', '-')} | {row['relative_difference']:.1e} |"
            for name, row in inc.items() if isinstance(row, dict)]
    return ["## Inception features", "",
            f"{inc['n']} MNIST test images from PNGs, batch {inc['batch_size']}; agreement: genbench vs clean-fid at "
            f"float32, max |difference| / max |feature| (<= {inc['tolerance_relative']:g} to pass; the pipeline runs "
            f"at {inc['pipeline_default']}).", "",
            "| precision | clean-fid features/s | genbench features/s | speed-up | relative difference |",
            "|---|---|---|---|---|", *rows, ""]


def _dag(dag: dict[str, Any] | None) -> list[str]:
    if not dag:
        return []
    if "error" in dag:
        return ["## DAG", "", f"error: {dag['error']}", ""]
    trained = ", ".join(f"{p} on {t['device']} ({t['images_per_second']} images/s)" for p, t in dag["trained"].items())
    return ["## DAG", "", f"`{dag['command']}`: {dag['jobs']} jobs, {dag['wall_seconds']} s, return code "
            f"{dag['returncode']}, reports/all {'made' if dag['report'] else 'NOT made'}; {dag['steps']} training "
            f"steps, n {dag['n']}. Trained: {trained or 'nothing'}.", ""]


def _training(training: dict[str, Any] | None, *, cpu: bool) -> list[str]:
    if not training:
        return []
    lines = ["## Training at full size", "",
             f"{training['warmup']} warm-up + {training['steps']} timed steps per setting, batch "
             f"{training['batch_size']}. images/s at the profile's cuda: keys (default); each flag's speed-up is "
             f"default over default with that flag off (compile: on over off); all: default over plain."
             + (" On a CPU no flag applies: default and plain are the same run, their ratio is noise." if cpu else ""),
             "",
             "| preset | dataset | params | batch | images/s | peak MiB | data wait | " + " | ".join(FLAGS) + " |",
             "|---|---|---|---|---|---|---|" + "---|" * len(FLAGS)]
    for preset, entry in training["families"].items():
        run = entry["settings"].get("default", {})
        if "error" in entry or "images_per_second" not in run:
            why = entry.get("error") or run.get("error") or run.get("diverged") or "not run"
            lines.append(f"| {preset} | {entry.get('dataset', '-')} | | | {why} |" + " |" * (len(FLAGS) + 2))
            continue
        peak = run["peak_memory_mib"] if run["peak_memory_mib"] is not None else "-"
        flags = " | ".join(str(entry.get("speedups", {}).get(flag, "-")) for flag in FLAGS)
        lines.append(f"| {preset} | {entry['dataset']} | {entry['n_parameters'] / 1e6:.1f}M | {run['batch_size']} | "
                     f"{run['images_per_second']} | {peak} | {run['data_wait_fraction']:.1%} | {flags} |")
    if training["skipped"]:
        lines += ["", "Skipped (budget spent): " + "; ".join(training["skipped"]) + "."]
    return lines + [""]

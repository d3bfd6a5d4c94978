"""The report's "Fine-tuning" section: each model started from another dataset's checkpoint (train.init_from +
train.init_dataset; train_summary.json's ``init_from`` says which) against its source preset trained on the
same target from scratch, at equal training steps, from both runs' ``training_curve/<sampler>.json`` of the
same sampler setting. A fine-tune's curve starts at step 0: the source model itself on the target data."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from genbench.io import InputError, read_json
from genbench.report.collect import Results, run_dir
from genbench.report.experiments import Section
from genbench.images import figure_png
from genbench.report.tables import NA, fmt

__all__ = ["finetune_section"]

NO_CURVE = {"points": [], "protocol": {}}


def finetune_section(results: Results, results_root: Path) -> Section | None:
    """None when no run of the profile was started from another dataset's checkpoint (or none has a curve)."""
    section = Section("Fine-tuning", "", ["dataset", "model", "from", "sampler", "step", "FD fine-tuned",
                                          "FD from scratch", "precision ft / scratch", "recall ft / scratch"])
    notes, n_fake = [], NA
    runs = results.summary[["dataset", "preset", "seed"]].drop_duplicates()
    for run in runs.sort_values(["dataset", "preset", "seed"]).itertuples():
        folder = run_dir(results_root, run.dataset, run.preset, run.seed)
        source = read_json(folder / "train_summary.json").get("init_from")
        curves = sorted((folder / "training_curve").glob("*.json"))
        if not source or source["dataset"] == run.dataset or not curves:
            continue
        tuned = _read_curve(curves[0])  # a fine-tune's own curve: its main sampler setting's
        scratch = _read_curve(run_dir(results_root, run.dataset, source["preset"], run.seed) / "training_curve"
                              / curves[0].name)
        if not _comparable(tuned, scratch):
            scratch = NO_CURVE
        by_step = {p["step"]: p for p in scratch["points"]}
        for point in tuned["points"]:
            other = by_step.get(point["step"], {})
            step = "0 (the source)" if point["step"] == 0 else str(point["step"])
            section.rows.append([run.dataset, run.preset, f"{source['preset']} on {source['dataset']}",
                                 curves[0].stem, step, fmt(point["fd_domain"]), fmt(other.get("fd_domain")),
                                 _pair(point, other, "precision_domain"), _pair(point, other, "recall_domain")])
        notes.append(f"{run.preset} on {run.dataset} (seed {run.seed}) started from the {source['weights']} weights "
                     f"of {source['preset']} trained {source['steps']} steps on {source['dataset']}; from scratch = "
                     f"{source['preset']} trained on {run.dataset}")
        n_fake = tuned["protocol"].get("n_fake", NA)
        section.figures[f"finetune_{run.dataset}_{run.preset}.png"] = _figure(run, source, tuned, scratch)
    if not section.rows:
        return None
    section.text = ("FD, precision and recall in the domain features of each training step's weights (EMA where "
                    f"kept), against the test reference, {n_fake} samples per point from one seed and the same "
                    "sampler setting in both runs (FD is biased upwards at this n: the values compare with each "
                    "other, not with the tables'). Step 0 is the source model itself on the target data, before "
                    "any fine-tuning. " + "; ".join(notes) + ". n/a: the from-scratch run has no point at that step "
                    "(or no curve at that sampler setting in this profile).")
    return section


def _read_curve(path: Path) -> dict:
    """A run's training-curve record; no points when the file is not there."""
    if not path.exists():
        return NO_CURVE
    record = read_json(path)
    if "points" not in record or "protocol" not in record:
        raise InputError(f"{path}: missing 'points' or 'protocol'; re-run its training_curve rule")
    return record


def _comparable(tuned: dict, scratch: dict) -> bool:
    """Same sampler setting, n and seed: the points then differ by the weights alone."""
    keys = ("sampler_config", "n_fake", "seed", "reference_split", "extractor_sha256")
    return all(tuned["protocol"].get(k) == scratch["protocol"].get(k) for k in keys)


def _pair(tuned: dict, scratch: dict, key: str) -> str:
    return f"{fmt(tuned.get(key), 3)} / {fmt(scratch.get(key), 3) if key in scratch else NA}"


def _figure(run, source: dict, tuned: dict, scratch: dict) -> bytes:
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for label, curve in ((f"fine-tuned from {source['preset']} on {source['dataset']}", tuned),
                         (f"{source['preset']} from scratch", scratch)):
        points = curve["points"]
        if points:
            ax.plot([p["step"] for p in points], [p["fd_domain"] for p in points], marker="o", label=label)
    ax.set(title=f"Fine-tuning on {run.dataset}: {run.preset}", xlabel="training steps on " + run.dataset,
           ylabel="FD (domain features, lower is better)", yscale="log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return figure_png(fig)

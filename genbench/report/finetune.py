"""The report's "Fine-tuning" section: each model started from another dataset's checkpoint (train.init_from +
train.init_dataset; train_summary.json's ``init_from`` says which) against its source preset trained on the
same target from scratch, at equal training steps, from both runs' ``training_curve/<sampler>.json``."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from genbench.io import InputError, read_json
from genbench.report.collect import Results, run_dir
from genbench.report.experiments import Section
from genbench.report.figures import figure_png
from genbench.report.tables import NA, fmt

__all__ = ["finetune_section"]


def finetune_section(results: Results, results_root: Path) -> Section | None:
    """None when no run of the profile was started from another dataset's checkpoint."""
    section = Section("Fine-tuning", "", ["dataset", "model", "from", "step", "FD fine-tuned", "FD from scratch",
                                          "precision ft / scratch", "recall ft / scratch"])
    notes = []
    runs = results.summary[["dataset", "preset", "seed"]].drop_duplicates()
    for run in runs.sort_values(["dataset", "preset", "seed"]).itertuples():
        folder = run_dir(results_root, run.dataset, run.preset, run.seed)
        source = read_json(folder / "train_summary.json").get("init_from")
        if not source or source["dataset"] == run.dataset:
            continue
        tuned = _curve(folder)
        scratch = _curve(run_dir(results_root, run.dataset, source["preset"], run.seed))
        by_step = {p["step"]: p for p in scratch["points"]}
        for point in tuned["points"]:
            other = by_step.get(point["step"], {})
            section.rows.append([run.dataset, run.preset, f"{source['preset']} on {source['dataset']}",
                                 str(point["step"]), fmt(point["fd_domain"]), fmt(other.get("fd_domain")),
                                 _pair(point, other, "precision_domain"), _pair(point, other, "recall_domain")])
        notes.append(f"{run.preset} on {run.dataset} (seed {run.seed}) started from the {source['weights']} weights "
                     f"of {source['preset']} trained {source['steps']} steps on {source['dataset']}; from scratch = "
                     f"{source['preset']} trained on {run.dataset} (its own curve, same sampler setting and n)")
        section.figures[f"finetune_{run.dataset}_{run.preset}.png"] = _figure(run, source, tuned, scratch)
    if not section.rows:
        return None
    n_fake = tuned["protocol"].get("n_fake", NA)
    section.text = ("FD, precision and recall in the domain features of each fine-tuning step's weights, against "
                    f"the test reference, {n_fake} samples per point from one seed (FD is biased upwards at this n: "
                    "the values compare with each other, not with the tables'). "
                    + "; ".join(notes) + ". n/a: the from-scratch run has no point at that step (or was not "
                    "trained in this profile).")
    return section


def _curve(folder: Path) -> dict:
    """A run's training curve (one file: its main sampler setting's); no points when it has none."""
    paths = sorted((folder / "training_curve").glob("*.json"))
    if not paths:
        return {"points": [], "protocol": {}}
    record = read_json(paths[0])
    if "points" not in record or "protocol" not in record:
        raise InputError(f"{paths[0]}: missing 'points' or 'protocol'; re-run its training_curve rule")
    return record


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

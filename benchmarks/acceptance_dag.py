"""The DAG part of benchmarks/gpu_acceptance.py: ``snakemake reports/all --profile workflow/profiles/gpu`` on a cut
of params/full.yaml, in a copy of the workflow in a temporary folder, with this checkout's prepared data/ and
.cache/ linked in (no data or weight rule runs: no network).

The cut keeps full.yaml's keys and trims what costs time: one dataset (MNIST), DCGAN + DDPM + pix2pix (MNIST-M:
the FCN-score segmenter, the translate and evaluate_translation rules) at their full model size but a few steps,
evaluation on ``n`` images, the experiments off. DDPM keeps its two main samplers (DDPM over all T = 1000
steps and DDIM-50; --tiny: DDIM-50 only). On a GPU the Inception space is measured, and the memorisation check,
the FD-over-training curve and the DDPM's bits/dim run too; --tiny (CPU) measures the domain space only, since
Inception at 299x299 is ~0.3 s an image on one CPU core, and leaves those three out.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = "gpu_acceptance"
CUT_FILE = f"params/{PROFILE}.yaml"
PRESETS = ("dcgan", "ddpm", "pix2pix")
OFF = {"walks": {"enabled": False}, "steering": {"presets": []}, "probe": {"presets": []}, "augmentation": {"presets": []},
       "loss_guidance": {"presets": []}, "sdedit": {"presets": []}, "freecontrol": {"presets": []},
       "style_transfer": {"enabled": False}, "stylegan_figures": {"presets": []}}


def cut_profile(full: dict[str, Any], *, tiny: bool, device: str, n: int, steps: int) -> dict[str, Any]:
    """params/full.yaml's mapping with the cut above applied."""
    small = {"kid_subsets": 2, "kid_subset_size": n // 2, "is_splits": 2} if tiny else \
        {"kid_subsets": 10, "kid_subset_size": n // 4, "is_splits": 10}
    train = {"steps": steps, "log_every": max(1, steps // 4), "grid_size": 16}
    ddpm_samplers = {"ddpm": None} if tiny else {}
    ddpm_samplers |= {name: None for name in ("ddim10", "ddim20", "ddim100", "ddim1000", "ddim10_eta1", "ddim20_eta1",
                                              "ddim50_eta1", "ddim100_eta1", "ddim1000_eta1")}
    return {**full, "profile": PROFILE, "datasets": ["mnist"], "presets": list(PRESETS),
            "preset_datasets": {"pix2pix": ["mnist_m"]}, "seeds": [0], "device": device,
            "threads": 1 if tiny else full.get("threads", 1),
            "domain": {"epochs": 1, **({"max_train_images": 2000} if tiny else {})},
            "segmenter": {"n_train": 500 if tiny else 10000},
            "evaluation": {**full["evaluation"], "feature_spaces": ["domain"] if tiny else ["domain", "inception"],
                           "n_fake": n, "n_real": n, "batch_size": min(n, 500), **small},
            "memorisation": {"enabled": not tiny},
            "training_curve": {"enabled": not tiny, "n_fake": n},
            "likelihood": {"presets": [] if tiny else ["ddpm"], "n": n, "batch_size": n},
            "experiments": OFF,
            "overrides": {"dcgan": {"train": train}, "ddpm": {"train": train, "samplers": ddpm_samplers},
                          "pix2pix": {"train": train}}}


def prepare_workdir(work: Path, profile: dict[str, Any]) -> None:
    """The workflow copied into ``work`` and the checkout's prepared data/ folders and .cache/ files linked in."""
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", work / "Snakefile")
    shutil.copy(REPO / "data.dvc", work / "data.dvc")
    for name in ("workflow", "params"):
        shutil.copytree(REPO / name, work / name, dirs_exist_ok=True)
    (work / CUT_FILE).write_text(yaml.safe_dump(profile, sort_keys=False))
    for dataset in dict.fromkeys([*profile["datasets"], *(d for ds in profile["preset_datasets"].values() for d in ds)]):
        (work / "data").mkdir(exist_ok=True)
        (work / "data" / dataset).symlink_to(REPO / "data" / dataset)
    for folder in ("downloads", "weights"):  # the weight rules' outputs exist, so none of them runs
        (work / ".cache").mkdir(exist_ok=True)
        (work / ".cache" / folder).symlink_to(REPO / ".cache" / folder)


def run_dag(work: Path, *, cores: int | None, timeout_s: float) -> dict[str, Any]:
    """Run the cut to reports/all; job count from Snakemake's plan, wall time, where each model trained."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the run's MLflow store stays in the temporary folder
    command = [str(bin_dir / "snakemake"), "reports/all", "--profile", "workflow/profiles/gpu", "--configfile",
               CUT_FILE, *(["--cores", str(cores)] if cores else [])]
    log = work / "snakemake.log"
    start = time.perf_counter()
    try:
        with open(log, "w") as out:
            returncode = subprocess.run(command, check=False, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
                                        timeout=timeout_s).returncode
    except subprocess.TimeoutExpired:
        returncode = None
    text = log.read_text()
    plan = re.search(r"Job stats:\n(.*?)\n\n", text, flags=re.DOTALL)
    jobs = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", plan.group(1) if plan else "",
                                                              flags=re.MULTILINE)}
    record = {"command": " ".join(["snakemake", *command[1:]]), "returncode": returncode,
              "timed_out": returncode is None, "wall_seconds": round(time.perf_counter() - start, 1),
              "jobs": jobs.pop("total", 0), "jobs_by_rule": jobs,
              "report": (work / "reports/all/index.html").is_file(), "trained": _trained(work)}
    if returncode != 0:
        record["log_tail"] = text[-3000:]
    return record


def _trained(work: Path) -> dict[str, Any]:
    return {path.parent.parent.name: {k: summary[k] for k in ("device", "steps", "images_per_second")}
            for path in sorted((work / "results" / PROFILE).glob("*/*/seed0/train_summary.json"))
            for summary in [json.loads(path.read_text())]}

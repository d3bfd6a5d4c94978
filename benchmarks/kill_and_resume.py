"""Issue 7's acceptance check at a real profile: kill ``snakemake --cores 8 reports/all`` at a random moment,
run the same command again, and check the report's ``summary.csv`` equals an uninterrupted computation.

1. a copy of the workflow in ``--workdir`` runs the profile; after a seeded random delay in
   [``--kill-after-min``, ``--kill-after-max``] s the whole process group gets SIGKILL (a preempted node);
2. the outputs Snakemake had marked incomplete (the jobs running at that moment) are recorded, and the
   same command runs again: it must recover by itself (no --unlock, no --rerun-incomplete);
3. ``summary.csv`` is saved, then every interrupted job is run again uninterrupted (``--forcerun`` of its
   outputs; Snakemake re-runs what depends on them) and ``summary.csv`` is compared: every job that was
   not interrupted ran uninterrupted already, so this is the uninterrupted result, at the cost of the
   interrupted branches only. Timing columns (seconds, images/s, peak RSS) differ between any two runs and
   are left out of the comparison; every metric, count, checksum and parameter must be equal.

    python benchmarks/kill_and_resume.py --workdir /tmp/default-kill [--configfile params/full.yaml]

What the kill left (delay, interrupted outputs, snapshots) is saved to ``<workdir>/kill_state.json`` before
the second run; if that run fails for a reason of its own, fix it and pass ``--continue``: the same command
runs again from where it stopped, and steps 2-3 finish against the saved state.

Writes ``benchmarks/results/kill_and_resume_<profile>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from genbench.recovery import marked_output

REPO = Path(__file__).resolve().parents[1]
TIMING = ("train_seconds", "train_images_per_second", "sample_images_per_second", "peak_rss_mb")
# A re-run job logs a new MLflow run by design: the id names the run, it is not a result.
IDENTITY = ("mlflow_run_id",)


def snakemake(workdir: Path, args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    with open(log, "a") as out:
        return subprocess.Popen([str(Path(sys.executable).parent / "snakemake"), *args], cwd=workdir, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def run(workdir: Path, args: list[str], log: Path) -> float:
    started = time.monotonic()
    process = snakemake(workdir, args, log)
    if process.wait() != 0:
        sys.exit(f"snakemake {' '.join(args)} failed; see {log}")
    return time.monotonic() - started


def incomplete_outputs(workdir: Path) -> list[str]:
    """The outputs of the jobs running when Snakemake died (its .snakemake/incomplete marks)."""
    folder = workdir / ".snakemake/incomplete"
    marks = (p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.name != "migration_underway")
    return sorted(str(out) for out in map(marked_output, marks) if out is not None)


def kill_at_random(work: Path, command: list[str], log: Path, delay: float) -> dict:
    """Step 1: run ``command``, SIGKILL its process group after ``delay`` s; what the kill left behind."""
    process = snakemake(work, command, log)
    time.sleep(delay)
    finished_before_kill = process.poll() is not None
    if not finished_before_kill:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return {"killed_after_s": round(delay, 1), "finished_before_kill": finished_before_kill,
            "interrupted_outputs": incomplete_outputs(work),
            "resume_snapshots_at_kill": sorted(str(p.relative_to(work))
                                               for p in work.glob("results/*/*/*/seed*/resume.pt"))}


def comparable(summary: Path) -> pd.DataFrame:
    table = pd.read_csv(summary, dtype=str, keep_default_na=False)
    return table.drop(columns=[c for c in TIMING if c in table.columns])


def differing_columns(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """Columns whose values differ (or that only one table has); [] when the tables are equal."""
    return sorted((set(a.columns) ^ set(b.columns))
                  | {c for c in set(a.columns) & set(b.columns) if not a[c].equals(b[c])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--configfile", default="", help="a profile other than params/default.yaml")
    parser.add_argument("--cores", default="8")
    parser.add_argument("--kill-after-min", type=float, default=300)
    parser.add_argument("--kill-after-max", type=float, default=1800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-from", type=Path, help="a prepared data/ to copy in (saves the data rules)")
    parser.add_argument("--continue", dest="resume_after_failure", action="store_true",
                        help="the second run failed and was fixed: run it again against kill_state.json")
    args = parser.parse_args()

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "params", "data.dvc"):
        source = REPO / name
        (shutil.copytree(source, work / name, dirs_exist_ok=True) if source.is_dir() else shutil.copy(source, work))
    if args.data_from and not (work / "data").exists():
        shutil.copytree(args.data_from, work / "data")
    command = ["reports/all", "--cores", args.cores] + (["--configfile", args.configfile] if args.configfile else [])
    profile = "default" if not args.configfile else Path(args.configfile).stem
    log = work / "kill_and_resume.log"

    state_file = work / "kill_state.json"
    if args.resume_after_failure:
        state = json.loads(state_file.read_text())
    else:
        state = kill_at_random(work, command, log, random.Random(args.seed).uniform(args.kill_after_min,
                                                                                      args.kill_after_max))
        state_file.write_text(json.dumps(state, indent=2) + "\n")
    resumed_seconds = run(work, command, log)
    state["resumed_runs_s"] = state.get("resumed_runs_s", []) + [round(resumed_seconds, 1)]
    state_file.write_text(json.dumps(state, indent=2) + "\n")
    (work / "summary.resumed.csv").write_bytes((work / "reports/all/summary.csv").read_bytes())

    interrupted = state["interrupted_outputs"]
    rerun_seconds = run(work, command + ["--forcerun", *interrupted], log) if interrupted else 0.0
    resumed, uninterrupted = comparable(work / "summary.resumed.csv"), comparable(work / "reports/all/summary.csv")
    differing = differing_columns(resumed, uninterrupted) if len(resumed) == len(uninterrupted) else ["(rows)"]
    record = {"profile": profile, "command": "snakemake " + " ".join(command), **state,
              "forced_rerun_s": round(rerun_seconds, 1), "summary_rows": len(resumed),
              "summary_equal_without_timing_columns": not differing, "differing_columns": differing,
              "summary_equal_without_timing_and_run_id_columns": set(differing) <= set(IDENTITY),
              "timing_columns_ignored": list(TIMING), "identity_columns": list(IDENTITY)}
    out = REPO / "benchmarks/results" / f"kill_and_resume_{profile}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()

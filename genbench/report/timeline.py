"""Where a run's wall time goes: its jobs over time, one row per slot, from Snakemake's ``benchmark:`` files.

A job ends at its benchmark file's modification time (Snakemake writes the file when the job finishes) and
started ``s`` (the file's wall-time column) before. The Snakemake log (``.snakemake/log/*.snakemake.log``)
narrows the jobs to one invocation and names their rules; without it the benchmark files alone are used.
Slots come from interval partitioning: as many rows as the most jobs that ran at once, none overlapping.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure

from genbench.report.experiments import Section
from genbench.images import figure_png

__all__ = ["Job", "Summary", "assign_slots", "duration", "find_jobs", "job_rows", "kind_rows", "latest_burst",
           "latest_invocation", "select_jobs", "summarise", "timeline_figure", "timeline_section"]

SUFFIX = ".benchmark.tsv"
# The s column is rounded to 1/100 s: jobs that touch within this do not count as overlapping.
TOLERANCE_S = 0.05
# With no log to go by, a stretch this long with no job running separates two invocations (Snakemake starts
# the next job as soon as a slot frees; only the few jobs without a benchmark file, downloads, hide in gaps).
MAX_GAP_S = 600.0
# Folders of a run directory whose benchmark files belong to one rule each; experiments are named by file.
RUN_FOLDERS = {"samples": "sample", "metrics": "evaluate", "memorisation": "memorisation",
               "training_curve": "training_curve"}
# Rules that run every experiment (workflow/rules/experiments.smk): the benchmark file names which one a job ran
EXPERIMENT_RULES = ("experiment", "profile_experiment")
LOG_NAME = re.compile(r"(\d{4}-\d\d-\d\dT\d{6}(?:\.\d+)?)\.snakemake\.log$")
RULE_LINE = re.compile(r"^(?:local)?rule (\w+):\s*$")
BENCHMARK_LINE = re.compile(r"^\s+benchmark: (\S+)\s*$")


@dataclass(frozen=True)
class Job:
    kind: str  # the rule
    label: str  # dataset/preset/sampler, as far as the benchmark path tells
    start: float  # seconds since the epoch
    end: float
    path: Path


@dataclass
class Summary:
    span_s: float  # first start to last end
    n_slots: int
    busy_s: dict[str, float]  # job kind -> summed wall seconds, largest first
    n_jobs: dict[str, int]
    idle_slot_s: float  # slots x span minus the busy seconds
    serial: list[tuple[float, float, int]]  # (start, end, job index): stretches where only that job ran


def _describe(parts: tuple[str, ...], root: str) -> tuple[str, str]:
    """(kind, label) of a benchmark file from its path below its root (see the rules' ``benchmark:``)."""
    stem = parts[-1].removesuffix(SUFFIX)
    folders = parts[:-1]
    if root == "data":
        return "prepare_data", stem
    if root == "logs" and len(folders) == 1 and stem.startswith("reference_"):
        return "reference_features", f"{folders[0]}/{stem.removeprefix('reference_')}"
    if root == "logs" and folders:
        return stem, "/".join(folders)
    if len(folders) == 2 and folders[1] in ("domain", "segmenter") and stem == "train":
        return {"domain": "train_domain_classifier", "segmenter": "train_segmenter"}[folders[1]], folders[0]
    if len(folders) >= 3 and folders[2].startswith("seed"):  # <dataset>/<preset>/seed<k>/...
        dataset, preset, seed = folders[:3]
        run = f"{dataset}/{preset}" + ("" if seed == "seed0" else f"/{seed}")
        if len(folders) == 3:  # train.benchmark.tsv, and a model's one evaluate job's
            return stem, run
        if len(folders) == 4 and folders[3] == "experiments":
            return stem, run
        if len(folders) == 4 and folders[3] in RUN_FOLDERS:
            return RUN_FOLDERS[folders[3]], f"{run}/{stem}"
    return stem, "/".join(folders)  # a rule added later: still shown, named by its file


def _seconds(path: Path) -> float | None:
    """Summed ``s`` of a benchmark file (several rows with ``repeat``); None when unreadable."""
    try:
        with open(path, newline="") as fh:
            return sum(float(row["s"]) for row in csv.DictReader(fh, delimiter="\t")) or None
    except (OSError, KeyError, ValueError, TypeError):
        return None


def find_jobs(results: Path, logs: Path | None = None) -> list[Job]:
    """Every job with a benchmark file under ``results`` (results/<profile>), ``logs`` (logs/<profile>) and
    the data rule's ``logs/data`` beside it; unreadable files are left out (a timeline is no reason to fail)."""
    roots = [(Path(results), "results")]
    if logs is not None:
        roots += [(Path(logs), "logs"), (Path(logs).parent / "data", "data")]
    jobs = []
    for root, kind in roots:
        for path in sorted(root.rglob(f"*{SUFFIX}")) if root.is_dir() else []:
            seconds = _seconds(path)
            if seconds is not None:
                end = path.stat().st_mtime
                jobs.append(Job(*_describe(path.relative_to(root).parts, kind), end - seconds, end, path))
    return sorted(jobs, key=lambda job: (job.start, job.end))


def read_log(path: Path) -> tuple[float, dict[str, str]]:
    """(start time, ``{benchmark path as written: rule}``) of one Snakemake log; its name holds the start."""
    stamp = LOG_NAME.search(path.name)[1]
    # local time, as the files' mtimes; Snakemake names the log after datetime.now().isoformat()
    started = datetime.strptime(stamp, "%Y-%m-%dT%H%M%S" + (".%f" if "." in stamp else "")).timestamp()
    rules, rule = {}, None
    for line in path.read_text(errors="replace").splitlines():
        if match := RULE_LINE.match(line):
            rule = match[1]
        elif rule and (match := BENCHMARK_LINE.match(line)):
            rules[match[1]] = rule
    return started, rules


def latest_invocation(jobs: list[Job], log_dir: Path) -> tuple[list[Job], Path | None]:
    """The jobs of the newest Snakemake invocation (log in ``log_dir``, i.e. ``<workdir>/.snakemake/log``)
    that finished one, kinds renamed to its rules (but an experiment's, named by its file); ``(jobs, None)`` when
    no log lists any of them.

    A job belongs to a log when the log lists its benchmark file and the file was written after the log began
    (the report job is listed too, but its file is still the previous run's while the report is built)."""
    log_dir = Path(log_dir)
    logs = sorted((p for p in log_dir.glob("*.snakemake.log") if LOG_NAME.search(p.name)), reverse=True)
    by_path = {job.path.resolve(): job for job in jobs}
    for log in logs:  # ISO names: newest first
        started, rules = read_log(log)
        chosen = [replace(job, kind=job.kind if rule in EXPERIMENT_RULES else rule)
                  for written, rule in rules.items()
                  if (job := by_path.get((log_dir.parent.parent / written).resolve())) and job.end >= started]
        if chosen:
            return sorted(chosen, key=lambda job: (job.start, job.end)), log
    return jobs, None


def latest_burst(jobs: list[Job], max_gap_s: float = MAX_GAP_S) -> list[Job]:
    """The jobs after the last stretch of ``max_gap_s`` with none running (jobs sorted by start)."""
    first, busy_until = 0, float("-inf")
    for i, job in enumerate(jobs):
        if job.start > busy_until + max_gap_s:
            first = i
        busy_until = max(busy_until, job.end)
    return jobs[first:]


def assign_slots(jobs: list[Job]) -> list[int]:
    """Slot of each job: by start time, the lowest slot free by then, a new one only when all are busy, which
    gives the fewest slots (a new slot opens only when that many jobs run at once)."""
    free_at: list[float] = []
    slots = [0] * len(jobs)
    for i in sorted(range(len(jobs)), key=lambda i: (jobs[i].start, jobs[i].end)):
        slot = next((s for s, end in enumerate(free_at) if end <= jobs[i].start + TOLERANCE_S), len(free_at))
        free_at[slot:slot + 1] = [jobs[i].end]
        slots[i] = slot
    return slots


def summarise(jobs: list[Job], slots: list[int], min_serial_s: float = 1.0) -> Summary:
    """Wall span, busy seconds per kind, idle slot-seconds and the stretches (>= ``min_serial_s``) where only
    one job ran: those are what a second core could not have shortened."""
    span = max(job.end for job in jobs) - min(job.start for job in jobs)
    busy: dict[str, float] = {}
    counts: dict[str, int] = {}
    for job in jobs:
        busy[job.kind] = busy.get(job.kind, 0.0) + job.end - job.start
        counts[job.kind] = counts.get(job.kind, 0) + 1
    busy = dict(sorted(busy.items(), key=lambda item: (-item[1], item[0])))
    times = sorted({t for job in jobs for t in (job.start, job.end)})
    serial: list[tuple[float, float, int]] = []
    for t0, t1 in zip(times, times[1:]):
        running = [i for i, job in enumerate(jobs) if job.start < (t0 + t1) / 2 < job.end]
        if len(running) != 1:
            continue
        if serial and serial[-1][2] == running[0] and serial[-1][1] == t0:
            serial[-1] = (serial[-1][0], t1, running[0])
        else:
            serial.append((t0, t1, running[0]))
    n_slots = max(slots) + 1
    return Summary(span, n_slots, busy, counts, n_slots * span - sum(busy.values()),
                   [s for s in serial if s[1] - s[0] >= min_serial_s])


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{seconds:.1f} s"


def job_rows(jobs: list[Job], slots: list[int]) -> tuple[list[str], list[list[str]]]:
    origin = min(job.start for job in jobs)
    rows = [[str(slot + 1), f"{job.start - origin:.1f}", f"{job.end - origin:.1f}", f"{job.end - job.start:.1f}",
             job.kind, job.label or "-"] for job, slot in zip(jobs, slots)]
    return ["slot", "start s", "end s", "wall s", "kind", "label"], rows


def kind_rows(jobs: list[Job], summary: Summary) -> tuple[list[str], list[list[str]]]:
    total = sum(summary.busy_s.values())
    rows = []
    for kind, busy in summary.busy_s.items():
        longest = max((job for job in jobs if job.kind == kind), key=lambda job: job.end - job.start)
        rows.append([kind, str(summary.n_jobs[kind]), f"{busy:.0f}", f"{100 * busy / total:.1f} %",
                     f"{longest.label or '-'} ({longest.end - longest.start:.0f} s)"])
    return ["job kind", "jobs", "busy s", "share of busy time", "longest job"], rows


def timeline_figure(jobs: list[Job], slots: list[int], summary: Summary, title: str) -> bytes:
    """Gantt chart: one row per slot, bars coloured by job kind (most busy first), single-job stretches shaded."""
    origin = min(job.start for job in jobs)
    scale, unit = (60.0, "min") if summary.span_s > 600 else (1.0, "s")
    fig = Figure(figsize=(10, 1.6 + 0.4 * summary.n_slots + 0.12 * len(summary.busy_s)), layout="constrained")
    ax = fig.add_subplot()
    palette = colormaps["tab20"]  # even entries first: the first ten kinds get ten distinct hues
    for i, kind in enumerate(summary.busy_s):
        label = kind  # on the first bar group only, so the legend lists each kind once
        for slot in range(summary.n_slots):
            bars = [((job.start - origin) / scale, (job.end - job.start) / scale)
                    for job, s in zip(jobs, slots) if s == slot and job.kind == kind]
            if bars:
                ax.broken_barh(bars, (slot - 0.4, 0.8), facecolors=palette(2 * i % 20 + i // 10 % 2),
                               edgecolor="white", linewidth=0.4, label=label)
                label = None
    for n, (t0, t1, _) in enumerate(summary.serial):
        ax.axvspan((t0 - origin) / scale, (t1 - origin) / scale, color="0.88", zorder=0,
                   label="only one job running" if n == 0 else None)
    ax.set(title=title, xlabel=f"time since the first job started ({unit})", ylim=(summary.n_slots - 0.5, -0.5),
           yticks=range(summary.n_slots), yticklabels=[f"slot {s + 1}" for s in range(summary.n_slots)])
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return figure_png(fig)


def select_jobs(results: Path, logs: Path | None = None,
                snakemake_logs: Path | None = None) -> tuple[list[Job], str]:
    """The jobs to show and, for captions, where they were chosen from."""
    jobs = find_jobs(results, logs)
    if snakemake_logs is not None and jobs:
        chosen, log = latest_invocation(jobs, Path(snakemake_logs))
        if log is not None:
            return chosen, f"the latest Snakemake invocation that finished a job ({log.name})"
    return latest_burst(jobs), (f"the benchmark files alone (no Snakemake log lists them), after the last "
                                f"{MAX_GAP_S / 60:.0f} min with no job running")


def timeline_section(results: Path, logs: Path | None = None, snakemake_logs: Path | None = None) -> Section | None:
    """None when there is no benchmark file (results copied without them, or nothing run yet)."""
    jobs, source = select_jobs(results, logs, snakemake_logs)
    if not jobs:
        return None
    slots = assign_slots(jobs)
    summary = summarise(jobs, slots)
    busy = sum(summary.busy_s.values())
    longest = sorted(summary.serial, key=lambda s: s[0] - s[1])[:3]
    serial = (f"Only one job ran for {duration(sum(t1 - t0 for t0, t1, _ in summary.serial))} in all (shaded)"
              + "".join(f"{', longest' if n == 0 else ','} {duration(t1 - t0)} ({jobs[i].kind} {jobs[i].label})"
                        for n, (t0, t1, i) in enumerate(longest)) + ". ")
    text = (f"The jobs of {source}: {len(jobs)} with a Snakemake benchmark file, measured from those files. A job "
            "ends when its file was written (Snakemake writes it as the job finishes) and started its wall time "
            "(column s) before. One row per slot: jobs that ran at once sit on different rows, so there are as "
            f"many rows as the most jobs that ran at the same time. Wall span {duration(summary.span_s)}; "
            f"{busy:.0f} busy slot-seconds on {summary.n_slots} slots, {summary.idle_slot_s:.0f} idle "
            f"({100 * summary.idle_slot_s / (summary.n_slots * summary.span_s):.0f} %). " + serial +
            "Not shown: jobs without a benchmark file (downloads of pinned weights), Snakemake's own time between "
            "jobs and, in a Snakemake run, the report job itself (its file is written when it ends).")
    headers, rows = kind_rows(jobs, summary)
    title = f"{len(jobs)} jobs on {summary.n_slots} slots, wall {duration(summary.span_s)}"
    return Section("Timeline", text, headers, rows, {"timeline.png": timeline_figure(jobs, slots, summary, title)})

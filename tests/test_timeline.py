"""The report's timeline: jobs from benchmark files with chosen mtimes, slots, summary, log selection, outputs."""
from __future__ import annotations

import os
import runpy
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from genbench.report import build_report
from genbench.report.timeline import (TOLERANCE_S, Job, assign_slots, find_jobs, latest_burst, latest_invocation,
                                      select_jobs, summarise, timeline_section)
from test_report import DATASETS, PRESETS, write_results

T0 = 1_800_000_000.0  # an arbitrary epoch second; every job below is placed relative to it
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_benchmark(path: Path, start: float, end: float) -> Path:
    """A Snakemake benchmark file of a job that ran from T0 + start to T0 + end (its mtime is the end)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{end - start:.2f}\t0:00:00\t100.0\t200.0\t90.0\t95.0\t0\t0\t99.0\t{end - start:.2f}\n")
    os.utime(path, (T0 + end, T0 + end))
    return path


def write_log(log_dir: Path, start: float, rules: dict[str, str]) -> Path:
    """A Snakemake log that began at T0 + start, listing ``{benchmark path: rule}`` as Snakemake 9 writes it."""
    stamp = datetime.fromtimestamp(T0 + start).isoformat().replace(":", "")
    blocks = [f"[Fri Jan 15 08:00:00 2027]\nlocalrule {rule}:\n    jobid: {i}\n    benchmark: {path}\n"
              f"    resources: tmpdir=/tmp\n" for i, (path, rule) in enumerate(rules.items())]
    path = log_dir / f"{stamp}.snakemake.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("Building DAG of jobs...\n" + "".join(blocks))
    return path


def _job(start: float, end: float, kind: str = "train") -> Job:
    return Job(kind, "", T0 + start, T0 + end, Path(f"{kind}{start}"))


def test_kinds_and_labels_follow_the_benchmark_paths(tmp_path):
    results, logs = tmp_path / "results/default", tmp_path / "logs/default"
    for i, relative in enumerate(["mnist/dcgan/seed0/train", "mnist/dcgan/seed1/samples/direct",
                                  "mnist/ddpm/seed0/metrics/ddim50", "mnist/ddpm/seed0/evaluate",
                                  "mnist/ddpm/seed0/experiments/sdedit",
                                  "mnist/domain/train", "mnist_m/segmenter/train", "style_transfer/style_transfer"]):
        write_benchmark(results / f"{relative}.benchmark.tsv", i, i + 1)
    write_benchmark(logs / "mnist/reference_inception.benchmark.tsv", 20, 21)
    write_benchmark(logs / "mnist/train_features.benchmark.tsv", 21, 22)
    write_benchmark(tmp_path / "logs/data/mnist.benchmark.tsv", 22, 23)
    assert [(job.kind, job.label) for job in find_jobs(results, logs)] == [
        ("train", "mnist/dcgan"), ("sample", "mnist/dcgan/seed1/direct"), ("evaluate", "mnist/ddpm/ddim50"),
        ("evaluate", "mnist/ddpm"), ("sdedit", "mnist/ddpm"), ("train_domain_classifier", "mnist"), ("train_segmenter", "mnist_m"),
        ("style_transfer", "style_transfer"), ("reference_features", "mnist/inception"),
        ("train_features", "mnist"), ("prepare_data", "mnist")]


def test_slots_never_overlap_and_are_as_few_as_the_most_jobs_at_once():
    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 1000, 300)
    jobs = [_job(s, s + d) for s, d in zip(starts, rng.exponential(40, 300))]
    jobs += [_job(100, 150), _job(150, 170)]  # touching jobs share a slot
    slots = assign_slots(jobs)
    for slot in set(slots):
        mine = sorted((job for job, s in zip(jobs, slots) if s == slot), key=lambda job: job.start)
        assert all(b.start >= a.end - TOLERANCE_S for a, b in zip(mine, mine[1:]))
    # the most jobs running at one moment (each job's start) is a lower bound any assignment must meet
    most = max(sum(a.start <= job.start < a.end - TOLERANCE_S for a in jobs if a is not job) + 1 for job in jobs)
    assert max(slots) + 1 == most and slots[-2] == slots[-1]


def test_summary_of_jobs_read_from_benchmark_files(tmp_path):
    results = tmp_path / "results"
    # A train job 0-100 s; beside it two sample jobs, touching at 50 s; then an evaluate job 100-130 s
    write_benchmark(results / "d/p/seed0/train.benchmark.tsv", 0, 100)
    write_benchmark(results / "d/p/seed0/samples/a.benchmark.tsv", 10, 50)
    write_benchmark(results / "d/p/seed0/samples/b.benchmark.tsv", 50, 80)
    write_benchmark(results / "d/p/seed0/metrics/a.benchmark.tsv", 100, 130)
    jobs = find_jobs(results)
    assert [(job.kind, round(job.start - T0, 2), round(job.end - T0, 2)) for job in jobs] == [
        ("train", 0, 100), ("sample", 10, 50), ("sample", 50, 80), ("evaluate", 100, 130)]
    slots = assign_slots(jobs)
    assert slots == [0, 1, 1, 0]
    summary = summarise(jobs, slots)
    assert summary.n_slots == 2 and summary.span_s == pytest.approx(130)
    assert summary.busy_s == pytest.approx({"train": 100, "sample": 70, "evaluate": 30})
    assert list(summary.busy_s) == ["train", "sample", "evaluate"] and summary.n_jobs["sample"] == 2
    assert summary.idle_slot_s == pytest.approx(2 * 130 - 200)
    assert [(round(t0 - T0), round(t1 - T0), i) for t0, t1, i in summary.serial] == [(0, 10, 0), (80, 100, 0),
                                                                                    (100, 130, 3)]


def test_the_log_picks_the_latest_invocation_that_finished_a_job_and_names_its_rules(tmp_path):
    results, logs, log_dir = tmp_path / "results/default", tmp_path / "logs/default", tmp_path / ".snakemake/log"
    old = write_benchmark(results / "m/cyclegan/seed0/metrics/g.benchmark.tsv", 0, 50)  # an earlier invocation
    new = write_benchmark(results / "m/cyclegan/seed0/samples/g.benchmark.tsv", 100, 150)
    report = write_benchmark(logs / "report.benchmark.tsv", 60, 70)  # the previous run's report
    listed = {str(p.relative_to(tmp_path)): rule for p, rule in ((old, "evaluate_translation"),
                                                                  (new, "translate"), (report, "report"))}
    write_log(log_dir, 90, listed)
    write_log(log_dir, 200, {str(report.relative_to(tmp_path)): "report"})  # only the report, still running
    jobs = find_jobs(results, logs)
    chosen, log = latest_invocation(jobs, log_dir)
    assert log is not None and [(job.kind, job.path) for job in chosen] == [("translate", new)]
    assert latest_invocation(jobs, tmp_path / "nowhere") == (jobs, None)
    section = timeline_section(results, logs, log_dir)
    assert "1 with a Snakemake benchmark file" in section.text and log.name in section.text


def test_without_a_log_a_long_gap_separates_invocations(tmp_path):
    jobs = [_job(0, 100), _job(50, 400), _job(400 + 601, 1100), _job(1050, 1200), _job(1200 + 599, 1900)]
    assert latest_burst(jobs, max_gap_s=600) == jobs[2:]
    results = tmp_path / "results"
    write_benchmark(results / "d/p/seed0/train.benchmark.tsv", 0, 10)
    write_benchmark(results / "d/q/seed0/train.benchmark.tsv", 5000, 5100)
    assert [job.label for job in select_jobs(results)[0]] == ["d/q"]
    assert timeline_section(tmp_path / "empty") is None


def test_report_shows_the_timeline_under_results_and_the_script_prints_it(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results/test"
    write_results(results)
    for i, run in enumerate(sorted(results.glob("*/*/seed0"))):  # the four train jobs, two at a time
        write_benchmark(run / "train.benchmark.tsv", 30 * (i // 2), 30 * (i // 2) + 25 + i % 2)
    write_benchmark(tmp_path / "logs/data/mnist.benchmark.tsv", -10, 0)
    out = tmp_path / "reports/all"
    build_report(results, out, profile="test", datasets=DATASETS, presets=tuple(PRESETS), seeds=(0,),
                 logs_root=tmp_path / "logs/test", snakemake_logs=tmp_path / ".snakemake/log")
    assert (out / "figures/timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "index.html").read_text()
    results_part = page[page.index('<h2 id="results">'):page.index('<h2 id="tasks">')]
    assert '<h3 id="timeline">Timeline</h3>' in results_part and 'alt="timeline.png"' in results_part
    assert "5 with a Snakemake benchmark file" in results_part  # the train jobs and the data job beside them
    markdown = (out / "report.md").read_text()
    assert "### Timeline" in markdown and "![timeline.png](figures/timeline.png)" in markdown
    assert "| train | 4 | 102 |" in markdown  # 25 + 26 + 25 + 26 busy seconds

    script = Path(__file__).resolve().parents[1] / "benchmarks/timeline.py"
    monkeypatch.setattr(sys, "argv", ["timeline.py", "--results", str(results), "--snakemake-logs",
                                      str(tmp_path / "none"), "--out", str(tmp_path / "timeline.md")])
    monkeypatch.chdir(tmp_path)  # --logs defaults to logs/<results folder name> = logs/test
    runpy.run_path(str(script), run_name="__main__")
    text = (tmp_path / "timeline.md").read_text()
    assert text == capsys.readouterr().out.rstrip("\n") + "\n"
    assert "5 on 2 slots" in text and "| 1 | 0.0 | 10.0 | 10.0 | prepare_data | mnist |" in text

"""Where a run's wall time went: every job with a Snakemake benchmark: file, its slot and start/end offsets.

    python benchmarks/timeline.py [--results results/default] [--logs logs/default] [--out FILE.md] [--figure FILE.png]

The same jobs as the report's Timeline figure (genbench/report/timeline.py): the latest Snakemake invocation
in --snakemake-logs that finished one, else the benchmark files alone. Then busy seconds per job kind, idle
slot-seconds and the stretches where only one job ran.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from genbench.report.markdown import table as markdown_table
from genbench.report.timeline import (assign_slots, duration, job_rows, kind_rows, select_jobs, summarise,
                                      timeline_figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/default"))
    parser.add_argument("--logs", type=Path, help="default: logs/<the results folder's name>")
    parser.add_argument("--snakemake-logs", type=Path, default=Path(".snakemake/log"))
    parser.add_argument("--out", type=Path, help="also write the tables to this Markdown file")
    parser.add_argument("--figure", type=Path, help="also write the report's timeline figure (PNG)")
    args = parser.parse_args()
    jobs, source = select_jobs(args.results, args.logs or Path("logs") / args.results.name, args.snakemake_logs)
    if not jobs:
        parser.exit(1, f"timeline: no benchmark files under {args.results} or its logs\n")
    slots = assign_slots(jobs)
    summary = summarise(jobs, slots)
    busy = sum(summary.busy_s.values())
    lines = [f"Jobs of {source}: {len(jobs)} on {summary.n_slots} slots, wall {duration(summary.span_s)}.", ""]
    lines += markdown_table(*job_rows(jobs, slots)) + [""] + markdown_table(*kind_rows(jobs, summary)) + [""]
    lines += [f"Busy {busy:.0f} slot-s, idle {summary.idle_slot_s:.0f} slot-s "
              f"({100 * summary.idle_slot_s / (summary.n_slots * summary.span_s):.0f} % of "
              f"{summary.n_slots} slots x {summary.span_s:.0f} s).", "", "Stretches with only one job running:", ""]
    origin = jobs[0].start
    lines += markdown_table(["start s", "end s", "seconds", "job"], [
        [f"{t0 - origin:.1f}", f"{t1 - origin:.1f}", f"{t1 - t0:.1f}", f"{jobs[i].kind} {jobs[i].label}".strip()]
        for t0, t1, i in summary.serial])
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    if args.figure:
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        args.figure.write_bytes(timeline_figure(
            jobs, slots, summary, f"{len(jobs)} jobs on {summary.n_slots} slots, wall {duration(summary.span_s)}"))


if __name__ == "__main__":
    main()

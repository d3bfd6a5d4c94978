"""``report.md``: the same content as ``index.html``, with figures and grids linked as relative files."""
from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from genbench.report import tables
from genbench.report.collect import Results
from genbench.report.experiments import Section
from genbench.report.glance import GLANCE_TEXT, Glance, task_tables


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_escape(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return lines


def section_markdown(section: Section) -> list[str]:
    out = ["", f"### {section.title}", "", section.text]
    out += ([""] + table(section.headers, section.rows)) if section.rows else []
    return out + [""] + [f"![{name}](figures/{name})" for name in section.figures]


def glance_markdown(glance: Glance) -> list[str]:
    out = ["", f"### {glance.dataset}"]
    for group in glance.groups:
        rows = [[*cells, f"![{thumb}](figures/{thumb})"] for cells, thumb in zip(group.rows, group.thumbnails)]
        out += [""] + table(group.headers, rows)
    return out + [""] + [f"![{name}](figures/{name})" for name in glance.overview]


def render_markdown(results: Results, models: pd.DataFrame, *, profile: str, figures: Sequence[str],
                    grids: Sequence[str], sections: Sequence[Section] = (), timeline: Section | None = None,
                    glances: Sequence[Glance] = ()) -> str:
    out = [f"# genbench report: profile `{profile}`"]
    warnings = tables.extractor_warnings(results) + tables.code_warnings(results)
    if warnings:
        out += ["", "**Warning: stale results**", ""] + [f"- {_escape(w)}" for w in warnings]
    out += ["", "## At a glance", "", GLANCE_TEXT.format(metric=tables.sort_metric(results))]
    for glance in glances:
        out += glance_markdown(glance)
    out += ["", "## Results: every sampler setting, per task"]
    shown: set[str] = set()
    for dataset, task, headers, rows in task_tables(results, models):
        out += ["", f"### {dataset}: {task}", ""] + table(headers, rows)
        names = [n for n in figures if n in (f"fd_{dataset}.png", f"precision_recall_{dataset}.png") and n not in shown]
        out += [""] + [f"![{name}](figures/{name})" for name in names]
        shown.update(names)
    out += section_markdown(timeline) if timeline else []  # "### Timeline": anchor #timeline
    if sections:
        out += ["", "## Tasks, experiments and references"]
    for section in sections:
        out += section_markdown(section)
    out += ["", "## Domain classifiers", ""] + table(*tables.classifier_table(results))
    out += ["", "## Training losses", ""] + [f"![{name}](figures/{name})" for name in figures
                                              if name.startswith("losses_")]
    out += ["", "## Sample grids", ""] + [f"- [{name.removesuffix('.png')}](grids/{name})" for name in grids]
    out += ["", "## How it was measured", ""] + [f"- {note}" for note in tables.METHOD_NOTES]
    for dataset in tables.protocol_datasets(results):
        out += ["", f"Protocol for **{dataset}**:", ""]
        out += [f"- {_escape(line)}" for line in tables.protocol_lines(results, dataset)]
    out += ["", "Tables: [summary.csv](summary.csv), [domain_classifiers.csv](domain_classifiers.csv)"
            + (", [summary_by_model.csv](summary_by_model.csv)" if (models["n_seeds"] > 1).any() else ""), ""]
    return "\n".join(out)

"""``report.md``: the same content as ``index.html``, with figures and grids linked as relative files."""
from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from genbench.report import tables
from genbench.report.collect import Results
from genbench.report.experiments import Section


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


def render_markdown(results: Results, models: pd.DataFrame, *, profile: str, figures: Sequence[str],
                    grids: Sequence[str], sections: Sequence[Section] = (), timeline: Section | None = None) -> str:
    datasets = list(results.classifiers["dataset"])
    out = [f"# genbench report: profile `{profile}`", "", "## How it was measured", ""]
    out += [f"- {note}" for note in tables.METHOD_NOTES]
    for dataset in datasets:
        out += ["", f"Protocol for **{dataset}**:", ""]
        out += [f"- {_escape(line)}" for line in tables.protocol_lines(results, dataset)]
    warnings = tables.extractor_warnings(results) + tables.code_warnings(results)
    if warnings:
        out += ["", "**Warning: stale results**", ""] + [f"- {_escape(w)}" for w in warnings]
    out += ["", "## Results"]
    for dataset in datasets:
        out += ["", f"### {dataset}", ""] + table(*tables.display_table(results, models, dataset))
        out += [""] + [f"![{name}](figures/{name})" for name in figures
                       if name in (f"fd_{dataset}.png", f"precision_recall_{dataset}.png")]
    out += section_markdown(timeline) if timeline else []  # "### Timeline": anchor #timeline
    if sections:
        out += ["", "## Tasks, experiments and references"]
    for section in sections:
        out += section_markdown(section)
    out += ["", "## Domain classifiers", ""] + table(*tables.classifier_table(results))
    out += ["", "## Training losses", ""] + [f"![{name}](figures/{name})" for name in figures
                                              if name.startswith("losses_")]
    out += ["", "## Sample grids", ""] + [f"- [{name.removesuffix('.png')}](grids/{name})" for name in grids]
    out += ["", "Tables: [summary.csv](summary.csv), [domain_classifiers.csv](domain_classifiers.csv)"
            + (", [summary_by_model.csv](summary_by_model.csv)" if (models["n_seeds"] > 1).any() else ""), ""]
    return "\n".join(out)

"""``index.html``: one self-contained page (inline CSS, images as base64 data URIs, no links out).

Every piece of text goes through ``html.escape``; nothing is fetched when the page opens, so it works offline.
"""
from __future__ import annotations

import base64
from html import escape
from typing import Iterable, Mapping, Sequence

import pandas as pd

from genbench.report import tables
from genbench.report.collect import Results
from genbench.report.experiments import Section

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 75rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f0f0f0; } td:nth-child(-n+3) { text-align: left; }
code { font-size: 0.85rem; word-break: break-all; }
.warn { color: #a00; } figure { display: inline-block; margin: 0.5rem; vertical-align: top; }
figcaption { font-size: 0.85rem; text-align: center; }
img.grid { image-rendering: pixelated; width: 16rem; }
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>\n" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


def figure(name: str, png: bytes, *, css_class: str = "") -> str:
    cls = f' class="{css_class}"' if css_class else ""
    return (f'<figure><img{cls} src="{data_uri(png)}" alt="{escape(name)}">'
            f"<figcaption>{escape(name)}</figcaption></figure>")


def section_html(section: Section, anchor: str = "") -> list[str]:
    heading = f'<h3 id="{escape(anchor)}">' if anchor else "<h3>"
    out = [f"{heading}{escape(section.title)}</h3>", f"<p>{escape(section.text)}</p>"]
    out += [table(section.headers, section.rows)] if section.rows else []
    return out + [figure(name, png, css_class="grid" if name.startswith(("walk_", "steered_")) else "")
                  for name, png in section.figures.items()]


def render_html(results: Results, models: pd.DataFrame, *, profile: str, figures: Mapping[str, bytes],
                grids: Mapping[str, bytes], sections: Sequence[Section] = (), timeline: Section | None = None) -> str:
    datasets = list(results.classifiers["dataset"])
    title = f"genbench report: profile {profile}"
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>{escape(title)}</h1>", '<h2 id="protocol">How it was measured</h2>', "<ul>"]
    out += [f"<li>{escape(note)}</li>" for note in tables.METHOD_NOTES] + ["</ul>"]
    for dataset in datasets:
        out += [f"<p>Protocol for <b>{escape(dataset)}</b>:</p>", "<ul>"]
        out += [f"<li><code>{escape(line)}</code></li>" for line in tables.protocol_lines(results, dataset)]
        out += ["</ul>"]
    warnings = tables.extractor_warnings(results) + tables.code_warnings(results)
    if warnings:
        out += ['<p class="warn"><b>Warning: stale results</b></p>', "<ul>"]
        out += [f'<li class="warn">{escape(w)}</li>' for w in warnings] + ["</ul>"]
    out += ['<h2 id="results">Results: quality and cost per model</h2>']
    for dataset in datasets:
        out += [f"<h3>{escape(dataset)}</h3>", table(*tables.display_table(results, models, dataset))]
        out += [figure(name, figures[name]) for name in (f"fd_{dataset}.png", f"precision_recall_{dataset}.png")
                if name in figures]
    out += section_html(timeline, "timeline") if timeline else []
    if sections:
        out += ['<h2 id="tasks">Tasks, experiments and references</h2>']
    for section in sections:
        out += section_html(section)
    out += ['<h2 id="classifiers">Domain classifiers</h2>', table(*tables.classifier_table(results))]
    out += ['<h2 id="losses">Training losses</h2>']
    out += [figure(name, png) for name, png in figures.items() if name.startswith("losses_")]
    out += ['<h2 id="grids">Sample grids</h2>']
    out += [figure(name.removesuffix(".png"), png, css_class="grid") for name, png in grids.items()]
    out += ["</body>", "</html>", ""]
    return "\n".join(out)

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
from genbench.report.glance import GLANCE_TEXT, Glance, task_tables

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 75rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f0f0f0; } td:nth-child(-n+3) { text-align: left; }
code { font-size: 0.85rem; word-break: break-all; }
.warn { color: #a00; } figure { display: inline-block; margin: 0.5rem; vertical-align: top; max-width: 100%; }
figcaption { font-size: 0.85rem; text-align: center; } img { max-width: 100%; }
img.grid { image-rendering: pixelated; width: 16rem; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.5rem 0 1.5rem; }
.scroll table { margin: 0; border-collapse: separate; border-spacing: 0; border-width: 1px 0 0 1px; border-style: solid;
  border-color: #ccc; } .scroll th, .scroll td { border-width: 0 1px 1px 0; }
.scroll tr > :first-child { position: sticky; left: 0; background: #fff; text-align: left; }
.scroll tr > th:first-child { background: #f0f0f0; }
table.glance td:nth-child(-n+3) { text-align: right; } table.glance td:first-child { text-align: left; }
table.glance tbody th { padding-top: 0.6rem; } table.glance td { padding: 0.15rem 0.5rem; }
img.thumb { image-rendering: pixelated; height: 1.9rem; display: block; }
table.sortable th { cursor: pointer; } th[data-sort=asc]::after { content: " ▲"; } th[data-sort=desc]::after { content: " ▼"; }
nav { font-size: 0.9rem; margin-bottom: 0.5rem; } nav a { margin-right: 0.8rem; }
"""
# Click a header of a full table to sort its rows (numbers by value, "n/a" last); without script it stays as built.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.dataset.sort !== "asc", body = table.tBodies[0];
      table.querySelectorAll("thead th").forEach(function (h) { delete h.dataset.sort; });
      th.dataset.sort = ascending ? "asc" : "desc";
      var key = function (row) {
        var text = row.cells[column].textContent.trim(), number = parseFloat(text.replace(/,/g, ""));
        return isNaN(number) ? text : number;
      };
      var rows = Array.prototype.slice.call(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, sortable: bool = False) -> str:
    """A table in its own horizontally scrolling box (first column sticky), so that no table widens the page."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>\n" for row in rows)
    cls = ' class="sortable"' if sortable else ""
    return f'<div class="scroll"><table{cls}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table></div>'


def glance_table(glance: Glance) -> str:
    """One row per model, a header row per task (naming the task's own metric), a thumbnail of its samples last."""
    out = ['<div class="scroll"><table class="glance">']
    for group in glance.groups:
        out += ["<tbody><tr>" + "".join(f"<th>{escape(h)}</th>" for h in group.headers) + "</tr>"]
        for cells, thumb in zip(group.rows, group.thumbnails):
            image = f'<img class="thumb" src="{data_uri(glance.figures[thumb])}" alt="{escape(thumb)}">'
            out += ["<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + f"<td>{image}</td></tr>"]
        out += ["</tbody>"]
    return "\n".join(out + ["</table></div>"])


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


CONTENTS = [("glance", "At a glance"), ("results", "Full results"), ("tasks", "Tasks and references"),
            ("classifiers", "Domain classifiers"), ("losses", "Losses"), ("grids", "Sample grids"),
            ("protocol", "Protocol")]


def render_html(results: Results, models: pd.DataFrame, *, profile: str, figures: Mapping[str, bytes],
                grids: Mapping[str, bytes], sections: Sequence[Section] = (), timeline: Section | None = None,
                glances: Sequence[Glance] = ()) -> str:
    title = f"genbench report: profile {profile}"
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>{escape(title)}</h1>", "<nav>" + "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in CONTENTS)
           + "</nav>"]
    warnings = tables.extractor_warnings(results) + tables.code_warnings(results)
    if warnings:
        out += ['<p class="warn"><b>Warning: stale results</b></p>', "<ul>"]
        out += [f'<li class="warn">{escape(w)}</li>' for w in warnings] + ["</ul>"]
    out += ['<h2 id="glance">At a glance: each model at its main setting, at what cost</h2>',
            f"<p>{escape(GLANCE_TEXT.format(metric=tables.sort_metric(results)))}</p>"]
    for glance in glances:
        out += [f"<h3>{escape(glance.dataset)}</h3>", glance_table(glance)]
        out += [figure(name, glance.figures[name]) for name in glance.overview]
    out += ['<h2 id="results">Results: every sampler setting, per task</h2>',
            "<p>Click a column header to sort by it.</p>"]
    shown: set[str] = set()
    for dataset, task, headers, rows in task_tables(results, models):
        out += [f"<h3>{escape(dataset)}: {escape(task)}</h3>", table(headers, rows, sortable=True)]
        names = [n for n in (f"fd_{dataset}.png", f"precision_recall_{dataset}.png") if n in figures and n not in shown]
        out += [figure(name, figures[name]) for name in names]
        shown.update(names)
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
    out += ['<h2 id="protocol">How it was measured</h2>', "<ul>"]
    out += [f"<li>{escape(note)}</li>" for note in tables.METHOD_NOTES] + ["</ul>"]
    for dataset in tables.protocol_datasets(results):
        out += [f"<p>Protocol for <b>{escape(dataset)}</b>:</p>", "<ul>"]
        out += [f"<li><code>{escape(line)}</code></li>" for line in tables.protocol_lines(results, dataset)]
        out += ["</ul>"]
    out += [f"<script>{SORT_SCRIPT}</script>", "</body>", "</html>", ""]
    return "\n".join(out)

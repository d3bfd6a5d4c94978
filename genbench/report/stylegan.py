"""The report's "StyleGAN" section per dataset: the style-mixing grid (Karras et al. 2019, Figure 3) and the
stochastic-variation figure (Figure 4), with the numbers behind them. Reads ``experiments/stylegan_figures.json``
(genbench.experiments.stylegan_figures) and the PNGs beside it."""
from __future__ import annotations

from typing import Sequence

from genbench.report.experiments import Section, read_png
from genbench.report.tables import fmt

__all__ = ["stylegan_sections"]


def stylegan_sections(records: list[dict], datasets: Sequence[str]) -> list[Section]:
    """One section per dataset with a record, from its lowest seed's records."""
    sections = []
    for dataset in datasets:
        found = [r for r in records if r["dataset"] == dataset]
        if found:
            sections.append(_section([r for r in found if r["seed"] == min(x["seed"] for x in found)], dataset))
    return sections


def _section(records: list[dict], dataset: str) -> Section:
    first = records[0]
    ranges = ", ".join(f"{r['name']} ({'/'.join(f'{s}x{s}' for s in r['sides'])}: layers "
                       f"{', '.join(map(str, r['layers']))})" for r in first["ranges"])
    text = (
        f"First figure, style mixing (Karras et al. 2019, Figure 3; psi 1, one noise draw for every image): top row "
        f"the sources B; then per style range a block of {first['sources']} rows, each source A (first column) "
        f"with B's styles at that range's inputs, in the order {ranges}. "
        f"Second figure, stochastic variation (Figure 4; psi 1): per row one w, {first['shown']} of its "
        f"{first['draws']} noise draws, then the per-pixel standard deviation over all draws (white = "
        f"{fmt(first['noise']['figure_white_at'], 3)} grey levels). "
        "Table, in grey levels (0-255): how far each range's B styles move A (mean |mixed - A|) beside the whole A-to-B "
        "distance, and the mean per-pixel noise std over all pixels, the foreground (mean image above 64) and the "
        "background.")
    headers = ["model", *(f"{r['name']} Δ" for r in first["ranges"]), "A→B Δ", "noise std", "foreground std",
               "background std"]
    section = Section(f"StyleGAN: style mixing and stochastic variation ({dataset})", text, headers)
    for record in records:
        noise = record["noise"]
        section.rows.append([record["preset"], *(fmt(r["mean_abs_change"], 3) for r in record["ranges"]),
                             fmt(record["mean_abs_a_to_b"], 3), fmt(noise["mean_std"], 3),
                             fmt(noise["foreground_std"], 3), fmt(noise["background_std"], 3)])
        for name in record["figures"]:
            section.figures[f"stylegan_{dataset}_{record['preset']}_{name}"] = read_png(record, name)
    return section

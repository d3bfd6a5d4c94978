"""``reports/all``: comparison tables, figures, sample grids, ``report.md`` and a self-contained ``index.html``.

Built only from the result files of one profile (never from MLflow), in a temp directory beside the target
that is renamed into place when complete, so a failed build leaves the previous report untouched.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from genbench.config import ReportConfig
from genbench.io import write_bytes

# pandas and matplotlib are imported inside build_report, so that importing the package stays cheap.
__all__ = ["build_report"]

CLASSIFIER_COLUMNS = ["dataset", "test_accuracy", "n_test", "sha256", "n_train", "epochs", "train_seconds"]


@contextlib.contextmanager
def _replacing_dir(out_dir: Path) -> Iterator[Path]:
    """Yield an empty temp dir beside ``out_dir``; on success it replaces ``out_dir`` (old content removed)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a report is meant to be read
        yield tmp
        old = tmp.with_name(tmp.name + ".old")
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def build_report(results_root: str | Path, out_dir: str | Path, *, profile: str, datasets: Sequence[str],
                 presets: Sequence[str], seeds: Sequence[int],
                 samplers: Mapping[str, Sequence[str]] | None = None,
                 preset_datasets: Mapping[str, Sequence[str]] | None = None, data_root: str | Path | None = None,
                 settings: ReportConfig = ReportConfig(), logs_root: str | Path | None = None,
                 snakemake_logs: str | Path | None = None, main_samplers: Mapping[str, str] | None = None) -> None:
    """Read ``results_root`` (= ``results/<profile>``) and write the whole report to ``out_dir``; the
    human evaluation page ``hype.html`` (only with a ``data_root``) also reads the sample arrays and real
    test images from ``data_root/<dataset>``. The timeline reads the ``benchmark:`` files under ``results_root``
    and ``logs_root`` (= ``logs/<profile>``, with ``logs/data`` beside it) and the Snakemake logs in
    ``snakemake_logs`` (``.snakemake/log``) to pick the latest invocation.

    ``preset_datasets`` restricts a preset to some of ``datasets`` (the profile key of that name).
    ``samplers`` maps a preset to the sampler names it must have; by default those with a
    ``samples/<sampler>.json`` are reported. ``main_samplers`` maps a preset to its main sampler
    (genbench.config.main_sampler), the setting its first-screen row shows. A missing input file raises
    ``InputError`` naming it.
    """
    from genbench.report import tables
    from genbench.report.collect import collect
    from genbench.report.diffusion import diffusion_sections
    from genbench.report.experiments import collect_experiments, gan_sections
    from genbench.report.figures import render_figures
    from genbench.report.finetune import finetune_section
    from genbench.report.freecontrol import freecontrol_sections
    from genbench.report.glance import glance_sections
    from genbench.report.html import render_html
    from genbench.report.likelihood import likelihood_section
    from genbench.report.hype import hype_images, render_hype_page
    from genbench.report.markdown import render_markdown
    from genbench.report.memorisation import memorisation_section
    from genbench.report.references import references_section
    from genbench.report.stylegan import stylegan_sections
    from genbench.report.timeline import timeline_section
    from genbench.report.training_curve import training_curve_section
    from genbench.report.translation import style_transfer_section, translation_sections
    from genbench.report.wgan import wgan_sections

    results = collect(Path(results_root), datasets=datasets, presets=presets, seeds=seeds, samplers=samplers,
                      preset_datasets=preset_datasets)
    models = tables.by_model(results)
    figures = render_figures(results, models)
    glances = glance_sections(results, models, Path(results_root), main_samplers)
    experiments = collect_experiments(Path(results_root), datasets=datasets, presets=presets, seeds=seeds)
    sections = gan_sections(results, experiments, datasets) + stylegan_sections(experiments["stylegan_figures"], datasets)
    sections += wgan_sections(results, Path(results_root))
    sections += diffusion_sections(results, experiments, datasets)
    sections += translation_sections(results) + freecontrol_sections(experiments["freecontrol"])
    extra = (likelihood_section(results), style_transfer_section(Path(results_root)), training_curve_section(results, Path(results_root)),
             finetune_section(results, Path(results_root)), memorisation_section(results, Path(results_root)))
    sections += [s for s in extra if s is not None] + [references_section(results, Path(results_root))]
    timeline = timeline_section(Path(results_root), None if logs_root is None else Path(logs_root),
                                None if snakemake_logs is None else Path(snakemake_logs))
    for section in sections + ([timeline] if timeline else []):
        figures |= section.figures
    for glance in glances:
        figures |= glance.figures
    grids = {name: path.read_bytes() for name, path in results.grids.items()}
    hype = None if data_root is None else render_hype_page(
        hype_images(results, Path(results_root), Path(data_root), images_per_model=settings.hype_images_per_model,
                    seed=settings.hype_seed), profile=profile)
    with _replacing_dir(Path(out_dir)) as tmp:
        write_bytes(tmp / "summary.csv", results.summary.to_csv(index=False, na_rep=tables.NA).encode())
        if (models["n_seeds"] > 1).any():
            write_bytes(tmp / "summary_by_model.csv", models.to_csv(index=False, na_rep=tables.NA).encode())
        classifiers = results.classifiers[CLASSIFIER_COLUMNS]
        write_bytes(tmp / "domain_classifiers.csv", classifiers.to_csv(index=False, na_rep=tables.NA).encode())
        for name, png in figures.items():
            write_bytes(tmp / "figures" / name, png)
        for name, png in grids.items():
            write_bytes(tmp / "grids" / name, png)
        markdown = render_markdown(results, models, profile=profile, figures=list(figures), grids=list(grids),
                                   sections=sections, timeline=timeline, glances=glances)
        write_bytes(tmp / "report.md", markdown.encode())
        page = render_html(results, models, profile=profile, figures=figures, grids=grids, sections=sections,
                           timeline=timeline, glances=glances)
        write_bytes(tmp / "index.html", page.encode())
        if hype is not None:
            write_bytes(tmp / "hype.html", hype.encode())

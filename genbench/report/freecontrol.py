"""The report's "Training-free control vs CycleGAN" section: one table and one grid per FreeControl record
(``<run>/experiments/freecontrol.json``, genbench.experiments.freecontrol_job)."""
from __future__ import annotations

from genbench.io import InputError
from genbench.report.experiments import Section, read_png
from genbench.report.tables import fmt

__all__ = ["freecontrol_sections"]

METHOD_NAMES = {"baseline": "{baseline} ({direction})", "sdedit": "SDEdit, strength {strength}",
                "inversion_only": "DDIM inversion + CFG (FreeControl, both energies off)",
                "freecontrol": "FreeControl, class prompt", "freecontrol_null_prompt": "FreeControl, generic prompt"}


def freecontrol_sections(records: list[dict]) -> list[Section]:
    return [_section(record) for record in records]


def _section(record: dict) -> Section:
    try:
        s, baseline = record["settings"], record["baseline"]["preset"]
        start = "from the inverted latent" if s["start_from_inversion"] else "from noise"
        protocol = (
            f"{record['n']} {record['source_dataset']} test rows (those {baseline} translated) into "
            f"the domain of {record['preset']} ({record['dataset']}, seed {record['seed']}), no training. FreeControl "
            f"(Mo et al. 2023): {s['n_seed']} seed images from the generic prompt, PCA of the UNet's decoder level "
            f"{s['feature_block']} -> {s['n_bases']} bases per step; DDIM-{s['steps']} inversion of the guidance "
            f"image ({record['guidance_image']}); structure scale {s['structure_scale']}, appearance scale "
            f"{s['appearance_scale']} over the first {s['guided_fraction']:.0%} of the steps, classifier-free "
            f"guidance {s['guidance']}, start {start}"
            f". SDEdit at strength {s['sdedit_strength']:.2f} = the unguided share of FreeControl's steps. Label kept: "
            f"the {record['dataset']} domain classifier on the output vs the input's digit; FD in its domain features "
            f"against {record['n_real']} test images; SSIM against the digit the input was made from; stroke IoU "
            f"(output >= 128) against its mask. Rows marked 'told the class' are given the input's label as their "
            f"prompt, which the baseline never sees: their label kept is not a translation score. Seconds per image: "
            f"one CPU thread, the baseline's from its translate job (after its training); FreeControl's analysis "
            f"({fmt(record['analysis_seconds'], 3)} s) once for all rows.")
        section = Section(f"Training-free control vs CycleGAN: {record['source_dataset']} -> {record['dataset']}",
                          protocol, ["method", "told the class", "label kept", "FD (domain)", "SSIM to digit",
                                     "stroke IoU", "s / image"])
        for row in record["rows"]:
            name = METHOD_NAMES[row["method"]].format(baseline=record["baseline"]["preset"],
                                                      direction=record["baseline"]["direction"],
                                                      strength=f"{s['sdedit_strength']:.2f}")
            section.rows.append([name, "yes" if row["told_the_class"] else "no", fmt(row["label_kept"], 3),
                                 fmt(row["fd_domain"], 4), fmt(row["ssim_to_digit"], 3), fmt(row["stroke_iou"], 3),
                                 fmt(row["seconds_per_image"], 3)])
    except KeyError as err:
        raise InputError(f"{record['_dir']}/freecontrol.json: missing {err}; delete it and re-run") from None
    section.figures[f"freecontrol_{record['dataset']}_{record['preset']}.png"] = read_png(record, record["figure"])
    return section

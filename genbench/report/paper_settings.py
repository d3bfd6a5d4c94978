"""The training settings of the papers whose numbers the report quotes (genbench.report.references), each with
where the paper says so. A reference row's note lists the settings of this run that differ from these, read from
the run's resolved config (``<run>/config.yaml``, where the train job writes every model key, the family's defaults
filled in: no model registry needed here), so that a profile's shortcuts (CycleGAN without its backward cycle,
1,200 steps) are stated beside the paper's number rather than in a YAML comment.

Only settings a run's config has a key for are listed; data, resolution and feature space are the rows' own
"protocol differs" text. A preset without an entry here gets no settings note.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from genbench.config.parse import read_yaml
from genbench.io import InputError

__all__ = ["PAPER_SETTINGS", "PaperSetting", "differing_settings", "settings_note"]


@dataclass(frozen=True)
class PaperSetting:
    key: str  # dotted key of a run's resolved config: "model.cycle_weight", "train.steps"
    name: str  # the paper's name for it
    value: float | int | str
    where: str  # where in the paper


PAPER_SETTINGS: Mapping[str, tuple[PaperSetting, ...]] = {
    # Zhu et al. 2017 (https://arxiv.org/abs/1703.10593), Cityscapes labels <-> photos at 128x128 (Table 2)
    "cyclegan": (
        PaperSetting("model.cycle_weight", "lambda_A", 10.0, "sec. 4: lambda = 10 in eq. 3, on both cycles"),
        PaperSetting("model.cycle_weight_y", "lambda_B", 10.0, "sec. 4: lambda = 10 in eq. 3, on both cycles"),
        PaperSetting("model.base_channels", "G width", 64, "appendix 7.2: c7s1-64"),
        PaperSetting("model.d_base_channels", "D width", 64, "appendix 7.2: C64"),
        PaperSetting("model.res_blocks", "residual blocks", 6, "appendix 7.2: 6 for 128x128 training images"),
        PaperSetting("train.batch_size", "batch", 1, "sec. 4"),
        PaperSetting("train.lr", "lr", 0.0002, "sec. 4"),
        PaperSetting("train.steps", "steps", 595_000,
                     "sec. 4 and appendix 7.1: 200 epochs of Cityscapes' 2,975 training images at batch 1"),
    ),
    # Isola et al. 2017 (https://arxiv.org/abs/1611.07004), Cityscapes labels -> photo (Table 1)
    "pix2pix": (
        PaperSetting("model.l1_weight", "lambda (L1)", 100.0, "sec. 4: lambda = 100 in eq. 4"),
        PaperSetting("model.base_channels", "G width", 64, "appendix 6.1.1: C64 first encoder layer"),
        PaperSetting("model.d_base_channels", "D width", 64, "appendix 6.1.2: C64"),
        PaperSetting("train.batch_size", "batch", 1, "appendix 6.2: Cityscapes, batch size 1"),
        PaperSetting("train.lr", "lr", 0.0002, "sec. 3.3"),
        PaperSetting("train.steps", "steps", 595_000, "appendix 6.2: 200 epochs of 2,975 images at batch 1"),
    ),
    # Gulrajani et al. 2017 (https://arxiv.org/abs/1704.00028), Algorithm 1's defaults, used in every experiment
    "wgan_gp": (
        PaperSetting("model.gp_weight", "lambda", 10.0, "Algorithm 1 and sec. 4"),
        PaperSetting("model.n_critic", "n_critic", 5, "Algorithm 1"),
    ),
    # Ho et al. 2020 (https://arxiv.org/abs/2006.11239), the CIFAR-10 model (DDIM's Table 1 samples the same one)
    "ddpm": (
        PaperSetting("model.timesteps", "T", 1000, "sec. 4"),
        PaperSetting("model.prediction", "prediction", "eps", "sec. 3.2, eq. 14 (L_simple)"),
        PaperSetting("model.base_channels", "width", 128, "appendix B: the 35.7M-parameter CIFAR-10 U-Net"),
        PaperSetting("train.batch_size", "batch", 128, "appendix B"),
        PaperSetting("train.lr", "lr", 0.0002, "appendix B"),
        PaperSetting("train.steps", "steps", 800_000, "appendix B"),
        PaperSetting("train.ema_decay", "EMA decay", 0.9999, "appendix B"),
    ),
}


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(theirs, str) or isinstance(ours, str):
        return ours == theirs
    return math.isclose(float(ours), float(theirs), rel_tol=1e-9)


def _text(value: Any) -> str:
    if isinstance(value, (bool, str)):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:g}"


def differing_settings(preset: str, spec: Mapping[str, Any], *, source: str = "config.yaml") -> list[str]:
    """``"lambda_B 0 (paper 10)"`` for each paper setting of ``preset`` that the run's ``spec`` (config.yaml's
    ``spec`` section: family, model, train, every key resolved) sets otherwise."""
    out = []
    for setting in PAPER_SETTINGS.get(preset, ()):
        section, _, key = setting.key.partition(".")
        if key not in (spec.get(section) or {}):
            raise InputError(f"{source}: no '{setting.key}' (written before the train job recorded every model "
                             "key); re-run the train rule that makes it")
        ours = spec[section][key]
        if not _same(ours, setting.value):
            out.append(f"{setting.name} {_text(ours)} (paper {_text(setting.value)})")
    return out


def settings_note(preset: str, run: Path) -> str:
    """The settings of the run in folder ``run`` that differ from the paper's, as a sentence for a reference
    row; "" when the paper's are not recorded here or none differ."""
    if preset not in PAPER_SETTINGS:
        return ""
    path = run / "config.yaml"
    if not path.is_file():
        raise InputError(f"{path}: file not found; re-run the train rule that makes it")
    config = read_yaml(path)
    if not isinstance(config, Mapping) or not isinstance(config.get("spec"), Mapping):
        raise InputError(f"{path}: no 'spec' section; re-run the train rule that makes it")
    differing = differing_settings(preset, config["spec"], source=str(path))
    return f"settings that differ from the paper's (this run's config.yaml): {', '.join(differing)}" if differing \
        else ""

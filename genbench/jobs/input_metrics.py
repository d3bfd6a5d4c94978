"""``genbench metrics``: the metrics of any two inputs (image folders, image or feature ``.npz`` files), by the
standard protocol or a profile's, outside the pipeline."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from genbench.config import EvaluationConfig
from genbench.device import resolve_device, set_threads
from genbench.features import EXTRACTORS
from genbench.inputs import load_metric_input
from genbench.io import InputError, sha256_file, write_json
from genbench.jobs.evaluate import compute_metrics, with_protocol

# ``genbench metrics`` without ``--profile``: the protocol of clean-fid and torch-fidelity, so that its numbers
# compare with theirs. KID: 100 subsets of (at most) 1,000 rows per side (clean-fid's num_subsets and
# max_subset_size, torch-fidelity's kid_subsets and kid_subset_size); precision/recall k 3 (Kynkaanniemi et al.
# 2019); density/coverage k 5 (Naeem et al. 2020); IS over 10 splits. The pipeline's profiles keep their own.
STANDARD_PROTOCOL = EvaluationConfig(kid_subsets=100, kid_subset_size=1000, pr_k=3, dc_k=5, is_splits=10)


def run_metrics(real_path: Path, fake_path: Path, *, names: Sequence[str], space: str, extractor_file: Path | None,
                cfg: EvaluationConfig, device: str, threads: int, out: Path | None) -> dict:
    """``genbench metrics``: any two inputs (image folders, image or feature ``.npz``) -> metrics with protocol.

    ``space`` names a registered feature extractor, or ``none`` when both inputs already hold features.
    """
    set_threads(threads)
    real, fake = load_metric_input(real_path), load_metric_input(fake_path)
    protocol: dict = {"feature_space": space, "n_real": len(real), "n_fake": len(fake),
                      "real": real.source, "fake": fake.source}
    if space == "none":
        for side in (real, fake):
            if side.features is None:
                raise InputError(f"{side.source}: --features none needs precomputed 'features' in an .npz; "
                                 "for images name a feature extractor (--features domain|inception)")
        real_features, fake_features, fake_logits = real.features, fake.features, fake.logits
    else:
        extractor = EXTRACTORS.get(space, source="--features")
        for side in (real, fake):
            if side.images is None:
                raise InputError(f"{side.source}: holds features; use --features none, or give images")
        if extractor_file is None:
            extractor_file = extractor.default_file()
        dev = resolve_device(device)
        model, _ = extractor.load(extractor_file, device=dev)
        real_features, _ = extractor.extract(model, real.images, batch_size=cfg.batch_size, device=dev)
        fake_features, fake_logits = extractor.extract(model, fake.images, batch_size=cfg.batch_size, device=dev)
        protocol |= {"extractor_sha256": sha256_file(extractor_file), "resize": extractor.resize}
    values = with_protocol(compute_metrics(real_features, fake_features, fake_logits, cfg, space=space, names=names),
                           protocol)
    if out is not None:
        write_json(out, {"metrics": values})
    return values

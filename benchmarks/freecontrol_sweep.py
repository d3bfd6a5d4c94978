"""FreeControl's structure scale, start and guided share, swept on MNIST-M *train* rows (the test rows are the
ones the report measures): label kept, SSIM to the source digit and stroke IoU per setting.

    python benchmarks/freecontrol_sweep.py --results results/default --data data/mnist_m \
        --out benchmarks/results/freecontrol_sweep.json
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from genbench import metrics
from genbench.data import load_arrays
from genbench.experiments import freecontrol as fc
from genbench.experiments.freecontrol import FreeControlConfig
from genbench.features.domain import extract, load_classifier
from genbench.train.checkpoint import load_for_sampling
from genbench.images import to_uint8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/default"))
    parser.add_argument("--data", type=Path, default=Path("data/mnist_m"))
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/freecontrol_sweep.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = load_for_sampling(args.results / "mnist/ddpm_cond/seed0/checkpoint.pt", torch.device("cpu"))
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    classifier, _ = load_classifier(args.results / "mnist/domain/classifier.pt", device="cpu")
    train = load_arrays(args.data, "train", ("images", "labels", "digits", "masks"))
    rows = np.random.default_rng(0).choice(len(train["labels"]), args.rows, replace=False)
    rgb, labels, digits, masks = (train[k][rows] for k in ("images", "labels", "digits", "masks"))
    x = torch.from_numpy(fc.condition_image(rgb)).float().div(127.5).sub(1.0)
    base = FreeControlConfig()
    bases = fc.analyse(model, base, generator=torch.Generator().manual_seed(0))
    records = []
    for scale in (0.0, 10.0, 30.0, 100.0):
        for start in (True, False):
            for fraction in (0.4, 0.6):
                cfg = replace(base, structure_scale=scale, start_from_inversion=start, guided_fraction=fraction)
                out = to_uint8(fc.translate(model, x, torch.from_numpy(labels).long(), bases, cfg, seed=0))
                _, logits = extract(classifier, out, batch_size=250, device="cpu")
                records.append({"structure_scale": scale, "start_from_inversion": start, "guided_fraction": fraction,
                                "label_kept": float((logits.argmax(1) == labels).mean()),
                                "ssim_to_digit": float(metrics.ssim(out, digits).mean()),
                                "stroke_iou": float(metrics.stroke_iou(out, masks).mean())})
                print(json.dumps(records[-1]), flush=True)
    args.out.write_text(json.dumps({"rows": args.rows, "split": "train", "settings": vars(base) | {"presets": []},
                                    "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()

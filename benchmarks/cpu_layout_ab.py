"""A/B of a family's train step in the plain (NCHW) and channels_last layouts on one CPU thread, interleaved so
that both see the same machine load: what ``GenerativeModel.cpu_channels_last`` was chosen by.

    python benchmarks/cpu_layout_ab.py dcgan '{"base_channels": 16}'
    python benchmarks/cpu_layout_ab.py ddpm '{"base_channels": 16, "prediction": "v"}'

Prints ms per step of each layout, four rounds of 10 steps (batch 32, 28x28x1). Run it on an idle machine.
"""
from __future__ import annotations

import json
import sys
import time

import torch

from genbench.config import TrainConfig
from genbench.models import ImageSpec, build_model


def main() -> None:
    family, model_cfg = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    torch.set_num_threads(1)
    x, y = torch.rand(32, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (32,))
    runs = {}
    for nhwc in (False, True):
        torch.manual_seed(0)
        model = build_model(family, model_cfg, ImageSpec(1, 28, 28, 10))
        if nhwc:
            model = model.to(memory_format=torch.channels_last)
        runs[nhwc] = (model, model.configure_optimizers(TrainConfig(batch_size=32, lr=0.001)))
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(4):
        for nhwc, (model, optimizers) in runs.items():
            batch = x.contiguous(memory_format=torch.channels_last) if nhwc else x
            for _ in range(2):  # warm-up
                model.train_step(batch, y, optimizers)
            start = time.perf_counter()
            for _ in range(10):
                model.train_step(batch, y, optimizers)
            times[nhwc].append((time.perf_counter() - start) / 10 * 1000)
    print(f"{family}: NCHW {[round(t) for t in times[False]]} ms/step, channels_last {[round(t) for t in times[True]]}")


if __name__ == "__main__":
    main()

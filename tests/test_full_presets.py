"""Every preset of params/full.yaml builds at its full size and takes a training step on the CPU: the shape and
config errors that the small profiles hide (params/ci.yaml and default.yaml shrink the models).

Kept cheap, since what is checked is the shapes: random arrays shaped like each dataset's prepared splits, the
batch cut to 2 images (2 x n_critic for the WGAN critics, which take n_critic slices of one batch), untrained
stand-ins for the pinned networks (VGG16, the text encoder: no download). At the batch sizes as written, one step
of every preset took 74 s on one CPU thread (PixelCNN 34 s, StyleGAN 10 s); at 2 images this file takes 12 s
(one thread; 21 s with the 2 cores shared).
LDM takes two steps, one per stage: model.autoencoder_steps is cut to 1 (5000 at full size, and training must
outlast it). benchmarks/gpu_acceptance.py trains the same presets on the prepared data (--tiny in .ci/run).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import REPO

import genbench.text
from genbench.config import load_profile_file, resolve_run
from genbench.data.photo_patches import HR_SIZE, SCALE
from genbench.features import vgg
from genbench.models import ImageSpec, build_model, family_class
from genbench.text import EMBEDDING_DIM
from genbench.train.loop import fit

PROFILE = load_profile_file(REPO / "params/full.yaml")
SHAPES = {"mnist": ImageSpec(1, 28, 28, 10), "fashion_mnist": ImageSpec(1, 28, 28, 10),
          "mnist_m": ImageSpec(3, 28, 28, 10), "photo_patches": ImageSpec(3, HR_SIZE, HR_SIZE, 12)}


class StandInTextEncoder:
    def encode(self, captions: list[str]) -> torch.Tensor:
        return torch.randn(len(captions), EMBEDDING_DIM)

    def encode_tokens(self, captions: list[str], *, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(len(captions), length, EMBEDDING_DIM), torch.ones(len(captions), length, dtype=torch.bool)


@pytest.fixture(autouse=True)
def untrained_pinned_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vgg, "load_vgg16", lambda path=None, *, device="cpu": vgg.VGG16Features().to(device))
    monkeypatch.setattr(genbench.text, "fetch_text_encoder", lambda *args: None)
    monkeypatch.setattr(genbench.text, "load_text_encoder", lambda wheel: StandInTextEncoder())


def fake_split(image: ImageSpec, names: tuple[str, ...], n: int) -> dict[str, np.ndarray]:
    """Random arrays with the dtypes, shapes and ranges of a prepared split's (genbench.data: meta.json 'arrays')."""
    rng = np.random.default_rng(0)
    c, h, w = image.channels, image.height, image.width
    arrays = {"images": rng.integers(0, 256, (n, c, h, w), dtype=np.uint8),
              "labels": rng.integers(0, image.num_classes, n).astype(np.int64),
              "digits": rng.integers(0, 256, (n, 1, h, w), dtype=np.uint8),  # MNIST-M
              "masks": rng.integers(0, 2, (n, h, w), dtype=np.uint8),
              "label_maps": rng.integers(0, 11, (n, h, w), dtype=np.uint8),
              "lr": rng.integers(0, 256, (n, c, h // SCALE, w // SCALE), dtype=np.uint8)}  # photo patches
    return {name: arrays[name] for name in names}


def test_every_preset_trains_on_a_dataset_shaped_here() -> None:
    assert {d for p in PROFILE.presets for d in PROFILE.datasets_of(p)} <= set(SHAPES)


@pytest.mark.parametrize("preset", PROFILE.presets)
def test_full_size_preset_builds_and_trains(preset: str) -> None:
    dataset = PROFILE.datasets_of(preset)[0]
    spec = resolve_run(PROFILE, dataset=dataset, preset=preset, seed=0).spec
    assert set(family_class(spec.family).pinned_weights(spec.model)) <= {"vgg16", "text-encoder"}  # stood in above
    two_stages = {"autoencoder_steps": 1} if spec.family == "ldm" else {}
    image = SHAPES[dataset]
    torch.manual_seed(0)
    model = build_model(spec.family, {**spec.model, **two_stages}, image, source=f"preset {preset}")
    model.prepare(tuple(str(k) for k in range(image.num_classes)))
    batch = 2 * getattr(model.cfg, "n_critic", 1)
    tensors = model.training_tensors(fake_split(image, model.training_arrays, batch))
    steps = 2 if two_stages else 1
    train = replace(spec.train, steps=steps, batch_size=batch, curve_points=0, init_from="", init_dataset="")
    result = fit(model, tensors, train, seed=0)  # a NaN or infinite loss raises TrainingDiverged
    assert result.steps == steps and {step for step, _, _ in result.history} == {steps}

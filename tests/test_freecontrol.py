"""FreeControl invariants (genbench.experiments.freecontrol): seeded bases, the energies' zeros, and that the
guided sampler with both energies off is plain DDIM, bitwise."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, load_profile, validate_all
from genbench.experiments import validate_experiments
from genbench.experiments import freecontrol as fc
from genbench.experiments.freecontrol import FreeControlConfig
from genbench.metrics import stroke_iou
from genbench.models import build_model
from genbench.models.base import ImageSpec

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SETTINGS = FreeControlConfig(steps=4, n_seed=3, n_bases=4, batch_size=2)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = build_model("ddpm_cond", {"base_channels": 8, "timesteps": 50}, SPEC).eval()
    with torch.no_grad():  # the UNet's zero-initialised output layers would make every eps 0
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
            parameter.requires_grad_(False)
    return model


def images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_the_bases_are_a_function_of_the_seed(model) -> None:
    first = fc.analyse(model, SETTINGS, generator=torch.Generator().manual_seed(3))
    again = fc.analyse(model, SETTINGS, generator=torch.Generator().manual_seed(3))
    other = fc.analyse(model, SETTINGS, generator=torch.Generator().manual_seed(4))
    assert first.keys() == again.keys() and len(first) == SETTINGS.steps
    for t, (mean, basis) in first.items():
        assert torch.equal(mean, again[t][0]) and torch.equal(basis, again[t][1])
        assert basis.shape == (16, SETTINGS.n_bases)  # level 1 of a base-8 UNet: 16 channels
        assert torch.allclose(basis.T @ basis, torch.eye(SETTINGS.n_bases), atol=1e-5)  # orthonormal directions
    assert any(not torch.equal(first[t][1], other[t][1]) for t in first)


def test_the_structure_energy_is_zero_for_the_guidance_image_itself(model) -> None:
    bases = fc.analyse(model, SETTINGS, generator=torch.Generator().manual_seed(0))
    null = torch.full((2,), model.null_label)
    features = fc.Features(model, SETTINGS.feature_block)
    guide, _ = fc.invert(model, images(2, 1), null, features, steps=SETTINGS.steps)
    other, _ = fc.invert(model, images(2, 2), null, features, steps=SETTINGS.steps)
    for t, (mean, basis) in bases.items():
        s_guide = fc.coordinates(guide[t], mean, basis)
        assert torch.equal(fc.structure_energy(s_guide, s_guide), torch.zeros(2))
        assert (fc.structure_energy(fc.coordinates(other[t], mean, basis), s_guide) > 0).all()
        v = fc.appearance_vectors(s_guide, guide[t], SETTINGS.n_appearance, SETTINGS.appearance_threshold)
        assert torch.equal(fc.appearance_energy(v, v), torch.zeros(2))


@pytest.mark.parametrize("guidance", [0.0, 1.0, 3.0])
def test_both_scales_at_zero_is_plain_ddim_bitwise(model, guidance: float) -> None:
    settings = replace(SETTINGS, structure_scale=0.0, appearance_scale=0.0, guidance=guidance)
    labels = torch.tensor([3, 7])
    null = torch.full_like(labels, model.null_label)
    bases = fc.analyse(model, settings, generator=torch.Generator().manual_seed(0))
    guide, _ = fc.invert(model, images(2, 1), null, fc.Features(model, 1), steps=settings.steps)
    out = fc.synthesise(model, guide, bases, labels, null, settings, generator=torch.Generator().manual_seed(5))
    plain = model.sample(2, generator=torch.Generator().manual_seed(5), labels=labels,
                         sampler=SamplerConfig(algo="ddim", steps=settings.steps, guidance=guidance))
    assert torch.equal(out, plain)
    guided = fc.synthesise(model, guide, bases, labels, null, replace(settings, structure_scale=30.0),
                           generator=torch.Generator().manual_seed(5))
    assert not torch.equal(guided, plain)  # and the energies do act when on


def test_the_condition_image_shows_an_mnist_m_digit_bright_on_dark() -> None:
    digit = np.zeros((1, 1, 28, 28), np.uint8)
    digit[..., 8:20, 12:16] = 255
    for photo_value in (30, 220):  # a dark and a bright background: |photo - digit| flips the stroke's side
        rgb = np.abs(np.full((1, 3, 28, 28), photo_value, np.int16) - digit).astype(np.uint8)
        condition = fc.condition_image(rgb)
        assert condition.shape == (1, 1, 28, 28) and condition.dtype == np.uint8
        assert stroke_iou(condition, digit[:, 0] > 0).item() == 1.0


def test_stroke_iou() -> None:
    masks = np.zeros((2, 4, 4), bool)
    masks[0, :2] = True
    found = np.zeros((2, 1, 4, 4), np.uint8)
    found[0, 0, :1] = 200  # half of the first mask, nothing outside it
    assert stroke_iou(found, masks).tolist() == [0.5, 1.0]  # two empty sets match


def test_the_profile_refuses_a_model_freecontrol_cannot_steer() -> None:
    profile = load_profile({"profile": "t", "datasets": ["mnist"], "presets": ["ddpm", "cyclegan"],
                            "preset_datasets": {"cyclegan": ["mnist_m"]},
                            "experiments": {"freecontrol": {"presets": ["ddpm"]}}}, source="t.yaml")
    with pytest.raises(ConfigError, match=r"^t.yaml: key 'experiments.freecontrol.presets': 'ddpm' \(ddpm\) is not a "):
        validate_experiments(profile, validate_all(profile, profile_source="t.yaml"), profile_source="t.yaml")

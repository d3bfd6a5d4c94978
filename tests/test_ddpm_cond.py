"""Classifier-free guidance invariants: label dropout, the guided eps as the paper's mix, and its cost."""
from __future__ import annotations

import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, TrainConfig
from genbench.models import build_model, family_class
from genbench.models.base import ImageSpec

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"base_channels": 8, "timesteps": 50}


@pytest.fixture
def model():
    torch.manual_seed(0)
    model = build_model("ddpm_cond", SMALL, SPEC).eval()
    with torch.no_grad():  # the UNet's zero-initialised output layers would hide the label at first
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


def test_label_dropout_replaces_about_p_of_the_labels_by_the_null_label(model) -> None:
    torch.manual_seed(0)
    labels = torch.arange(20000) % 10
    out = model.training_labels(labels)
    dropped = out == model.null_label
    assert model.null_label == SPEC.num_classes
    assert abs(dropped.float().mean().item() - 0.1) < 0.01
    assert torch.equal(out[~dropped], labels[~dropped])  # the others are kept as they are


def test_the_null_label_has_its_own_embedding(model) -> None:
    assert model.unet.label_embedding.num_embeddings == SPEC.num_classes + 1


@pytest.mark.parametrize("scale", [0.0, 1.0, 3.0])
def test_guided_noise_is_uncond_plus_scale_times_the_difference(model, scale: float) -> None:
    x, t, labels = torch.randn(4, 1, 28, 28), 30, torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        guided = model.noise_estimator(SamplerConfig(algo="ddim", guidance=scale), labels)(x, t)
        cond = model.predict_noise(x, t, labels)
        uncond = model.predict_noise(x, t, torch.full_like(labels, model.null_label))
    assert not torch.allclose(cond, uncond)
    torch.testing.assert_close(guided, uncond + scale * (cond - uncond), atol=1e-5, rtol=1e-5)


def test_guidance_costs_two_network_evaluations_per_step_except_at_0_and_1(model) -> None:
    nfe = {s: model.network_evaluations(SamplerConfig(algo="ddim", steps=20, guidance=s)) for s in (0.0, 1.0, 3.0)}
    assert nfe == {0.0: 20, 1.0: 20, 3.0: 40}


def test_sampling_obeys_labels_and_seed(model) -> None:
    def draw(labels, seed=0):
        with torch.no_grad():
            return model.sample(len(labels), generator=torch.Generator().manual_seed(seed),
                                sampler=SamplerConfig(algo="ddim", steps=5, guidance=3.0), labels=labels)

    labels = torch.tensor([1, 2, 3])
    assert torch.equal(draw(labels), draw(labels))
    other = draw(torch.tensor([5, 2, 3]))
    assert not torch.equal(other[0], draw(labels)[0])
    assert torch.equal(other[1:], draw(labels)[1:])  # same noise, same class: the same image


def test_training_step_conditions_on_the_labels(model) -> None:
    model.train()
    optimizers = model.configure_optimizers(TrainConfig())
    loss = model.train_step(torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8), optimizers)["loss"]
    assert torch.isfinite(torch.tensor(loss))


def test_bad_label_dropout_and_guidance_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^ddpm_cond: key 'model\.label_dropout' must be > 0, got 0\.0$"):
        build_model("ddpm_cond", {"label_dropout": 0.0}, SPEC)
    with pytest.raises(ConfigError, match=r"p\.yaml: key 'guidance' must be >= 0"):
        family_class("ddpm_cond").check_sampler(SamplerConfig(algo="ddim", guidance=-1.0), source="p.yaml")
    with pytest.raises(ConfigError, match=r"'ddpm' has no sampler option 'guidance'"):
        family_class("ddpm").check_sampler(SamplerConfig(algo="ddim", guidance=3.0), source="p.yaml")

"""Loss guidance and SDEdit on a tiny untrained DDPM: what the methods guarantee, not sample quality."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from genbench.config import SamplerConfig
from genbench.experiments.loss_guidance import class_loss, guided_sample
from genbench.experiments.sdedit import sdedit
from genbench.models import build_model
from genbench.models.base import ImageSpec

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SAMPLER = SamplerConfig(algo="ddim", steps=5)


@pytest.fixture
def ddpm():
    torch.manual_seed(0)
    return build_model("ddpm", {"base_channels": 8, "timesteps": 50}, SPEC).eval()


def brightness(images: torch.Tensor) -> torch.Tensor:
    return images.mean(dim=(1, 2, 3))


def test_loss_guidance_lowers_the_loss_and_scale_0_is_plain_sampling(ddpm) -> None:
    def draw(scale: float) -> torch.Tensor:
        return guided_sample(ddpm, brightness, 8, scale=scale, sampler=SAMPLER, generator=torch.Generator().manual_seed(0))

    with torch.no_grad():
        plain = ddpm.sample(8, generator=torch.Generator().manual_seed(0), sampler=SAMPLER)
    assert torch.equal(draw(0.0), plain)
    # pushed down the loss: every image darker, and more so at a larger scale
    assert (brightness(draw(30.0)) < brightness(plain)).all()
    assert brightness(draw(100.0)).mean() < brightness(draw(30.0)).mean()


def test_class_loss_is_the_negative_log_probability_of_the_target() -> None:
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    images = torch.randn(5, 1, 2, 2)
    expected = -torch.log_softmax(classifier(images), dim=1)[:, 2]
    torch.testing.assert_close(class_loss(classifier, 2)(images), expected)


def test_sdedit_keeps_the_input_at_low_strength_and_forgets_it_at_full_strength(ddpm) -> None:
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        edits = {s: sdedit(ddpm, images, strength=s, sampler=SamplerConfig(algo="ddim", steps=10),
                           generator=torch.Generator().manual_seed(0)) for s in (0.02, 0.5, 1.0)}
        pure = ddpm.sample(4, generator=torch.Generator().manual_seed(1), sampler=SamplerConfig(algo="ddim", steps=10))
    distance = {s: (edit - images).abs().mean().item() for s, edit in edits.items()}
    assert distance[0.02] < distance[0.5] < distance[1.0]
    assert distance[0.02] < 0.1
    # at strength 1 the start is (almost exactly) pure noise: the input no longer matters
    other = torch.rand(4, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        again = sdedit(ddpm, other, strength=1.0, sampler=SamplerConfig(algo="ddim", steps=10),
                       generator=torch.Generator().manual_seed(0))
    assert (again - edits[1.0]).abs().mean() < 0.05 < (edits[1.0] - images).abs().mean()
    assert pure.shape == edits[1.0].shape


def test_sdedit_rejects_strength_outside_0_1(ddpm) -> None:
    with pytest.raises(ValueError, match=r"strength must be in \(0, 1\]"):
        sdedit(ddpm, torch.zeros(1, 1, 28, 28), strength=0.0, sampler=SAMPLER, generator=torch.Generator())


def test_both_refuse_a_conditional_model() -> None:
    cond = build_model("ddpm_cond", {"base_channels": 8, "timesteps": 50}, SPEC).eval()
    with pytest.raises(ValueError, match="unconditional"):
        guided_sample(cond, brightness, 2, scale=1.0, sampler=SAMPLER, generator=torch.Generator())
    with pytest.raises(ValueError, match="unconditional"):
        sdedit(cond, torch.zeros(1, 1, 28, 28), strength=0.5, sampler=SAMPLER, generator=torch.Generator())

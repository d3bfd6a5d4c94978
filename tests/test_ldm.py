"""Latent diffusion invariants: the two training stages, the latent rescaling, decoding, unclipped latents."""
from __future__ import annotations

import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, TrainConfig
from genbench.experiments.sdedit import sdedit
from genbench.models import build_model
from genbench.models.base import ImageSpec

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"base_channels": 8, "timesteps": 50, "autoencoder_channels": 8, "autoencoder_steps": 2}


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("ldm", SMALL, SPEC)


def test_the_autoencoder_trains_first_then_the_unet_on_rescaled_latents(model) -> None:
    optimizers = model.configure_optimizers(TrainConfig(steps=10))
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    unet_before = [p.detach().clone() for p in model.unet.parameters()]
    losses = [model.train_step(images, torch.zeros(8, dtype=torch.long), optimizers) for _ in range(2)]
    assert all(set(step) == {"reconstruction"} for step in losses)
    assert all(torch.equal(a, b) for a, b in zip(unet_before, model.unet.parameters()))  # untouched so far
    assert float(model.latent_scale) == 1.0
    encoder_before = [p.detach().clone() for p in model.autoencoder.parameters()]
    assert set(model.train_step(images, torch.zeros(8, dtype=torch.long), optimizers)) == {"loss"}
    assert all(torch.equal(a, b) for a, b in zip(encoder_before, model.autoencoder.parameters()))  # frozen now
    with torch.no_grad():
        z = model.autoencoder.encode(images) * model.latent_scale
    assert abs(float(z.std()) - 1.0) < 1e-4  # the first diffusion batch fixed the scale to unit std
    assert int(model.steps_done) == 3 and "latent_scale" in model.state_dict() and "steps_done" in model.state_dict()


def test_latents_are_7x7_and_samples_are_decoded_images(model) -> None:
    assert model.latent.height == 7 and model.latent.channels == 4 and model.image == SPEC
    model.eval()
    with torch.no_grad():
        out = model.sample(3, generator=torch.Generator().manual_seed(0), sampler=SamplerConfig(algo="ddim", steps=3))
    assert out.shape == (3, 1, 28, 28) and out.abs().max() <= 1


def test_too_few_training_steps_for_both_stages_is_a_config_error(model) -> None:
    with pytest.raises(ConfigError, match=r"train\.steps.*must exceed 'model\.autoencoder_steps'"):
        model.configure_optimizers(TrainConfig(steps=2))
    with pytest.raises(ConfigError, match="multiples of 4"):
        build_model("ldm", SMALL, ImageSpec(channels=1, height=30, width=30, num_classes=10))


def test_pixel_space_experiments_refuse_latent_diffusion(model) -> None:
    assert not model.pixel_space
    with pytest.raises(ValueError, match="pixel-space"):
        sdedit(model, torch.zeros(1, 1, 28, 28), strength=0.5, sampler=SamplerConfig(algo="ddim", steps=2),
               generator=torch.Generator())

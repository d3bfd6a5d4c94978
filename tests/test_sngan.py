"""SN-GAN invariants: every D layer spectrally normalised (largest singular value ~1), the hinge loss."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from genbench.config import SamplerConfig, TrainConfig, load_preset
from genbench.models import build_model
from genbench.models.base import ImageSpec
from genbench.models.losses import hinge_d_loss, hinge_g_loss

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"base_channels": 8, "latent_dim": 16}


def weighted_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def largest_singular_value(layer: nn.Module) -> float:
    # The matrix spectral norm normalises: the kernel reshaped to (out, in * k * k) (Miyato et al., sec. 2.1).
    return torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item()


def test_every_discriminator_layer_is_spectrally_normalised_and_none_is_batch_norm() -> None:
    model = build_model("sngan", SMALL, SPEC)
    layers = weighted_layers(model.discriminator)
    assert len(layers) == 3 and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.discriminator.modules())
    assert not any(parametrize.is_parametrized(m) for m in model.generator.modules())


def test_largest_singular_value_is_one_after_power_iterations_and_a_step() -> None:
    torch.manual_seed(0)
    model = build_model("sngan", SMALL, SPEC).train()
    optimizers = model.configure_optimizers(TrainConfig())
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    for _ in range(3):
        model.train_step(images, torch.zeros(8, dtype=torch.long), optimizers)
    with torch.no_grad():
        for _ in range(20):  # one power iteration per forward in training mode (Algorithm 1)
            model.discriminator(images)
    for layer in weighted_layers(model.discriminator):
        assert largest_singular_value(layer) == pytest.approx(1.0, abs=1e-3)
    # The unnormalised weights are what the optimiser moves; they are not of unit norm.
    originals = [m.parametrizations.weight.original for m in weighted_layers(model.discriminator)]
    assert any(abs(torch.linalg.matrix_norm(w.detach().flatten(1), ord=2).item() - 1.0) > 0.1 for w in originals)


def test_hinge_losses_on_known_scores() -> None:
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # mean(max(0, 1 - [2, 0.5])) + mean(max(0, 1 + [-2, 0])) = mean(0, 0.5) + mean(0, 1)
    assert hinge_d_loss(real, fake).item() == pytest.approx(0.25 + 0.5)
    assert hinge_g_loss(torch.tensor([1.0, -3.0])).item() == pytest.approx(1.0)
    # Scores beyond the margins cost D nothing.
    assert hinge_d_loss(torch.tensor([1.0, 5.0]), torch.tensor([-1.0, -7.0])).item() == 0.0


def test_one_discriminator_update_per_generator_update() -> None:
    torch.manual_seed(0)
    model = build_model("sngan", SMALL, SPEC).train()
    optimizers = model.configure_optimizers(TrainConfig())
    counts = dict.fromkeys(optimizers, 0)
    for name, optimizer in optimizers.items():
        optimizer.register_step_post_hook(lambda *_, name=name: counts.__setitem__(name, counts[name] + 1))
    for _ in range(2):
        losses = model.train_step(torch.rand(8, 1, 28, 28) * 2 - 1, torch.zeros(8, dtype=torch.long), optimizers)
    assert counts == {"generator": 2, "discriminator": 2}
    assert losses["loss_d"] >= 0.0  # a sum of hinges


def test_preset_is_table_1_setting_c_and_samples_with_truncation() -> None:
    preset = load_preset("sngan")
    assert (preset.train.lr, preset.train.betas, preset.train.batch_size) == (2e-4, (0.5, 0.999), 64)
    model = build_model("sngan", SMALL, SPEC).eval()
    truncated = SamplerConfig(truncation=0.5)
    model.check_sampler(truncated, source="p.yaml")
    with torch.no_grad():
        first = model.sample(3, generator=torch.Generator().manual_seed(0), sampler=truncated)
        plain = model.sample(3, generator=torch.Generator().manual_seed(0), sampler=SamplerConfig())
    assert first.shape == (3, 1, 28, 28) and not torch.equal(first, plain)

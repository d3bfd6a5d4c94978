"""WGAN-GP invariants: the penalty's value, a critic without batch norm, n_critic critic updates per G update."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from genbench.config import ConfigError, SamplerConfig, TrainConfig, load_preset
from genbench.models import build_model
from genbench.models.base import ImageSpec
from genbench.models.losses import gradient_penalty

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"base_channels": 8, "latent_dim": 16}


def linear_critic(weight_norm: float) -> nn.Module:
    """D(x) = <w, x> with ||w|| = weight_norm: its input gradient is w at every x."""
    linear = nn.Linear(28 * 28, 1, bias=False)
    with torch.no_grad():
        w = torch.randn(1, 28 * 28, generator=torch.Generator().manual_seed(0))
        linear.weight.copy_(weight_norm * w / w.norm())
    return nn.Sequential(nn.Flatten(), linear, nn.Flatten(0))


@pytest.mark.parametrize("weight_norm", [1.0, 0.5, 3.0])
def test_gradient_penalty_of_a_linear_critic_is_its_norm_gap_squared(weight_norm: float) -> None:
    real, fake = torch.rand(6, 1, 28, 28), torch.rand(6, 1, 28, 28)
    gp = gradient_penalty(linear_critic(weight_norm), real, fake, generator=torch.Generator().manual_seed(1))
    assert gp.item() == pytest.approx((weight_norm - 1.0) ** 2, abs=1e-6)


@pytest.mark.parametrize("norm, norm_type", [("layer", nn.GroupNorm), ("none", None)])
def test_critic_has_no_batch_norm(norm: str, norm_type: type | None) -> None:
    model = build_model("wgan_gp", SMALL | {"critic_norm": norm}, SPEC)
    kinds = {type(m) for m in model.discriminator.modules()}
    assert not any(issubclass(k, nn.modules.batchnorm._BatchNorm) for k in kinds)
    if norm_type is None:
        assert not any(issubclass(k, nn.GroupNorm) for k in kinds)
    else:  # layer norm: one group, statistics over (C, H, W) of each sample
        assert all(m.num_groups == 1 for m in model.discriminator.modules() if isinstance(m, norm_type))
    # A sample's score does not depend on the rest of its batch, which the penalty needs (sec. 4).
    model.train()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    assert torch.allclose(model.discriminator(x)[:2], model.discriminator(x[:2]), atol=1e-5)


@pytest.mark.parametrize("n_critic", [1, 3, 5])
def test_n_critic_critic_updates_per_generator_update(n_critic: int) -> None:
    torch.manual_seed(0)
    model = build_model("wgan_gp", SMALL | {"n_critic": n_critic}, SPEC).train()
    optimizers = model.configure_optimizers(TrainConfig())
    counts = dict.fromkeys(optimizers, 0)
    for name, optimizer in optimizers.items():
        optimizer.register_step_post_hook(lambda *_, name=name: counts.__setitem__(name, counts[name] + 1))
    images = torch.rand(16, 1, 28, 28) * 2 - 1
    for _ in range(2):
        model.train_step(images, torch.zeros(16, dtype=torch.long), optimizers)
    assert counts == {"generator": 2, "discriminator": 2 * n_critic}


def test_step_reports_wasserstein_estimate_and_penalty() -> None:
    torch.manual_seed(0)
    model = build_model("wgan_gp", SMALL, SPEC).train()
    losses = model.train_step(torch.rand(10, 1, 28, 28) * 2 - 1, torch.zeros(10, dtype=torch.long),
                              model.configure_optimizers(TrainConfig()))
    assert set(losses) == {"loss_d", "loss_g", "wasserstein", "gp"}
    assert losses["gp"] >= 0
    # L = -(E[D(x)] - E[D(G(z))]) + lambda * gp, per critic iteration and hence for their means.
    assert losses["loss_d"] == pytest.approx(-losses["wasserstein"] + 10.0 * losses["gp"], rel=1e-5, abs=1e-6)


def test_batch_smaller_than_n_critic_is_a_config_error() -> None:
    model = build_model("wgan_gp", SMALL, SPEC).train()
    with pytest.raises(ConfigError, match=r"train\.batch_size"):
        model.train_step(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long),
                         model.configure_optimizers(TrainConfig()))


@pytest.mark.parametrize("key, value", [("critic_norm", "batch"), ("n_critic", 0), ("gp_weight", -1.0)])
def test_bad_model_keys_are_config_errors(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"model.{key}"):
        build_model("wgan_gp", {key: value}, SPEC)


def test_preset_has_the_papers_optimiser_and_samples_with_truncation() -> None:
    preset = load_preset("wgan_gp")
    assert (preset.train.lr, preset.train.betas) == (1e-4, (0.0, 0.9))
    assert preset.train.batch_size == 5 * 64 and preset.model["n_critic"] == 5
    model = build_model("wgan_gp", SMALL, SPEC).eval()
    truncated = SamplerConfig(truncation=0.5)
    model.check_sampler(truncated, source="p.yaml")
    with torch.no_grad():
        images = model.sample(3, generator=torch.Generator().manual_seed(0), sampler=truncated)
    assert images.shape == (3, 1, 28, 28)

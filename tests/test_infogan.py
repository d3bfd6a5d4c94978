"""InfoGAN invariants: Q shares D's body, the info loss is eq. (5)'s bound, and labels set the categorical code."""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Normal

from genbench.config import ConfigError, SamplerConfig, TrainConfig
from genbench.models import build_model
from genbench.models.base import ImageSpec

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"base_channels": 8, "latent_dim": 16, "q_hidden": 16}


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("infogan", SMALL, SPEC).eval()


def test_q_and_d_share_the_body_parameters(model) -> None:
    body = {id(p) for p in model.body.parameters()}
    d_optimizer = model.configure_optimizers(TrainConfig())["discriminator"]
    in_d_optimizer = {id(p) for group in d_optimizer.param_groups for p in group["params"]}
    assert body and body <= in_d_optimizer
    assert {id(p) for p in model.q_head.parameters()} <= in_d_optimizer
    # Q's loss reaches the body's tensors themselves, and not D's own head.
    q_out = model.q_head(model.body(torch.rand(4, 1, 28, 28)))
    model.info_loss(q_out, torch.tensor([0, 1, 2, 3]), torch.zeros(4, 2)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.body.parameters() if p.ndim > 1)
    assert all(p.grad is None for p in model.d_head.parameters())
    # No second copy of the body: parameters = G + body + D head + Q head.
    parts = (model.generator, model.body, model.d_head, model.q_head)
    assert model.num_parameters() == sum(p.numel() for part in parts for p in part.parameters())


def test_info_loss_is_cross_entropy_plus_gaussian_nll_up_to_a_constant(model) -> None:
    torch.manual_seed(1)
    q_out = torch.randn(6, 12)
    codes, continuous = torch.randint(0, 10, (6,)), torch.rand(6, 2) * 2 - 1
    logits, mean = q_out[:, :10], q_out[:, 10:]
    cross_entropy = -Categorical(logits=logits).log_prob(codes).mean()
    gaussian_nll = -Normal(mean, 1.0).log_prob(continuous).sum(dim=1).mean()
    constant = 2 * 0.5 * math.log(2 * math.pi)  # two unit-variance codes
    expected = 1.0 * cross_entropy + 0.1 * (gaussian_nll - constant)
    assert torch.allclose(model.info_loss(q_out, codes, continuous), expected, atol=1e-6)


def test_labels_set_the_categorical_code(model) -> None:
    codes = torch.tensor([3, 3, 7])
    captured = []
    hook = model.generator[0].register_forward_hook(lambda mod, inputs, out: captured.append(inputs[0]))
    with torch.no_grad():
        model.sample(3, generator=torch.Generator().manual_seed(0), sampler=SamplerConfig(), labels=codes)
        model.sample(10, generator=torch.Generator().manual_seed(0), sampler=SamplerConfig())
    hook.remove()
    one_hot = captured[0][:, -10:, 0, 0]
    assert torch.equal(one_hot.argmax(dim=1), codes) and torch.equal(one_hot.sum(dim=1), torch.ones(3))
    continuous = captured[0][:, SMALL["latent_dim"]:-10, 0, 0]
    assert continuous.shape == (3, 2) and continuous.abs().max() <= 1.0
    assert torch.equal(captured[1][:, -10:, 0, 0].argmax(dim=1), torch.arange(10))  # balanced when None


def test_same_seed_same_images_and_the_code_changes_them(model) -> None:
    def draw(codes: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model.sample(len(codes), generator=torch.Generator().manual_seed(0), sampler=SamplerConfig(),
                                labels=codes)

    codes = torch.tensor([0, 1, 2])
    assert torch.equal(draw(codes), draw(codes))
    assert not torch.equal(draw(codes)[0], draw(torch.tensor([5, 1, 2]))[0])


def test_label_contract_and_step_losses(model) -> None:
    assert model.label_kind == "code" and model.num_label_values() == 10
    assert build_model("infogan", {**SMALL, "categories": 4}, SPEC).num_label_values() == 4
    model.train()
    losses = model.train_step(torch.rand(8, 1, 28, 28) * 2 - 1, torch.zeros(8, dtype=torch.int64),
                              model.configure_optimizers(TrainConfig()))
    assert {"loss_d", "loss_g", "loss_info"} <= set(losses)


def test_generator_lr_ratio_sets_g_learning_rate(model) -> None:
    optimizers = model.configure_optimizers(TrainConfig(lr=2e-4))
    assert optimizers["generator"].param_groups[0]["lr"] == pytest.approx(1e-3)
    assert optimizers["discriminator"].param_groups[0]["lr"] == pytest.approx(2e-4)


def test_bad_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match="model.continuous_codes"):
        build_model("infogan", {"continuous_codes": -1}, SPEC, source="p.yaml")

"""StyleGAN invariants: truncation around w_avg, AdaIN statistics, style mixing, the tracked w_avg, R1."""
from __future__ import annotations

import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, TrainConfig
from genbench.models import build_model, family_class
from genbench.models.base import ImageSpec
from genbench.models.losses import r1_penalty
from genbench.models.stylegan import adain

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"latent_dim": 16, "w_dim": 16, "mapping_layers": 2, "base_channels": 4, "max_channels": 16}


def small_model(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("stylegan", SMALL | overrides, SPEC)


def draw(model, n: int, psi: float, seed: int = 0) -> torch.Tensor:
    with torch.no_grad():
        return model.eval().sample(n, generator=torch.Generator().manual_seed(seed), sampler=SamplerConfig(psi=psi))


def test_psi_0_maps_every_w_to_w_avg_and_psi_1_leaves_w_alone() -> None:
    g = small_model().generator
    g.w_avg.normal_()
    w = torch.randn(5, 16)
    assert torch.equal(g.truncate(w, 0.0), g.w_avg.expand(5, 16))
    assert torch.equal(g.truncate(w, 1.0), w)
    assert torch.allclose(g.truncate(w, 0.5), (g.w_avg + w) / 2)


def test_psi_0_samples_differ_only_through_the_noise_inputs() -> None:
    model = small_model()
    model.generator.w_avg.normal_()
    for layer in model.generator.synthesis.layers:
        layer.noise_scale.data.normal_()
    noisy = draw(model, 4, psi=0.0)
    assert not torch.equal(noisy[0], noisy[1])
    for layer in model.generator.synthesis.layers:
        layer.noise_scale.data.zero_()
    quiet = draw(model, 4, psi=0.0)
    assert torch.equal(quiet, quiet[:1].expand_as(quiet))
    assert not torch.equal(draw(model, 4, psi=1.0)[0], draw(model, 4, psi=1.0)[1])


def test_adain_output_has_the_style_mean_and_std_per_channel() -> None:
    x = torch.randn(3, 4, 7, 7) * 5 + 2
    scale, bias = torch.rand(3, 4) + 0.5, torch.randn(3, 4)
    y = adain(x, scale, bias)
    assert torch.allclose(y.mean(dim=(2, 3)), bias, atol=1e-5)
    assert torch.allclose(y.std(dim=(2, 3), unbiased=False), scale, atol=1e-4)


def test_style_mixing_switches_w_at_the_crossover_layer() -> None:
    g = small_model().generator
    assert g.synthesis.num_ws == 6  # two per block at 7, 14 and 28
    w1, w2 = torch.randn(2, 16), torch.randn(2, 16)
    ws = g.mixed_ws(w1, w2, 4)
    assert all(torch.equal(ws[:, i], w1) for i in range(4))
    assert all(torch.equal(ws[:, i], w2) for i in range(4, 6))


@pytest.mark.parametrize("mixing_prob", [0.0, 1.0])
def test_training_ws_mix_with_probability_mixing_prob(mixing_prob: float) -> None:
    model = small_model(mixing_prob=mixing_prob)
    for _ in range(5):
        ws = model.training_ws(3, torch.device("cpu"))
        switches = [i for i in range(1, 6) if not torch.equal(ws[:, i], ws[:, i - 1])]
        assert len(switches) == (1 if mixing_prob else 0)


def test_w_avg_is_a_moving_average_of_the_training_ws() -> None:
    model = small_model(mixing_prob=0.0)
    optimizers = model.configure_optimizers(TrainConfig(steps=2, batch_size=4))
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    torch.manual_seed(1)
    w = model.generator.mapping(torch.randn(4, 16)).detach()  # the z the step below draws first
    torch.manual_seed(1)
    model.train_step(images, torch.zeros(4, dtype=torch.int64), optimizers)
    assert torch.allclose(model.generator.w_avg, 0.005 * w.mean(dim=0), atol=1e-6)


def test_lazy_r1_runs_every_r1_every_steps_weighted_by_the_interval() -> None:
    model = small_model(r1_every=2)
    optimizers = model.configure_optimizers(TrainConfig(steps=4, batch_size=4))
    r1 = [model.train_step(torch.rand(4, 1, 28, 28) * 2 - 1, torch.zeros(4, dtype=torch.int64), optimizers)["r1"]
          for _ in range(4)]
    assert r1[0] > 0 and r1[2] > 0 and r1[1] == r1[3] == 0.0


def test_r1_penalty_of_a_linear_critic_is_its_squared_weight_norm() -> None:
    weight = torch.randn(1, 3, 4, 4)
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    scores = (x * weight).flatten(1).sum(dim=1)
    assert torch.allclose(r1_penalty(scores, x), weight.pow(2).sum())


def test_samples_are_deterministic_and_full_size() -> None:
    model = small_model(tanh_output=True)
    assert draw(model, 3, psi=0.7).shape == (3, 1, 28, 28)
    assert torch.equal(draw(model, 3, psi=0.7), draw(model, 3, psi=0.7))


@pytest.mark.parametrize("family, option, other", [("stylegan", "psi", "truncation"), ("progan", "truncation", "psi")])
def test_each_karras_family_takes_its_own_sampler_option_only(family: str, option: str, other: str) -> None:
    family_class(family).check_sampler(SamplerConfig(**{option: 0.5}), source="p.yaml")
    with pytest.raises(ConfigError, match=rf"p\.yaml.*'{other}'"):
        family_class(family).check_sampler(SamplerConfig(**{other: 0.5}), source="p.yaml")


def test_bad_config_and_image_size_are_errors() -> None:
    with pytest.raises(ConfigError, match="model.mixing_prob"):
        build_model("stylegan", {"mixing_prob": 1.5}, SPEC)
    with pytest.raises(ConfigError, match="stylegan: cannot model 30x30"):
        build_model("stylegan", SMALL, ImageSpec(1, 30, 30, 10))

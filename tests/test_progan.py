"""ProGAN invariants: the growth schedule, fade-ins in G and D, the shared equalised/minibatch-std layers."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from genbench.config import ConfigError, SamplerConfig, TrainConfig
from genbench.models import build_model
from genbench.models.base import ImageSpec
from genbench.models.progan import downsample_reals, growth_stage
from genbench.models.progressive_layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"latent_dim": 16, "base_channels": 4, "max_channels": 16}


def small_model(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("progan", SMALL | overrides, SPEC)


def test_schedule_fades_alpha_from_0_to_1_and_doubles_resolution_at_stage_boundaries() -> None:
    total, top = 50, 2  # five phases of 10 steps: 7x7; fade 14; 14; fade 28; 28
    stages = [growth_stage(step, total, top) for step in range(total)]
    assert [level for level, _ in stages] == [0] * 10 + [1] * 20 + [2] * 20
    for start in (10, 30):  # the fade-ins: alpha rises linearly from exactly 0, then stays at 1
        alphas = [alpha for _, alpha in stages[start:start + 10]]
        assert alphas[0] == 0.0 and alphas == sorted(alphas) and len(set(alphas)) == 10
        assert all(alpha == 1.0 for _, alpha in stages[start + 10:start + 20])
    assert growth_stage(10**6, total, top) == (2, 1.0)  # steps past the schedule stay at full size


def test_train_step_reports_the_stage_and_counts_steps_in_a_buffer() -> None:
    model = small_model()
    optimizers = model.configure_optimizers(TrainConfig(steps=10, batch_size=4))
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    seen = [model.train_step(images, torch.zeros(4, dtype=torch.int64), optimizers) for _ in range(10)]
    assert [s["resolution"] for s in seen] == [7.0, 7.0, 14.0, 14.0, 14.0, 14.0, 28.0, 28.0, 28.0, 28.0]
    assert [s["alpha"] for s in seen] == [1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0]
    assert int(model.step) == 10


def test_state_dict_round_trip_keeps_the_stage_and_the_samples() -> None:
    model = small_model()
    optimizers = model.configure_optimizers(TrainConfig(steps=10, batch_size=4))
    for _ in range(3):  # into the 14x14 fade-in
        model.train_step(torch.rand(4, 1, 28, 28) * 2 - 1, torch.zeros(4, dtype=torch.int64), optimizers)
    restored = small_model()
    restored.load_state_dict(model.state_dict())
    assert restored.stage() == model.stage() == (1, 0.5)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    with torch.no_grad():
        assert torch.equal(model.eval().sample(3, generator=gen(), sampler=SamplerConfig()),
                           restored.eval().sample(3, generator=gen(), sampler=SamplerConfig()))


def test_early_stop_samples_are_full_size_nearest_neighbour_upsampled() -> None:
    model = small_model().eval()  # untrained: stage 0, 7x7
    with torch.no_grad():
        x = model.sample(2, generator=torch.Generator().manual_seed(0), sampler=SamplerConfig())
    assert x.shape == (2, 1, 28, 28)
    assert torch.equal(x, F.interpolate(x[:, :, ::4, ::4], scale_factor=4, mode="nearest"))


def test_fade_in_at_alpha_0_is_the_previous_stage() -> None:
    model = small_model(tanh_output=True)
    z, x = torch.randn(3, 16), torch.rand(4, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        g_new, g_old = model.generator(z, 2, 0.0), model.generator(z, 1, 1.0)
        assert torch.allclose(g_new, F.interpolate(g_old, scale_factor=2, mode="nearest"))
        d = model.discriminator
        assert torch.allclose(d(x, 2, 0.0), d(F.avg_pool2d(x, 2), 1, 1.0), atol=1e-6)


def test_reals_are_downsampled_and_faded_like_the_fakes() -> None:
    images = torch.rand(2, 1, 28, 28)
    assert downsample_reals(images, 2, 1.0).shape == (2, 1, 7, 7)
    assert torch.allclose(downsample_reals(images, 1, 1.0), F.avg_pool2d(images, 2))
    faded = downsample_reals(images, 0, 0.0)  # alpha 0: the half-resolution image, upsampled back
    assert torch.allclose(faded, F.interpolate(F.avg_pool2d(images, 2), scale_factor=2, mode="nearest"))


def test_minibatch_std_adds_one_channel_with_the_group_std() -> None:
    x = torch.randn(8, 3, 5, 5)
    out = MinibatchStdDev(group_size=4)(x)
    assert out.shape == (8, 4, 5, 5) and torch.equal(out[:, :3], x)
    # image i is in group i % 2; the stat is the mean over features of the std over the group
    expected = x[0::2].std(dim=0, unbiased=False).mean()
    assert torch.allclose(out[0, 3], expected.expand(5, 5), atol=1e-5)
    assert torch.allclose(MinibatchStdDev()(torch.ones(4, 2, 3, 3))[:, 2], torch.full((4, 3, 3), 1e-4))


def test_equalised_layers_scale_weights_by_he_constant_at_runtime() -> None:
    conv, x = EqualizedConv2d(4, 3, 3), torch.randn(2, 4, 6, 6)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight * math.sqrt(2 / (4 * 9)), conv.bias, padding=1), atol=1e-6)
    linear, v = EqualizedLinear(5, 2, lr_mul=0.01), torch.randn(3, 5)
    assert torch.allclose(linear(v), F.linear(v, linear.weight * math.sqrt(2 / 5) * 0.01, linear.bias * 0.01))


@pytest.mark.parametrize("resample", ["up", "down"])
def test_fused_resampling_convs_equal_upsample_then_conv_and_conv_then_pool(resample: str) -> None:
    torch.manual_seed(0)
    fused, plain = EqualizedConv2d(3, 5, 3, resample=resample), EqualizedConv2d(3, 5, 3)
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 14, 14)
    if resample == "up":
        expected = plain(F.interpolate(x, scale_factor=2, mode="nearest"))
    else:
        expected = F.avg_pool2d(plain(x), 2)
    assert torch.allclose(fused(x), expected, atol=1e-5)


def test_train_step_before_configure_optimizers_is_an_error() -> None:
    model = small_model()
    with pytest.raises(RuntimeError, match="configure_optimizers"):
        model.train_step(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.int64), {})


def test_bad_config_and_image_size_are_errors() -> None:
    with pytest.raises(ConfigError, match="model.drift"):
        build_model("progan", {"drift": -1.0}, SPEC)
    with pytest.raises(ConfigError, match="progan: cannot model 30x30"):
        build_model("progan", SMALL, ImageSpec(1, 30, 30, 10))

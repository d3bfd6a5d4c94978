"""Invariants of the noise schedules and the DDPM / DDIM samplers, with closed-form stand-ins for the network."""
from __future__ import annotations

import pytest
import torch

from genbench.config import ConfigError, SamplerConfig
from genbench.samplers import SAMPLERS, NoiseSchedule, make_sampler
from genbench.samplers.ddim import DDIMSampler
from genbench.samplers.ddpm import DDPMSampler


def run(sampler, model, x: torch.Tensor, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    for t in sampler.timesteps:
        x = sampler.step(model(x, t), t, x, generator=generator)
    return x


def shrink(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A stand-in eps-model: any fixed function of (x, t) will do for determinism tests."""
    return 0.1 * x + 1e-4 * int(t)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedules_go_from_data_to_noise(kind: str) -> None:
    schedule = NoiseSchedule(kind=kind, timesteps=1000)
    abar = schedule.alphas_cumprod
    assert abar.shape == (1000,) and abar.dtype == torch.float32
    assert bool((abar[1:] < abar[:-1]).all()) and abar[0] > 0.99 and abar[-1] < 1e-4
    assert torch.allclose(schedule.alphas, 1 - schedule.betas)


def test_linear_schedule_is_ho_et_al() -> None:
    betas = NoiseSchedule(kind="linear", timesteps=1000).betas
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)


def test_unknown_schedule_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="cosine, linear"):
        NoiseSchedule(kind="quadratic")


def test_add_noise_has_the_forward_process_moments() -> None:
    schedule = NoiseSchedule(timesteps=1000)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.full((200_000,), 0.7)
    noise = torch.randn(x0.shape, generator=generator)
    t = torch.full(x0.shape, 300)
    xt = schedule.add_noise(x0, noise, t)
    abar = schedule.alphas_cumprod[300].item()
    assert xt.mean().item() == pytest.approx(abar**0.5 * 0.7, abs=0.01)
    assert xt.var().item() == pytest.approx(1 - abar, rel=0.02)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_velocity_is_a_rotation_of_data_and_noise(kind: str) -> None:
    schedule = NoiseSchedule(kind=kind, timesteps=1000)
    generator = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(6, 1, 4, 4, generator=generator), torch.randn(6, 1, 4, 4, generator=generator)
    t = torch.tensor([0, 1, 250, 500, 998, 999])
    x_t, v = schedule.add_noise(x0, noise, t), schedule.velocity(x0, noise, t)
    torch.testing.assert_close(schedule.noise_from_velocity(x_t, v, t), noise, atol=1e-5, rtol=1e-5)
    # a rotation keeps the norm: |x_t|^2 + |v|^2 = |x0|^2 + |eps|^2 per element
    torch.testing.assert_close(x_t**2 + v**2, x0**2 + noise**2, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("k", [1, 3, 10, 999, 1000])
def test_set_timesteps_gives_k_descending_training_timesteps(k: int) -> None:
    sampler = DDPMSampler(NoiseSchedule(timesteps=1000))
    sampler.set_timesteps(k)
    ts = sampler.timesteps
    assert ts.dtype == torch.long and ts.shape == (k,)
    assert ts[0] == 999 and ts.min() >= 0 and bool((ts[1:] < ts[:-1]).all())


@pytest.mark.parametrize("k", [0, 51])
def test_set_timesteps_rejects_impossible_counts(k: int) -> None:
    with pytest.raises(ValueError):
        DDIMSampler(NoiseSchedule(timesteps=50)).set_timesteps(k)


@pytest.mark.parametrize("cfg", [SamplerConfig(algo="ddpm", steps=20), SamplerConfig(algo="ddim", steps=20, eta=1.0)])
def test_samplers_are_deterministic_given_the_seed(cfg: SamplerConfig) -> None:
    sampler = make_sampler(cfg, NoiseSchedule(timesteps=100))
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(run(sampler, shrink, x, seed=1), run(sampler, shrink, x, seed=1))
    assert not torch.equal(run(sampler, shrink, x, seed=1), run(sampler, shrink, x, seed=2))


def test_ddim_eta0_ignores_the_generator() -> None:
    sampler = make_sampler(SamplerConfig(algo="ddim", steps=10, eta=0.0), NoiseSchedule(timesteps=100))
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(run(sampler, shrink, x, seed=1), run(sampler, shrink, x, seed=2))


def test_make_sampler_steps_zero_means_all_timesteps() -> None:
    assert len(make_sampler(SamplerConfig(algo="ddpm"), NoiseSchedule(timesteps=40)).timesteps) == 40
    with pytest.raises(ConfigError, match="unknown sampler 'plms'.*ddim, ddpm"):
        make_sampler(SamplerConfig(algo="plms"), NoiseSchedule(timesteps=40))
    assert SAMPLERS.names() == ["ddim", "ddpm"]


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_ddim_with_the_true_noise_recovers_x0(kind: str) -> None:
    """With eps_theta = the eps that made x_T from x_0, every eta = 0 step stays on that trajectory (eq. 12).

    In float64: at t = T - 1 the signal is scaled by sqrt(alpha-bar) ~ 1e-5 (cosine), below float32 resolution.
    """
    schedule = NoiseSchedule(kind=kind, timesteps=1000)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 8, 8, generator=generator, dtype=torch.float64) * 2 - 1
    eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    sampler = DDIMSampler(schedule, eta=0.0, clip_x0=False)
    sampler.set_timesteps(5)
    x_t = schedule.add_noise(x0, eps, sampler.timesteps[0])
    assert torch.allclose(run(sampler, lambda x, t: eps, x_t, seed=0), x0, atol=1e-6)


def test_ddpm_with_the_true_x0_lands_on_it() -> None:
    """An oracle that knows x_0 (eps implied by x_t and x_0) makes the final, noiseless step return x_0 exactly."""
    schedule = NoiseSchedule(timesteps=100)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 8, 8, generator=generator) * 2 - 1
    abar = schedule.alphas_cumprod

    def oracle(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (x - abar[t].sqrt() * x0) / (1 - abar[t]).sqrt()

    sampler = make_sampler(SamplerConfig(algo="ddpm", steps=10), schedule)
    x_t = torch.randn(x0.shape, generator=generator)
    assert torch.allclose(run(sampler, oracle, x_t, seed=0), x0, atol=1e-4)


def test_ddim_eta1_matches_ddpm_variance() -> None:
    """Song et al. sec. 4.1: eta = 1 gives DDPM's ancestral step with the beta-tilde variance."""
    schedule = NoiseSchedule(timesteps=100)
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    ddpm, ddim = DDPMSampler(schedule), DDIMSampler(schedule, eta=1.0)
    for sampler in (ddpm, ddim):
        sampler.set_timesteps(10)
    t = ddpm.timesteps[3]
    out = [s.step(shrink(x, t), t, x, generator=torch.Generator().manual_seed(5)) for s in (ddpm, ddim)]
    assert torch.allclose(out[0], out[1], atol=1e-5)


def test_set_timesteps_from_a_later_start_spans_first_down_to_zero() -> None:
    sampler = DDIMSampler(NoiseSchedule(timesteps=1000))
    sampler.set_timesteps(5, first=499)
    assert sampler.timesteps.tolist() == [499, 399, 299, 199, 99]
    assert sampler.alpha_bar_prev[-1] == 1.0  # the last step still lands on x_0
    with pytest.raises(ValueError, match="num_steps must be in \\[1, 10\\]"):
        sampler.set_timesteps(11, first=9)
    with pytest.raises(ValueError, match="first must be in"):
        sampler.set_timesteps(5, first=1000)

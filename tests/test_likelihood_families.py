"""Likelihood models and bounds: PixelCNN's masks and sampler, the flow's inverse and log-determinant, the VAE's
ELBO / IWAE bounds, the DDPM's L_vlb, and the bits/dim unit they all share."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genbench.config import LikelihoodConfig, SamplerConfig
from genbench.errors import ConfigError
from genbench.metrics.bits_per_dim import bits_per_dim, dequantised_nll, mean_and_standard_error
from genbench.models import ImageSpec, build_model
from genbench.models.diffusion_bound import bound_timesteps, vlb_terms
from genbench.models.likelihood import discretised_gaussian_log_prob, discretised_logistic_log_prob

TINY_PIXELCNN = {"channels": 8, "layers": 3, "first_kernel": 5, "head_channels": 16}
TINY_FLOW = {"levels": 2, "steps_per_level": 2, "hidden_channels": 8}


def _levels(n: int, shape=(1, 8, 8), seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _perturbed(model: torch.nn.Module, scale: float = 0.05) -> torch.nn.Module:
    """Zero-initialised layers would hide dependencies: move every parameter off its initial value."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))
    return model


def test_pixelcnn_output_at_each_pixel_depends_only_on_earlier_pixels():
    torch.manual_seed(0)
    model = _perturbed(build_model("pixelcnn", TINY_PIXELCNN, ImageSpec(1, 8, 8, 10)))
    x = torch.randn(1, 1, 8, 8, requires_grad=True)
    logits = model(x)
    for i in range(64):
        r, c = divmod(i, 8)
        grad, = torch.autograd.grad(logits[0, :, r, c].sum(), x, retain_graph=True)
        flat = grad.flatten()
        assert torch.all(flat[i:] == 0), f"pixel {i} sees pixel(s) at or after itself"
        # no blind spot: the left neighbour and the pixels above (the receptive field grows with depth)
        if c > 0:
            assert flat[i - 1] != 0, f"pixel {i} does not see its left neighbour"
        if r > 0:
            assert flat[i - 8] != 0 and flat[i - 8 + min(1, 7 - c)] != 0, f"pixel {i} misses a pixel above"


def test_pixelcnn_sampler_uses_the_full_networks_distribution():
    """The row-cached, column-cropped passes of the sampler give exactly the full forward's logits."""
    torch.manual_seed(0)
    model = _perturbed(build_model("pixelcnn", TINY_PIXELCNN, ImageSpec(1, 12, 12, 10))).eval()
    x = torch.rand(2, 1, 12, 12) * 2 - 1
    with torch.no_grad():
        full = model(x)
        for r, c, logits in model.raster_logits(x):
            torch.testing.assert_close(logits, full[:, :, r, c], rtol=0, atol=1e-5)


def test_pixelcnn_samples_are_levels_and_reproducible():
    torch.manual_seed(0)
    model = build_model("pixelcnn", TINY_PIXELCNN, ImageSpec(1, 6, 6, 10)).eval()
    sampler = SamplerConfig(algo="ancestral")
    with torch.no_grad():
        a, b = (model.sample(3, generator=torch.Generator().manual_seed(5), sampler=sampler) for _ in range(2))
    assert torch.equal(a, b)
    levels = (a + 1) * 127.5
    torch.testing.assert_close(levels, levels.round(), rtol=0, atol=1e-4)


def test_pixelcnn_rejects_colour_images_naming_the_fix():
    with pytest.raises(ConfigError, match="one-channel"):
        build_model("pixelcnn", TINY_PIXELCNN, ImageSpec(3, 8, 8, 10))


def test_a_uniform_model_scores_exactly_8_bits_per_dim():
    torch.manual_seed(0)
    model = build_model("pixelcnn", TINY_PIXELCNN, ImageSpec(1, 8, 8, 10)).eval()
    last = model.head[-1]
    with torch.no_grad():  # equal logits everywhere: 1/256 for every level of every pixel
        last.weight.zero_()
        last.bias.zero_()
        nll = model.negative_log_likelihood(_levels(4), generator=torch.Generator(), settings=LikelihoodConfig())
    np.testing.assert_allclose(bits_per_dim(nll["nll"].numpy(), 64), 8.0, rtol=1e-6)
    # a density of 1 on the unit cube (uniform dequantised pixels) is the same 8 bits/dim
    np.testing.assert_allclose(bits_per_dim(dequantised_nll(np.zeros(3), 784), 784), 8.0)


def _flow(dtype=torch.float32):
    torch.manual_seed(0)
    flow = build_model("flow", TINY_FLOW, ImageSpec(1, 4, 4, 10)).to(dtype)
    flow.train()
    flow.log_density(torch.rand(8, 1, 4, 4, dtype=dtype) - 0.5)  # actnorm's data-dependent initialisation
    return _perturbed(flow).eval()


def test_flow_is_invertible():
    flow = _flow()
    y = torch.rand(5, 1, 4, 4) - 0.5
    with torch.no_grad():
        latents, _, _ = flow.encode(y)
        back = flow.decode(latents[-1], lambda level, mean, log_std: latents[level])
    torch.testing.assert_close(back, y, rtol=0, atol=1e-5)


def test_flow_inverse_stays_finite_on_extreme_latents():
    flow = _flow()
    with torch.no_grad():
        for step in flow.levels[0]:  # a coupling that contracts hard: the inverse divides by ~0
            step.layers[2].net[-1].bias.fill_(-200.0)
            step.layers[2].rescale.fill_(60.0)  # exp(-60) per coupling: far past float32's range over the steps
        images = flow.sample(4, generator=torch.Generator().manual_seed(0),
                             sampler=SamplerConfig(algo="inverse", temperature=3.0))
    assert torch.isfinite(images).all() and images.min() >= -1 and images.max() <= 1


def test_flow_log_determinant_matches_the_autograd_jacobian():
    flow = _flow(torch.float64)
    y = torch.rand(2, 1, 4, 4, dtype=torch.float64) - 0.5
    _, logdet, _ = flow.encode(y)
    for i in range(2):
        def latents_of(flat: torch.Tensor) -> torch.Tensor:
            return torch.cat([z.flatten() for z in flow.encode(flat.reshape(1, 1, 4, 4))[0]])
        jacobian = torch.autograd.functional.jacobian(latents_of, y[i].flatten())
        torch.testing.assert_close(torch.linalg.slogdet(jacobian)[1], logdet[i], rtol=1e-9, atol=1e-9)


def test_flow_temperature_scales_the_latents_and_must_be_positive():
    flow = _flow()
    with torch.no_grad():
        cold = flow.generate_from_noise(64, generator=torch.Generator().manual_seed(0), temperature=0.0 + 1e-3)
        warm = flow.generate_from_noise(64, generator=torch.Generator().manual_seed(0), temperature=1.0)
    assert cold.std(dim=0).mean() < warm.std(dim=0).mean()
    with pytest.raises(ConfigError, match="temperature"):
        type(flow).check_sampler(SamplerConfig(algo="inverse", temperature=0.0), source="test")


def _vae():
    torch.manual_seed(0)
    return build_model("vae", {"latent_dim": 4, "base_channels": 8, "likelihood": "logistic"},
                       ImageSpec(1, 8, 8, 10)).eval()


def test_vae_iwae_bound_is_at_least_the_elbo_and_rises_with_k():
    vae, images = _perturbed(_vae(), 0.1), _levels(32)  # a posterior far enough from p(z|x) to tighten
    means = []
    for k in (1, 10, 100):
        with torch.no_grad():
            nll = vae.negative_log_likelihood(images, generator=torch.Generator().manual_seed(0),
                                              settings=LikelihoodConfig(iwae_k=k))
        assert torch.all(nll["iwae"] <= nll["elbo"] + 1e-4), "-IWAE must never exceed -ELBO on the same draws"
        if k == 1:
            torch.testing.assert_close(nll["iwae"], nll["elbo"])
        means.append(nll["iwae"].mean().item())
    assert means[0] > means[1] > means[2], f"-IWAE should fall (the bound tighten) with k: {means}"


def test_bernoulli_vae_has_no_8_bit_likelihood():
    cfg = build_model("vae", {"likelihood": "bernoulli"}, ImageSpec(1, 8, 8, 10)).cfg
    with pytest.raises(ConfigError, match="likelihood: logistic"):
        type(_vae()).check_likelihood(cfg, source="test")


def test_discretised_distributions_sum_to_one_over_the_256_levels():
    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    for log_prob in (discretised_logistic_log_prob, discretised_gaussian_log_prob):
        for mean, log_scale in ((0.3, -3.0), (-0.99, -6.0), (1.2, 0.0)):
            p = log_prob(levels, torch.full_like(levels, mean), torch.full_like(levels, log_scale)).exp().sum()
            assert abs(p.item() - 1.0) < 1e-3, (log_prob.__name__, mean, log_scale, p.item())


def _tiny_ddpm():
    torch.manual_seed(0)
    return build_model("ddpm", {"base_channels": 8, "channel_mults": [1, 2], "timesteps": 50},
                       ImageSpec(1, 8, 8, 10)).eval()


def test_ddpm_bound_is_finite_and_the_sum_of_its_terms():
    ddpm, images = _tiny_ddpm(), _levels(4)
    with torch.no_grad():
        nll = ddpm.negative_log_likelihood(images, generator=torch.Generator().manual_seed(0),
                                           settings=LikelihoodConfig())
    assert torch.isfinite(nll["vlb"]).all()
    torch.testing.assert_close(nll["vlb"], nll["vlb_decoder"] + nll["vlb_denoising"] + nll["vlb_prior"])
    assert (nll["vlb_prior"] >= 0).all() and (nll["vlb_denoising"] >= 0).all()


def test_ddpm_bound_terms_vanish_for_a_perfect_denoiser():
    """With the true noise as the estimate, every L_{t-1} (t >= 2) is a KL between equal Gaussians: 0; the
    decoder is centred on the true level and the prior term is the closed-form KL."""
    ddpm = _tiny_ddpm()
    x0 = torch.from_numpy(np.linspace(-1, 1, 64, dtype=np.float32)).reshape(1, 1, 8, 8)
    x0 = torch.round((x0 + 1) * 127.5) / 127.5 - 1
    abar = ddpm.schedule.alphas_cumprod.double()
    generator = torch.Generator().manual_seed(0)

    def oracle(x_t: torch.Tensor, t: int) -> torch.Tensor:
        return (x_t - abar[t].sqrt().float() * x0) / (1 - abar[t]).sqrt().float()

    terms = vlb_terms(oracle, x0, abar, generator=generator)
    assert terms.shape == (1, 51)
    torch.testing.assert_close(terms[0, 1:-1], torch.zeros(49), rtol=0, atol=1e-3)
    # the decoder's mean is the true x_0 and its variance beta~_2, so L_0 is the mass of that Gaussian on each bin
    a1, a2 = abar[0].item(), abar[1].item()
    log_scale = torch.full_like(x0, 0.5 * math.log((1 - a1) / (1 - a2) * (1 - a2 / a1)))
    expected_decoder = -discretised_gaussian_log_prob(x0, x0, log_scale).sum()
    torch.testing.assert_close(terms[0, 0], expected_decoder, rtol=1e-4, atol=1e-4)
    a_T = abar[-1].item()
    prior = 64 * 0.5 * (a_T * 0 - math.log(1 - a_T) - a_T)  # per-pixel KL summed, with E[x0^2] in the next line
    prior += 0.5 * a_T * (x0.double() ** 2).sum().item()
    assert abs(terms[0, -1].item() - prior) < 1e-4


def test_respaced_bound_walks_from_the_first_to_the_last_timestep():
    assert bound_timesteps(1000) == list(range(1000))
    steps = bound_timesteps(1000, 10)
    assert steps[0] == 0 and steps[-1] == 999 and len(steps) == 10
    with pytest.raises(ConfigError, match="vlb_steps"):
        LikelihoodConfig(vlb_steps=1)


def test_bits_per_dim_units():
    np.testing.assert_allclose(bits_per_dim(np.array([784 * math.log(2)]), 784), [1.0])
    mean, sem = mean_and_standard_error(np.array([1.0, 3.0]))
    assert mean == 2.0 and sem == pytest.approx(1.0)
    with pytest.raises(ValueError):
        bits_per_dim(np.ones(2), 0)

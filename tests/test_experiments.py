"""GAN experiments: latent walks, classifier-gradient steering, the linear probe, the augmentation mixture."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, load_profile, validate_all
from genbench.experiments import validate_experiments
from genbench.experiments import augmentation, probe, steering, walks
from genbench.features.domain import DomainClassifier
from genbench.models import build_model
from genbench.models.base import ImageSpec

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)


@pytest.fixture(scope="module")
def dcgan():
    torch.manual_seed(0)
    return build_model("dcgan", {"base_channels": 8, "latent_dim": 16}, SPEC).eval()


def test_slerp_hits_both_ends_and_keeps_the_norm_of_orthogonal_latents() -> None:
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    path = walks.slerp(a, b, torch.linspace(0, 1, 5))[0]
    torch.testing.assert_close(path[0], a[0])
    torch.testing.assert_close(path[-1], b[0])
    torch.testing.assert_close(path.norm(dim=1), torch.full((5,), 3.0))  # a straight line would dip to 2.12


def test_slerp_of_parallel_latents_is_the_straight_line() -> None:
    a = torch.tensor([[1.0, 1.0]])
    torch.testing.assert_close(walks.slerp(a, 2 * a, torch.tensor([0.5]))[0, 0], torch.tensor([1.5, 1.5]))


def test_interpolation_grid_is_seeded_and_rows_change_smoothly(dcgan) -> None:
    grid = walks.interpolation_grid(dcgan, rows=3, steps=6, seed=1)
    assert grid.shape == (18, 1, 28, 28) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid, walks.interpolation_grid(dcgan, rows=3, steps=6, seed=1))
    frames = grid.reshape(3, 6, -1).astype(float)
    neighbours = np.abs(np.diff(frames, axis=1)).mean()
    ends = np.abs(frames[:, -1] - frames[:, 0]).mean()
    assert neighbours < ends  # each step moves less than the whole walk


@pytest.mark.parametrize("family,model_cfg", [("progan", {"latent_dim": 8, "base_channels": 4, "max_channels": 4}),
                                              ("vae", {"latent_dim": 4, "base_channels": 4}),
                                              ("vae", {"latent_dim": 4, "base_channels": 4, "likelihood": "logistic"})])
def test_progan_and_vae_walk_the_latents_they_sample(family: str, model_cfg: dict) -> None:
    """ProGAN's z and the VAE's z ~ N(0, I): ``sample`` is ``generate`` of ``draw_latents``, so a walk moves
    between latents of the samples' own prior."""
    torch.manual_seed(0)
    model = build_model(family, model_cfg, SPEC).eval()
    assert type(model).has_latents()
    with torch.no_grad():
        sampled = model.sample(3, generator=torch.Generator().manual_seed(2), sampler=SamplerConfig())
        generated = model.generate(model.draw_latents(3, generator=torch.Generator().manual_seed(2)))
    torch.testing.assert_close(generated, sampled, rtol=0, atol=0)
    grid = walks.interpolation_grid(model, rows=2, steps=3, seed=0)
    assert grid.shape == (6, 1, 28, 28) and grid.dtype == np.uint8


def test_label_grid_shares_the_latent_down_each_column() -> None:
    torch.manual_seed(0)
    cgan = build_model("cgan", {"base_channels": 8}, SPEC).eval()
    grid = walks.label_grid(cgan, columns=4, seed=0)
    assert grid.shape == (10 * 4, 1, 28, 28)
    assert not np.array_equal(grid[0], grid[4])  # same latent, class 0 vs class 1


def test_steering_with_no_steps_changes_nothing_and_steps_raise_the_target(dcgan) -> None:
    torch.manual_seed(0)
    classifier = DomainClassifier(in_channels=1, num_classes=10, width=8).eval()
    z = torch.randn(8, *dcgan.latent_shape, generator=torch.Generator().manual_seed(0))
    still = steering.steer(dcgan, classifier, z, target=3, steps=0, step_size=0.1)
    np.testing.assert_array_equal(still.before, still.after)
    results = steering.steering_matrix(dcgan, classifier, n=16, steps=3, step_size=0.1, seed=0)
    assert [r.target for r in results] == list(range(10))
    assert all(abs(r.after.sum() - 1) < 1e-5 for r in results)
    gains = [r.after[r.target] - r.before[r.target] for r in results]
    assert np.mean(gains) > 0 and sum(g > 0 for g in gains) >= 7


def test_steering_refuses_a_conditional_generator() -> None:
    cgan = build_model("cgan", {"base_channels": 8}, SPEC)
    with pytest.raises(ValueError, match="conditional"):
        steering.steering_matrix(cgan, DomainClassifier(in_channels=1, num_classes=10, width=8), n=4, steps=1,
                                 step_size=0.1, seed=0)


def test_linear_probe_separates_separable_data_and_not_random_labels() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 20)) * 4
    labels = rng.integers(0, 3, 600)
    x = (centres[labels] + rng.normal(size=(600, 20))).astype(np.float32)
    assert probe.linear_probe_accuracy(x[:400], labels[:400], x[400:], labels[400:]) > 0.97
    noise = rng.integers(0, 3, 600)
    assert probe.linear_probe_accuracy(x[:400], noise[:400], x[400:], noise[400:]) < 0.5


def test_discriminator_features_are_batch_independent(dcgan) -> None:
    images = np.random.default_rng(0).integers(0, 256, (10, 1, 28, 28), dtype=np.uint8)
    whole = probe.discriminator_features(dcgan, images, batch_size=10)
    split = probe.discriminator_features(dcgan, images, batch_size=3)
    assert whole.shape[0] == 10 and whole.ndim == 2
    np.testing.assert_allclose(whole, split, rtol=1e-5, atol=1e-6)


def _pools(n_real: int, n_fake: int):
    real = (np.zeros((n_real, 1, 4, 4), np.uint8), np.arange(n_real) % 10)
    fake = (np.full((n_fake, 1, 4, 4), 255, np.uint8), np.arange(n_fake) % 10)
    return real, fake


@pytest.mark.parametrize("p_real", [0.0, 0.25, 1.0])
def test_mixture_draws_each_image_real_with_probability_p_real(p_real: float) -> None:
    real, fake = _pools(1000, 1000)
    images, labels, n_real = augmentation.mixed_training_set(real, fake, p_real=p_real, n=800, seed=0)
    is_real = images[:, 0, 0, 0] == 0
    assert n_real == is_real.sum() and abs(is_real.mean() - p_real) < 0.05
    assert images.shape == (800, 1, 4, 4) and labels.shape == (800,)


def test_mixture_names_the_pool_that_is_too_small() -> None:
    real, fake = _pools(10, 1000)
    with pytest.raises(ValueError, match="needs .* real images, the pool has 10"):
        augmentation.mixed_training_set(real, fake, p_real=1.0, n=100, seed=0)


@pytest.mark.parametrize("experiments,match", [
    ({"steering": {"presets": ["sngan9"]}}, "experiments.steering.presets' names preset 'sngan9'"),
    ({"steering": {"presets": ["ddpm"]}}, "not an unconditional generator"),
    ({"probe": {"presets": ["vae"]}}, "'vae' \\(vae\\) is not a family with a discriminator"),
    ({"augmentation": {"presets": ["dcgan"]}}, "is not class-conditional"),
    ({"augmentation": {"p_real": [1.5]}}, "augmentation.p_real\\[0\\]' must be <= 1"),
    ({"sdedit": {"strengths": [0.5, 0.0]}}, "^p.yaml: key 'experiments.sdedit.strengths\\[1\\]' must be > 0"),
    ({"sdedit": {"presets": ["ddpm"], "stregths": [0.5]}}, "experiments.sdedit.stregths"),
    ({"sdedit2": {}}, "^p.yaml: key 'experiments': unknown experiment 'sdedit2' \\(known: augmentation, "),
    ({"walks": True}, "experiments.walks"),
])
def test_experiment_settings_are_checked_up_front(experiments: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        profile = load_profile({"profile": "t", "presets": ["dcgan", "vae", "ddpm"], "experiments": experiments},
                               source="p.yaml")
        validate_experiments(profile, validate_all(profile, profile_source="p.yaml"), profile_source="p.yaml")

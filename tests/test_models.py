"""Registry-wide contract of the model families: build, two train steps, sample(4) on the CPU.

Image-to-image families translate inputs instead of sampling; their contract is in test_translators.py."""
from __future__ import annotations

import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, TrainConfig
from genbench.models import FAMILIES, build_model, family_class
from genbench.models.base import ImageSpec

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
# Small enough for a smoke test; every other key keeps the family's default.
FAST_MODEL = {"ddpm": {"timesteps": 50}, "ddpm_cond": {"timesteps": 50}, "ldm": {"timesteps": 50, "autoencoder_steps": 1},
              "t2i": {"timesteps": 50, "base_channels": 8, "sr_base_channels": 8},
              "progan": {"latent_dim": 32, "base_channels": 8, "max_channels": 32},
              "stylegan": {"latent_dim": 32, "w_dim": 32, "mapping_layers": 2, "base_channels": 8, "max_channels": 32},
              "pixelcnn": {"channels": 8, "layers": 2, "head_channels": 16},
              "flow": {"steps_per_level": 2, "hidden_channels": 16}}
FAST_SAMPLER = {"ddpm": SamplerConfig(algo="ddim", steps=5), "ddpm_cond": SamplerConfig(algo="ddim", steps=5, guidance=3.0),
                "ldm": SamplerConfig(algo="ddim", steps=5), "t2i": SamplerConfig(algo="ddim", steps=3, guidance=3.0),
                "pixelcnn": SamplerConfig(algo="ancestral"), "flow": SamplerConfig(algo="inverse", temperature=0.7)}


GENERATIVE = [name for name in FAMILIES.names() if family_class(name).kind != "translation"]


def draw(model, seed: int) -> torch.Tensor:
    sampler = FAST_SAMPLER.get(model.family, SamplerConfig())
    with torch.no_grad():
        return model.sample(4, generator=torch.Generator().manual_seed(seed), sampler=sampler)


@pytest.mark.parametrize("family", GENERATIVE)
def test_family_trains_and_samples(family: str) -> None:
    torch.manual_seed(0)
    model = build_model(family, FAST_MODEL.get(family, {}), SPEC)
    optimizers = model.configure_optimizers(TrainConfig())
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    labels = torch.randint(0, 10, (8,))
    model.train()
    for _ in range(2):
        losses = model.train_step(images, labels, optimizers)
        assert losses and all(isinstance(v, float) and torch.isfinite(torch.tensor(v)) for v in losses.values())

    model.eval()
    first, second = draw(model, 0), draw(model, 0)
    assert first.shape == (4, 1, 28, 28)
    assert first.min() >= -1 and first.max() <= 1
    assert torch.equal(first, second)
    assert not torch.equal(first, draw(model, 1))
    assert isinstance(model.sampling_module(), torch.nn.Module)
    type(model).check_sampler(model.preview_sampler(), source=f"{family}.preview_sampler", cfg=model.cfg)


@pytest.mark.parametrize("family", FAMILIES.names())
def test_default_sampler_is_accepted_and_bad_algo_rejected(family: str) -> None:
    cls = family_class(family)
    default = SamplerConfig(algo="forward") if cls.kind == "translation" else SamplerConfig()
    cls.check_sampler(FAST_SAMPLER.get(family, default), source="p.yaml")
    with pytest.raises(ConfigError, match=r"p\.yaml.*'nope'.*valid: "):
        cls.check_sampler(SamplerConfig(algo="nope"), source="p.yaml")


def test_unknown_family_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"x\.yaml: unknown model family 'gan9'.*dcgan, ddpm, .*vae"):
        family_class("gan9", source="x.yaml")


def test_unknown_model_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="model.latent_dimm"):
        build_model("dcgan", {"latent_dimm": 3}, SPEC, source="p.yaml")


@pytest.mark.parametrize("sampler", [SamplerConfig(algo="ddpm", steps=-1), SamplerConfig(algo="ddim", steps=1001),
                                     SamplerConfig(algo="ddim", eta=1.5), SamplerConfig(algo="direct")])
def test_ddpm_rejects_bad_sampler_settings(sampler: SamplerConfig) -> None:
    with pytest.raises(ConfigError, match=r"p\.yaml"):
        family_class("ddpm").check_sampler(sampler, source="p.yaml")


def test_ddpm_checks_steps_against_its_own_timesteps() -> None:
    model = build_model("ddpm", {"timesteps": 50}, SPEC)
    with pytest.raises(ConfigError, match=r"\[0, 50\]"):
        model.sample(1, generator=torch.Generator().manual_seed(0), sampler=SamplerConfig(algo="ddim", steps=51))


def test_ddpm_rejects_unknown_schedule() -> None:
    with pytest.raises(ConfigError, match="model.schedule.*cosine, linear"):
        build_model("ddpm", {"schedule": "quadratic"}, SPEC)


def test_ddpm_rejects_unknown_prediction() -> None:
    with pytest.raises(ConfigError, match="model.prediction.*eps, v"):
        build_model("ddpm", {"prediction": "x0"}, SPEC)


def test_v_prediction_trains_on_v_and_hands_the_samplers_eps() -> None:
    torch.manual_seed(0)
    model = build_model("ddpm", {"timesteps": 50, "prediction": "v", "base_channels": 8}, SPEC)
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    optimizers = model.configure_optimizers(TrainConfig(steps=1, batch_size=4))
    assert torch.isfinite(torch.tensor(model.train_step(images, torch.zeros(4, dtype=torch.long), optimizers)["loss"]))
    # predict_noise inverts the v parameterisation: a UNet returning the true v yields the true eps
    noise, t = torch.randn_like(images), 30
    x_t = model.schedule.add_noise(images, noise, torch.full((4,), t))
    model.unet.forward = lambda x, step, labels=None: model.schedule.velocity(images, noise, torch.full((4,), step))
    torch.testing.assert_close(model.predict_noise(x_t, t), noise, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", ["dcgan", "vae"])
def test_one_shot_families_handle_32x32_and_reject_odd_sizes(family: str) -> None:
    model = build_model(family, {}, ImageSpec(3, 32, 32, 10)).eval()
    with torch.no_grad():
        assert model.sample(2, generator=torch.Generator().manual_seed(0), sampler=SamplerConfig()).shape == (2, 3, 32, 32)
    with pytest.raises(ConfigError, match="30x30"):
        build_model(family, {}, ImageSpec(1, 30, 30, 10))


@pytest.mark.parametrize("family", ["dcgan", "cgan", "wgan", "wgan_gp", "sngan", "infogan"])
def test_an_impossible_image_size_error_names_the_family_that_asked(family: str) -> None:
    with pytest.raises(ConfigError, match=f"^{family}: cannot model 30x30"):
        build_model(family, {}, ImageSpec(1, 30, 30, 10))


def test_sampler_options_a_family_does_not_have_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"p\.yaml.*'vae' has no sampler option 'truncation'.*remove the key"):
        family_class("vae").check_sampler(SamplerConfig(truncation=1.0), source="p.yaml")
    with pytest.raises(ConfigError, match=r"p\.yaml.*'dcgan' has no sampler option 'psi'.*its options: truncation"):
        family_class("dcgan").check_sampler(SamplerConfig(psi=0.5), source="p.yaml")
    with pytest.raises(ConfigError, match=r"p\.yaml: key 'truncation' must be >= 0"):
        family_class("dcgan").check_sampler(SamplerConfig(truncation=-1.0), source="p.yaml")


def test_truncated_latents_stay_inside_the_threshold_and_follow_the_seed() -> None:
    from genbench.models.layers import latent_normal

    def draw_z(seed: int, truncation: float) -> torch.Tensor:
        return latent_normal(500, 16, truncation=truncation, generator=torch.Generator().manual_seed(seed),
                             device=torch.device("cpu"))

    z = draw_z(0, 0.5)
    assert z.abs().max() <= 0.5 and torch.equal(z, draw_z(0, 0.5))
    assert draw_z(0, 0.0).abs().max() > 2.0  # 8000 plain normals: some beyond 2 sigma


def test_dcgan_truncation_narrows_the_samples() -> None:
    torch.manual_seed(0)
    model = build_model("dcgan", {"base_channels": 8}, SPEC).eval()
    with torch.no_grad():
        wide, narrow = (model.sample(64, generator=torch.Generator().manual_seed(0),
                                     sampler=SamplerConfig(truncation=t)) for t in (0.0, 0.25))
    assert narrow.std(dim=0).mean() < wide.std(dim=0).mean()


def test_genbench_list_names_every_family_with_its_kind(capsys) -> None:
    from genbench.cli import main

    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in FAMILIES.names():
        kind = family_class(name).kind
        assert kind in ("gan", "vae", "autoregressive", "flow", "diffusion", "translation"), f"{name}: kind {kind!r}"
        assert any(line.split()[:2] == [name, kind] for line in lines), name

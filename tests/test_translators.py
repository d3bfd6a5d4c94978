"""Contract of the image-to-image families (pix2pix, CycleGAN, SRGAN/SRResNet): build from the preset, train on
random arrays shaped like the prepared datasets', translate deterministically, round-trip the state dict."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, load_preset
from genbench.features.vgg import VGG16Features
from genbench.models import build_model, family_class
from genbench.models.base import ImageSpec
from genbench.models.cyclegan import ImagePool, unpaired_rows
from genbench.models.translation import TASKS, Translator
from genbench.models.translation_layers import match_channels
from genbench.train.loop import fit

MNIST_M = ImageSpec(channels=3, height=28, width=28, num_classes=10)
PATCHES = ImageSpec(channels=3, height=64, width=64, num_classes=12)
SPECS = {"pix2pix": MNIST_M, "cyclegan": MNIST_M, "srgan": PATCHES, "srresnet": PATCHES}
# Small enough for seconds on a CPU; every other key is the preset's.
SMALL = {"pix2pix": {"base_channels": 8, "max_channels": 32, "d_base_channels": 8},
         "cyclegan": {"base_channels": 8, "res_blocks": 2, "d_base_channels": 8},
         "srgan": {"channels": 8, "res_blocks": 2, "d_base_channels": 8, "d_dense": 16, "content_layer": "relu2_2"},
         "srresnet": {"channels": 8, "res_blocks": 2}}


def fake_arrays(preset: str, n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Random uint8 arrays with the shapes and ranges of the prepared splits the preset trains on."""
    rng = np.random.default_rng(seed)

    def pixels(*shape: int) -> np.ndarray:
        return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)

    if preset == "pix2pix":
        return {"label_maps": rng.integers(0, 11, size=(n, 28, 28), dtype=np.uint8), "images": pixels(3, 28, 28)}
    if preset == "cyclegan":
        return {"digits": pixels(1, 28, 28), "images": pixels(3, 28, 28)}
    return {"lr": pixels(3, 16, 16), "images": pixels(3, 64, 64)}


def small_model(preset: str, seed: int = 0) -> Translator:
    torch.manual_seed(seed)
    spec = load_preset(preset, {"model": SMALL[preset]})
    model = build_model(spec.family, dict(spec.model), SPECS[preset])
    if preset == "srgan":
        model.use_content_network(VGG16Features())  # untrained: the contract, not the weights, is under test
    return model


def translations(model: Translator, preset: str, direction: str) -> torch.Tensor:
    arrays = fake_arrays(preset, n=4, seed=1)
    model.eval()
    with torch.no_grad():
        return model.translate(model.translation_inputs(arrays, direction)[:4], direction=direction)


@pytest.mark.parametrize("preset", list(SPECS))
def test_preset_builds_with_the_papers_settings(preset: str) -> None:
    spec = load_preset(preset)
    model = build_model(spec.family, dict(spec.model), SPECS[preset])
    assert isinstance(model, Translator) and model.task in TASKS
    assert set(model.training_arrays) >= set(model.inference_arrays)
    for sampler in spec.samplers.values():
        assert model.network_evaluations(sampler) == 1


@pytest.mark.parametrize("preset", list(SPECS))
def test_translator_trains_translates_and_round_trips(preset: str) -> None:
    model = small_model(preset)
    spec = load_preset(preset, {"model": SMALL[preset]})
    source, target = model.training_tensors(fake_arrays(preset))
    optimizers = model.configure_optimizers(spec.train)
    model.train()
    for _ in range(2):
        losses = model.train_step(source[:4], target[:4], optimizers)
        assert losses and all(isinstance(v, float) and np.isfinite(v) for v in losses.values()), losses

    for sampler in spec.samplers.values():
        out = translations(model, preset, sampler.algo)
        channels = 1 if sampler.algo == "backward" else SPECS[preset].channels
        assert out.shape == (4, channels, SPECS[preset].height, SPECS[preset].width)
        assert out.min() >= -1 and out.max() <= 1
        assert torch.equal(out, translations(model, preset, sampler.algo))  # eval mode: no noise left
        targets = model.translation_targets(fake_arrays(preset, n=4), sampler.algo)
        assert targets.dtype == np.uint8 and targets.shape[1:] == out.shape[1:]

        copy = small_model(preset, seed=1)
        copy.load_state_dict(model.state_dict())
        assert torch.equal(translations(copy, preset, sampler.algo), out)


@pytest.mark.parametrize("preset", list(SPECS))
def test_same_seed_same_model(preset: str) -> None:
    direction = load_preset(preset).samplers[next(iter(load_preset(preset).samplers))].algo
    a, b, c = small_model(preset, 0), small_model(preset, 0), small_model(preset, 1)
    assert torch.equal(translations(a, preset, direction), translations(b, preset, direction))
    assert not torch.equal(translations(a, preset, direction), translations(c, preset, direction))


@pytest.mark.parametrize("preset", ["pix2pix", "cyclegan"])
def test_fit_trains_a_translator_with_ema(preset: str) -> None:
    model = small_model(preset)
    overrides = {"model": SMALL[preset], "train": {"steps": 2, "batch_size": 2, "ema_decay": 0.9}}
    train = load_preset(preset, overrides).train
    result = fit(model, model.training_tensors(fake_arrays(preset)), train, seed=0)
    assert result.steps == 2 and set(result.ema.state_dict()) == set(model.sampling_module().state_dict())


def test_pix2pix_translates_one_hot_maps_but_trains_on_compact_ones() -> None:
    model = small_model("pix2pix")
    arrays = fake_arrays("pix2pix")
    source, _ = model.training_tensors(arrays)
    assert source.dtype == torch.uint8 and source.shape == (8, 28, 28)
    one_hot = model.translation_inputs(arrays, "forward")
    assert one_hot.shape == (8, 11, 28, 28) and torch.equal(one_hot.argmax(dim=1), source.long())
    with pytest.raises(ConfigError, match="label_maps.*label 11"):
        model.translation_inputs({"label_maps": np.full((1, 28, 28), 11, np.uint8)}, "forward")


def test_translators_do_not_sample_from_noise() -> None:
    with pytest.raises(ConfigError, match="translates inputs"):
        small_model("pix2pix").sample(2, generator=torch.Generator(), sampler=SamplerConfig(algo="forward"))


def test_only_cyclegan_translates_backward() -> None:
    family_class("cyclegan").check_sampler(SamplerConfig(algo="backward"), source="p.yaml")
    with pytest.raises(ConfigError, match=r"p\.yaml.*'backward'.*valid: forward"):
        family_class("pix2pix").check_sampler(SamplerConfig(algo="backward"), source="p.yaml")


def test_cyclegan_never_pairs_an_image_with_its_own_digit() -> None:
    n = 200
    ids = np.arange(n, dtype=np.uint8)  # row i is filled with the value i
    arrays = {"digits": np.broadcast_to(ids[:, None, None, None], (n, 1, 28, 28)).copy(),
              "images": np.broadcast_to(ids[:, None, None, None], (n, 3, 28, 28)).copy()}
    x, y = small_model("cyclegan").training_tensors(arrays)
    x_rows, y_rows = (((t[:, 0, 0, 0] + 1) * 127.5).round().long() for t in (x, y))
    assert len(x_rows) == len(y_rows) == n // 2
    assert not set(x_rows.tolist()) & set(y_rows.tolist())  # no row is in both domains
    assert torch.equal(x_rows, torch.from_numpy(unpaired_rows(n)[0]))  # and the split is fixed
    assert np.array_equal(unpaired_rows(n)[1], unpaired_rows(n)[1])


def test_cyclegan_without_backward_cycle_is_the_limit_of_a_vanishing_lambda_b() -> None:
    """cycle_weight_y 0 (the paper's "GAN + forward cycle" ablation) skips the backward cycle's gradient but
    still logs it: one step lands where a vanishing lambda_B would, and differs from lambda_B 10's."""
    def one_step(cycle_weight_y: float) -> tuple[dict[str, float], torch.Tensor]:
        torch.manual_seed(0)
        overrides = {"model": {**SMALL["cyclegan"], "cycle_weight_y": cycle_weight_y}}
        spec = load_preset("cyclegan", overrides)
        model = build_model(spec.family, dict(spec.model), MNIST_M)
        x, y = model.training_tensors(fake_arrays("cyclegan"))
        losses = model.train_step(x[:4], y[:4], model.configure_optimizers(spec.train))
        return losses, torch.cat([p.flatten() for p in model.generators.parameters()])

    (losses, off), (_, vanishing), (_, paper) = one_step(0.0), one_step(1e-9), one_step(10.0)
    assert np.isfinite(losses["loss_cycle_y"]) and losses["loss_cycle_y"] > 0
    # 1e-5: Adam divides a gradient of ~1e-9 by sqrt(v) + eps, so what a vanishing lambda_B leaves depends on the
    # rounding of the reductions, which changes with the torch thread count (1e-6 held at 2 threads, not at 1)
    torch.testing.assert_close(off, vanishing, rtol=0, atol=1e-5)
    assert (off - paper).abs().max() > 1e-4


def test_image_pool_is_deterministic_and_keeps_its_history() -> None:
    fakes = [torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(k)) for k in range(40)]

    def run(seed: int) -> list[torch.Tensor]:
        pool = ImagePool(5, seed=seed)
        return [pool.query(f) for f in fakes]

    first, again, other = run(0), run(0), run(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    assert torch.equal(first[0], fakes[0])  # filling up: the fakes themselves
    assert any(not torch.equal(out, f) for out, f in zip(first[2:], fakes[2:]))  # then older fakes too
    assert torch.equal(ImagePool(0, seed=0).query(fakes[0]), fakes[0])


def test_identity_loss_adapter_keeps_grey_and_range() -> None:
    grey = torch.linspace(-1, 1, 16).view(1, 1, 4, 4)
    rgb = match_channels(grey, 3)
    assert rgb.shape == (1, 3, 4, 4)
    torch.testing.assert_close(match_channels(rgb, 1), grey)


def test_srgan_keeps_vgg_out_of_its_state_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    import genbench.features.vgg as vgg

    loaded = []
    monkeypatch.setattr(vgg, "load_vgg16", lambda path=None, *, device="cpu": loaded.append(device) or VGG16Features())
    spec = load_preset("srgan", {"model": SMALL["srgan"]})
    model = build_model(spec.family, dict(spec.model), PATCHES)
    keys_before = set(model.state_dict())
    with pytest.raises(RuntimeError, match="prepare"):
        model.train_step(*model.training_tensors(fake_arrays("srgan", n=2)), model.configure_optimizers(spec.train))
    model.prepare(("a", "b"))
    assert loaded == ["cpu"]
    assert set(model.state_dict()) == keys_before and not any("features." in k for k in keys_before)
    assert model.num_parameters() == sum(p.numel() for p in model.generator.parameters()) + \
        sum(p.numel() for p in model.discriminator.parameters())
    losses = model.train_step(*model.training_tensors(fake_arrays("srgan", n=2)),
                              model.configure_optimizers(spec.train))
    assert np.isfinite(losses["loss_content"]) and "loss_g_adv" in losses


def test_srresnet_has_no_discriminator_and_needs_no_vgg() -> None:
    spec = load_preset("srresnet", {"model": SMALL["srresnet"]})
    model = build_model(spec.family, dict(spec.model), PATCHES)
    model.prepare(())  # pixel MSE: nothing to load
    assert model.discriminator is None and list(model.configure_optimizers(spec.train)) == ["generator"]
    losses = model.train_step(*model.training_tensors(fake_arrays("srresnet", n=2)),
                              model.configure_optimizers(spec.train))
    assert set(losses) == {"loss_content", "pixel_mse"} and losses["loss_content"] == losses["pixel_mse"]


@pytest.mark.parametrize("model_cfg, match", [({"content_layer": "relu5_4"}, "relu5_3"),
                                              ({"content_loss": "l1"}, "vgg, mse"), ({"scale": 3}, "power of two")])
def test_srgan_rejects_bad_settings(model_cfg: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_model("srgan", model_cfg, PATCHES, source="p.yaml")


def test_srgan_rejects_a_size_mismatch_between_lr_and_images() -> None:
    model = small_model("srresnet")
    arrays = fake_arrays("srresnet")
    with pytest.raises(ConfigError, match="not x4"):
        model.training_tensors({"lr": arrays["lr"][:, :, :8, :8], "images": arrays["images"]})


def test_bicubic_skip_starts_as_the_bicubic_upscale() -> None:
    model = build_model("srgan", {**SMALL["srresnet"], "content_loss": "mse", "adversarial_weight": 0.0,
                                  "bicubic_skip": True}, PATCHES).eval()
    lr = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        expected = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
        torch.testing.assert_close(model.translate(lr), expected.clamp(-1, 1))


def test_srgan_starts_from_the_trained_srresnet_generator(tmp_path) -> None:
    """train.init_from copies the sampling network (G) of the named preset's checkpoint, and only it."""
    from genbench.config import MlflowConfig, RunConfig
    from genbench.io import InputError
    from genbench.train.checkpoint import initialise_from, save_checkpoint

    srresnet = small_model("srresnet", seed=1)
    run_cfg = RunConfig(profile="p", dataset="photo_patches", preset="srresnet", seed=0, device="cpu", threads=1,
                        spec=load_preset("srresnet"), mlflow=MlflowConfig())
    save_checkpoint(tmp_path / "checkpoint.pt", model=srresnet, run_cfg=run_cfg, step=1, optimizers={}, ema_state=None)
    srgan = small_model("srgan", seed=2)
    discriminator = {k: v.clone() for k, v in srgan.discriminator.state_dict().items()}
    initialise_from(srgan, tmp_path / "checkpoint.pt")
    for name, tensor in srresnet.generator.state_dict().items():
        assert torch.equal(srgan.generator.state_dict()[name], tensor)
    assert all(torch.equal(srgan.discriminator.state_dict()[k], v) for k, v in discriminator.items())

    spec = load_preset("srgan", {"model": {**SMALL["srgan"], "channels": 16}})
    wider = build_model(spec.family, dict(spec.model), PATCHES)
    with pytest.raises(InputError, match=r"checkpoint\.pt: cannot initialise from it: tensor 'head\.0\.weight' is "
                                         r"missing or has another shape"):
        initialise_from(wider, tmp_path / "checkpoint.pt")


def test_srgan_without_its_srresnet_in_the_profile_is_a_config_error(monkeypatch) -> None:
    from pathlib import Path

    from genbench.config import load_profile, validate_all

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    profile = load_profile({"profile": "p", "presets": ["srgan"], "preset_datasets": {"srgan": ["photo_patches"]}},
                           source="p.yaml")
    with pytest.raises(ConfigError, match=r"p\.yaml: preset 'srgan' has train\.init_from 'srresnet', which is not "
                                          r"another preset of this profile; add 'srresnet' to 'presets' or set "
                                          r"overrides\.srgan\.train\.init_from: ''"):
        validate_all(profile, profile_source="p.yaml")
    both = {"profile": "p", "presets": ["srresnet", "srgan"],
            "preset_datasets": {"srgan": ["photo_patches"], "srresnet": ["photo_patches"]}}
    validate_all(load_profile(both, source="p.yaml"), profile_source="p.yaml")

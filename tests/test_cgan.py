"""cgan invariants: the class is an input of both nets, and sampling obeys the labels and the seed."""
from __future__ import annotations

import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, TrainConfig
from genbench.models import build_model, family_class
from genbench.models.base import ImageSpec

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)
SMALL = {"base_channels": 8, "latent_dim": 16}


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("cgan", SMALL, SPEC).eval()


def draw(model, labels: torch.Tensor | None, seed: int = 0, truncation: float = 0.0) -> torch.Tensor:
    with torch.no_grad():
        return model.sample(len(labels) if labels is not None else 10, generator=torch.Generator().manual_seed(seed),
                            sampler=SamplerConfig(truncation=truncation), labels=labels)


def test_nets_take_the_class_as_extra_input_channels(model) -> None:
    assert model.generator[0].in_channels == SMALL["latent_dim"] + SPEC.num_classes
    assert model.discriminator[0].in_channels == SPEC.channels + SPEC.num_classes
    images, labels = torch.zeros(3, 1, 28, 28), torch.tensor([0, 4, 9])
    assert model.discriminate(images, labels).shape == (3,)


def test_same_seed_and_labels_give_the_same_images_and_other_labels_other_images(model) -> None:
    labels = torch.tensor([0, 1, 2, 3])
    assert torch.equal(draw(model, labels), draw(model, labels))
    other = draw(model, torch.tensor([5, 1, 2, 3]))
    assert not torch.equal(other[0], draw(model, labels)[0])
    assert torch.equal(other[1:], draw(model, labels)[1:])  # same z, same class: same image


def test_no_labels_means_the_balanced_sequence(model) -> None:
    assert torch.equal(draw(model, None), draw(model, torch.arange(10)))


def test_label_contract(model) -> None:
    assert model.label_kind == "class" and model.num_label_values() == SPEC.num_classes


def test_truncation_is_accepted_and_changes_the_samples(model) -> None:
    family_class("cgan").check_sampler(SamplerConfig(truncation=0.5), source="p.yaml")
    labels = torch.arange(10)
    assert not torch.equal(draw(model, labels), draw(model, labels, truncation=0.5))


def test_train_step_updates_both_nets_and_reports_the_gan_losses(model) -> None:
    model.train()
    optimizers = model.configure_optimizers(TrainConfig())
    before = [p.detach().clone() for p in (model.generator[0].weight, model.discriminator[0].weight)]
    losses = model.train_step(torch.rand(8, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (8,)), optimizers)
    assert set(losses) == {"loss_d", "loss_g", "d_real", "d_fake"}
    after = (model.generator[0].weight, model.discriminator[0].weight)
    assert all(not torch.equal(b, a) for b, a in zip(before, after))


def test_bad_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match="model.latent_dim"):
        build_model("cgan", {"latent_dim": 0}, SPEC, source="p.yaml")

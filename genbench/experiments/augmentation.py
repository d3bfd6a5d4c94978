"""GAN data augmentation: a classifier trained on real and conditional-GAN images mixed.

The experiment of the GAN courses (DeepLearning.AI "Apply GANs", week 1): each training image is real
with probability p_real and generated (with its conditioning class as the label) otherwise; test accuracy
on the real test split as a function of p_real shows whether generated data helps, hurts or replaces real
data. The classifier is the domain-classifier architecture, trained with the same recipe at each p_real.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from genbench.config import DomainConfig, SamplerConfig, bounded, limits
from genbench.data import load_split, seeded_subset
from genbench.device import resolve_device, set_threads
from genbench.experiments.base import EXPERIMENTS, Experiment, ExperimentJob, run_identity
from genbench.features.domain import train_domain_classifier
from genbench.images import to_uint8
from genbench.io import write_json
from genbench.models import GenerativeModel
from genbench.train.checkpoint import load_for_sampling

__all__ = ["AugmentationConfig", "accuracy_by_p_real", "generated_pool", "mixed_training_set",
           "run_augmentation_job"]


@dataclass(frozen=True)
class AugmentationConfig:
    """A classifier trained on real and class-conditional GAN images mixed, for each named preset."""

    presets: tuple[str, ...] = bounded((), unique=True)
    p_real: tuple[float, ...] = bounded((0.0, 0.25, 0.5, 0.75, 1.0), min_items=1, each=limits(ge=0, le=1))
    n_train: int = bounded(5000, ge=10)
    epochs: int = bounded(2, ge=1)


@torch.no_grad()
def generated_pool(model: GenerativeModel, n: int, *, seed: int, batch_size: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, labels) of ``n`` class-conditioned samples, classes balanced."""
    if model.label_kind != "class":
        raise ValueError(f"augmentation needs a class-conditional generator; family '{model.family}' is not")
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % model.num_label_values()
    images = [to_uint8(model.sample(len(chunk), generator=generator, sampler=SamplerConfig(),
                                    labels=chunk.to(model.device)))
              for chunk in labels.split(batch_size)]
    return np.concatenate(images), labels.numpy()


def mixed_training_set(real: tuple[np.ndarray, np.ndarray], fake: tuple[np.ndarray, np.ndarray], *, p_real: float,
                       n: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``n`` (image, label) pairs, each real with probability ``p_real`` (independently), drawn without
    replacement from the real and the generated pool; also how many are real."""
    rng = np.random.default_rng(seed)
    is_real = rng.random(n) < p_real
    n_real, n_fake = int(is_real.sum()), int(n - is_real.sum())
    for (images, _), needed, name in ((real, n_real, "real"), (fake, n_fake, "generated")):
        if needed > len(images):
            raise ValueError(f"augmentation: needs {needed} {name} images, the pool has {len(images)}")
    real_idx = rng.choice(len(real[0]), n_real, replace=False)
    fake_idx = rng.choice(len(fake[0]), n_fake, replace=False)
    images = np.empty((n, *real[0].shape[1:]), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    images[is_real], labels[is_real] = real[0][real_idx], real[1][real_idx]
    images[~is_real], labels[~is_real] = fake[0][fake_idx], fake[1][fake_idx]
    return images, labels, n_real


def accuracy_by_p_real(model: GenerativeModel, real_train: tuple[np.ndarray, np.ndarray],
                       real_test: tuple[np.ndarray, np.ndarray], *, p_values: tuple[float, ...], n: int,
                       classifier: DomainConfig, device: torch.device, seed: int) -> list[dict]:
    """Test accuracy of the domain-classifier recipe ``classifier`` trained on each mixture (same n, same
    seed; its ``max_train_images`` should be 0, the mixture is the training set)."""
    fake = generated_pool(model, n, seed=seed)
    rows = []
    for p_real in p_values:
        images, labels, n_real = mixed_training_set(real_train, fake, p_real=p_real, n=n, seed=seed)
        _, info = train_domain_classifier(images, labels, *real_test, classifier,
                                          device=device, num_classes=model.num_label_values())
        rows.append({"p_real": p_real, "test_accuracy": info["test_accuracy"], "n_train": n, "n_real": n_real,
                     "epochs": classifier.epochs})
    return rows


def run_augmentation_job(job: ExperimentJob) -> dict:
    set_threads(job.threads)
    dev = resolve_device(job.device)
    checkpoint, settings = job.inputs["checkpoint"], job.config
    model, run_cfg = load_for_sampling(checkpoint, dev)
    train_x, train_y = load_split(job.inputs["data"], "train")
    keep = seeded_subset(len(train_x), settings.n_train, run_cfg.seed)
    rows = accuracy_by_p_real(
        model, (train_x[keep], train_y[keep]), load_split(job.inputs["data"], "test"), p_values=settings.p_real,
        n=len(keep), classifier=replace(job.profile.domain, epochs=settings.epochs), device=dev, seed=run_cfg.seed)
    record = {**run_identity(checkpoint, run_cfg), "rows": rows,
              "classifier": "domain-classifier architecture and recipe (genbench.features.domain)"}
    write_json(job.out, record)
    return record


EXPERIMENTS.add("augmentation", Experiment(
    config=AugmentationConfig, run=run_augmentation_job, inputs=("checkpoint", "data"),
    applies_to=lambda cls: cls.label_kind == "class", requirement="class-conditional (e.g. cgan)",
    settings=("domain",), mem_mb=3000))

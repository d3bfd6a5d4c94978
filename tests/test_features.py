"""The domain classifier: shapes, batch-size independence, checkpoints, determinism and a tiny training run."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from genbench.config import ConfigError, DomainConfig
from genbench.features import EXTRACTORS
from genbench.features.domain import (FEATURE_DIM, DomainClassifier, extract, load_classifier, save_classifier,
                                      train_domain_classifier, weights_sha256)
from genbench.io import InputError, sha256_file

TINY = DomainConfig(epochs=2, batch_size=16, lr=3e-3, width=8, seed=0)


def quadrant_images(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise images in which the class (0-3) is the quadrant that is bright: linearly separable."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n)
    images = rng.integers(0, 80, size=(n, 1, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 2)
        images[i, 0, row * 14:(row + 1) * 14, col * 14:(col + 1) * 14] += 150
    return images, labels.astype(np.int64)


@pytest.fixture(scope="module")
def trained():
    train_x, train_y = quadrant_images(200, seed=0)
    test_x, test_y = quadrant_images(100, seed=1)
    model, info = train_domain_classifier(train_x, train_y, test_x, test_y, TINY, device="cpu")
    return model, info, test_x


def test_training_on_a_separable_toy_set_reaches_high_accuracy(trained):
    model, info, _ = trained
    assert info["test_accuracy"] >= 0.9
    assert info["n_train"] == 200 and info["n_test"] == 100 and info["epochs"] == 2
    assert info["train_seconds"] >= 0
    assert not model.training and model.num_classes == 4


def test_training_is_deterministic_for_a_seed_and_honours_max_train_images():
    train_x, train_y = quadrant_images(120, seed=0)
    cfg = dataclasses.replace(TINY, epochs=1, max_train_images=100)
    first, info = train_domain_classifier(train_x, train_y, train_x[:10], train_y[:10], cfg, device="cpu")
    second, _ = train_domain_classifier(train_x, train_y, train_x[:10], train_y[:10], cfg, device="cpu")
    assert info["n_train"] == 100
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name


def test_training_leaves_the_global_rng_alone():
    train_x, train_y = quadrant_images(40, seed=0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_domain_classifier(train_x, train_y, train_x, train_y, dataclasses.replace(TINY, epochs=1), device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_extract_shapes_and_dtypes():
    model = DomainClassifier(in_channels=3, num_classes=10, width=4)
    images = np.random.default_rng(0).integers(0, 256, size=(5, 3, 28, 28), dtype=np.uint8)
    features, logits = extract(model, images, batch_size=2, device="cpu")
    assert features.shape == (5, FEATURE_DIM) and logits.shape == (5, 10)
    assert features.dtype == np.float32 and logits.dtype == np.float32
    assert (features >= 0).all()  # post-ReLU
    with pytest.raises(ValueError, match="3-channel"):
        extract(model, images[:, :1], batch_size=2, device="cpu")


def test_extract_is_batch_size_independent_and_matches_forward(trained):
    model, _, images = trained
    feats_7, logits_7 = extract(model, images, batch_size=7, device="cpu")
    feats_64, logits_64 = extract(model, images, batch_size=64, device="cpu")
    np.testing.assert_allclose(feats_7, feats_64, atol=1e-5)
    np.testing.assert_allclose(logits_7, logits_64, atol=1e-5)
    with torch.no_grad():
        direct = model(torch.from_numpy(images).float() / 127.5 - 1).numpy()
    np.testing.assert_allclose(logits_64, direct, atol=1e-4)


def test_save_load_round_trip_gives_identical_outputs_and_bytes(trained, tmp_path):
    model, info, images = trained
    path = tmp_path / "domain" / "classifier.pt"
    save_classifier(model, path, info)
    loaded, loaded_info = load_classifier(path, device="cpu")
    assert loaded_info == info
    for a, b in zip(extract(model, images, batch_size=32, device="cpu"),
                    extract(loaded, images, batch_size=32, device="cpu")):
        np.testing.assert_array_equal(a, b)
    again = tmp_path / "again.pt"
    save_classifier(loaded, again, loaded_info)
    assert sha256_file(again) == sha256_file(path)  # feature-space checksums are reproducible


def test_a_truncated_or_missing_checkpoint_is_an_input_error(trained, tmp_path):
    model, info, _ = trained
    path = tmp_path / "classifier.pt"
    save_classifier(model, path, info)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="delete it and re-run its rule") as err:
        load_classifier(path, device="cpu")
    assert str(path) in str(err.value)
    (tmp_path / "other.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="delete it and re-run its rule"):
        load_classifier(tmp_path / "other.pt", device="cpu")
    with pytest.raises(InputError, match="not found"):
        load_classifier(tmp_path / "missing.pt", device="cpu")


def test_the_domain_extractor_is_registered():
    entry = EXTRACTORS.get("domain")
    assert entry.load is load_classifier and entry.extract is extract and entry.feature_dim == FEATURE_DIM
    with pytest.raises(ConfigError, match="known: domain"):
        EXTRACTORS.get("nope")


def test_weights_checksum_ignores_info_and_memory_format(trained, tmp_path):
    model, info, _ = trained
    save_classifier(model, tmp_path / "a.pt", {**info, "train_seconds": 1.0})
    loaded, _ = load_classifier(tmp_path / "a.pt", device="cpu")
    assert weights_sha256(loaded) == weights_sha256(model)
    assert weights_sha256(loaded.to(memory_format=torch.contiguous_format)) == weights_sha256(model)
    other = DomainClassifier(in_channels=1, num_classes=4, width=8)
    assert weights_sha256(other) != weights_sha256(model)

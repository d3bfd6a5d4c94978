"""The FCN-score segmenter: a tiny training run, determinism, predictions, checkpoints and the CLI command."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.cli import main
from genbench.features.segmentation import (Segmenter, SegmenterConfig, load_segmenter, predict_maps,
                                            save_segmenter, train_segmenter, weights_sha256)
from genbench.io import InputError, save_npz, sha256_file

TINY = SegmenterConfig(epochs=3, batch_size=8, lr=3e-3, width=16, seed=0)
PALETTE = np.array([[30, 30, 30], [220, 40, 40], [40, 220, 40], [40, 40, 220]], dtype=np.uint8)


def colour_coded(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB 28x28 images of two random rectangles on a dark ground, each pixel's class readable from its colour."""
    rng = np.random.default_rng(seed)
    maps = np.zeros((n, 28, 28), dtype=np.uint8)
    for label_map in maps:
        for _ in range(2):
            top, left = rng.integers(0, 20, size=2)
            height, width = rng.integers(4, 12, size=2)
            label_map[top:top + height, left:left + width] = rng.integers(1, 4)
    noise = rng.integers(0, 30, size=(n, 28, 28, 3))
    images = (PALETTE[maps].astype(np.int64) + noise).clip(0, 255).astype(np.uint8).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images), maps


@pytest.fixture(scope="module")
def trained():
    train_x, train_y = colour_coded(96, seed=0)
    test_x, test_y = colour_coded(32, seed=1)
    model, info = train_segmenter(train_x, train_y, test_x, test_y, TINY, device="cpu")
    return model, info, test_x, test_y


def test_a_colour_coded_task_is_learnt_to_near_perfect_scores(trained):
    model, info, test_x, test_y = trained
    assert info["per_pixel_accuracy"] >= 0.98 and info["class_iou"] >= 0.9
    assert info["n_train"] == 96 and info["n_test"] == 32 and info["config"] == dataclasses.asdict(TINY)
    assert len(info["per_class_iou"]) == model.num_classes == 4
    assert np.mean(predict_maps(model, test_x, batch_size=8) == test_y) == pytest.approx(info["per_pixel_accuracy"])


def test_logits_have_the_image_size_and_one_channel_per_class():
    model = Segmenter(in_channels=3, num_classes=11, width=4).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 28, 28)).shape == (2, 11, 28, 28)


def test_predictions_do_not_depend_on_the_batch_and_keep_the_mode(trained):
    model, _, test_x, _ = trained
    model.train()
    maps = predict_maps(model, test_x, batch_size=5)
    assert model.training
    model.eval()
    assert maps.dtype == np.uint8 and maps.shape == (32, 28, 28)
    np.testing.assert_array_equal(maps, predict_maps(model, test_x, batch_size=32))


def test_training_is_deterministic_and_leaves_the_global_rng_alone():
    train_x, train_y = colour_coded(32, seed=2)
    cfg = dataclasses.replace(TINY, epochs=1)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first, info = train_segmenter(train_x, train_y, train_x[:8], train_y[:8], cfg, device="cpu")
    assert torch.rand(1) == before
    second, _ = train_segmenter(train_x, train_y, train_x[:8], train_y[:8], cfg, device="cpu")
    assert weights_sha256(first) == weights_sha256(second)
    other, _ = train_segmenter(train_x, train_y, train_x[:8], train_y[:8], dataclasses.replace(cfg, seed=1),
                               device="cpu")
    assert weights_sha256(other) != weights_sha256(first)
    subset, info = train_segmenter(train_x, train_y, train_x[:8], train_y[:8], dataclasses.replace(cfg, n_train=10),
                                   device="cpu")
    assert info["n_train"] == 10


@pytest.mark.parametrize("change,match", [
    (lambda x, y: (x.astype(np.float32), y), "train images: expected uint8"),
    (lambda x, y: (x[:, :, :26, :26], y[:, :26, :26]), "multiples of 4"),
    (lambda x, y: (x, y[:, :14]), "train maps: expected integer"),
])
def test_bad_training_inputs_are_value_errors(change, match):
    images, maps = colour_coded(8, seed=3)
    with pytest.raises(ValueError, match=match):
        train_segmenter(*change(images, maps), images, maps, TINY, device="cpu")


def test_save_load_round_trip_gives_identical_maps_and_bytes(trained, tmp_path):
    model, info, test_x, _ = trained
    path = tmp_path / "segmenter" / "segmenter.pt"
    save_segmenter(model, path, info)
    loaded, loaded_info = load_segmenter(path, device="cpu")
    assert loaded_info == info and not loaded.training
    assert weights_sha256(loaded) == weights_sha256(model)
    np.testing.assert_array_equal(predict_maps(loaded, test_x, batch_size=16), predict_maps(model, test_x, batch_size=16))
    save_segmenter(loaded, tmp_path / "again.pt", loaded_info)
    assert sha256_file(tmp_path / "again.pt") == sha256_file(path)


def test_corrupt_foreign_or_missing_files_are_one_line_input_errors(trained, tmp_path):
    model, info, _, _ = trained
    path = tmp_path / "segmenter.pt"
    save_segmenter(model, path, info)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    torch.save({"format": "genbench-domain-classifier", "format_version": 1}, tmp_path / "domain.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    for bad in (path, tmp_path / "domain.pt", tmp_path / "junk.pt"):
        with pytest.raises(InputError, match="delete it and re-run its rule") as err:
            load_segmenter(bad, device="cpu")
        assert str(bad) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="not found"):
        load_segmenter(tmp_path / "missing.pt", device="cpu")


def test_the_cli_trains_and_writes_the_checkpoint_and_its_record(tmp_path: Path, capsys):
    data = tmp_path / "mnist_m"
    for split, seed, n in (("train", 4, 48), ("test", 5, 16)):
        images, maps = colour_coded(n, seed=seed)
        save_npz(data / f"{split}.npz", {"images": images, "labels": np.zeros(n, dtype=np.int64), "label_maps": maps})
    out = tmp_path / "segmenter.pt"
    assert main(["train-segmenter", "--data", str(data), "--out", str(out), "--settings", "{}", "--threads", "1"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["sha256"] == sha256_file(out) and record["n_train"] == 48
    assert record["config"] == dataclasses.asdict(SegmenterConfig())
    assert "mean IoU" in capsys.readouterr().out
    assert main(["train-segmenter", "--data", str(tmp_path / "nowhere"), "--out", str(out), "--settings", "{}"]) == 2

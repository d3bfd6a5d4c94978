"""`genbench metrics`: image folders, image .npz and feature .npz in; values with their protocol out."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.cli import main
from genbench.config import EvaluationConfig
from genbench.evaluate import compute_metrics
from genbench.features.domain import DomainClassifier, save_classifier
from genbench.io import save_npz


def features_npz(path: Path, seed: int, n: int = 60, shift: float = 0.0, logits: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    arrays = {"features": (rng.standard_normal((n, 16)) + shift).astype(np.float32)}
    if logits:
        arrays["logits"] = rng.standard_normal((n, 10)).astype(np.float32)
    save_npz(path, arrays)
    return path


def test_feature_inputs_give_the_pipeline_function_values(tmp_path: Path) -> None:
    real = features_npz(tmp_path / "real.npz", 0)
    fake = features_npz(tmp_path / "fake.npz", 1, shift=0.5, logits=True)
    out = tmp_path / "m.json"
    assert main(["metrics", "--real", str(real), "--fake", str(fake), "--features", "none",
                 "--metrics", "fd,kid,is,pr", "--out", str(out)]) == 0
    record = json.loads(out.read_text())["metrics"]
    expected = compute_metrics(np.load(real)["features"], np.load(fake)["features"], np.load(fake)["logits"],
                               EvaluationConfig(), space="none", names=("fd", "kid", "is", "pr"))
    assert {k: v["value"] for k, v in record.items()} == pytest.approx({k: v["value"] for k, v in expected.items()})
    protocol = record["fd_none"]["protocol"]
    assert protocol["n_real"] == 60 and protocol["n_fake"] == 60 and protocol["real"] == str(real)


def test_folder_and_npz_of_the_same_images_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 1, 28, 28), dtype=np.uint8)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image[0]).save(folder / f"{i:03d}.png")
    save_npz(tmp_path / "imgs.npz", {"images": images})
    torch.manual_seed(0)
    save_classifier(DomainClassifier(in_channels=1, num_classes=10), tmp_path / "clf.pt", {})
    results = []
    for real in (folder, tmp_path / "imgs.npz"):
        out = tmp_path / f"{real.stem}.json"
        assert main(["metrics", "--real", str(real), "--fake", str(tmp_path / "imgs.npz"), "--features", "domain",
                     "--extractor-file", str(tmp_path / "clf.pt"), "--metrics", "fd,is", "--out", str(out)]) == 0
        results.append(json.loads(out.read_text())["metrics"])
    assert results[0]["fd_domain"]["value"] == pytest.approx(results[1]["fd_domain"]["value"], abs=1e-6)
    assert abs(results[0]["fd_domain"]["value"]) < 1e-3  # identical sets


@pytest.mark.parametrize("make_bad, needle", [
    (lambda d: d.mkdir(), "no images"),
    (lambda d: d.with_suffix(".npz").write_bytes(b"PK\x03\x04 truncated"), "unreadable or truncated"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, capsys, make_bad, needle: str) -> None:
    bad = tmp_path / "bad"
    make_bad(bad)
    bad = bad if bad.exists() else bad.with_suffix(".npz")
    out = tmp_path / "m.json"
    code = main(["metrics", "--real", str(bad), "--fake", str(features_npz(tmp_path / "f.npz", 0)),
                 "--features", "none", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and str(bad) in err and "\n" not in err
    assert not out.exists()


def test_inception_score_needs_logits(tmp_path: Path, capsys) -> None:
    real, fake = features_npz(tmp_path / "r.npz", 0), features_npz(tmp_path / "f.npz", 1)
    assert main(["metrics", "--real", str(real), "--fake", str(fake), "--features", "none", "--metrics", "is"]) == 2
    assert "'is' needs class logits" in capsys.readouterr().err


def test_feature_dims_that_differ_are_a_one_line_error(tmp_path: Path, capsys) -> None:
    real = features_npz(tmp_path / "r.npz", 0)
    save_npz(tmp_path / "f.npz", {"features": np.zeros((60, 8), dtype=np.float32)})
    out = tmp_path / "m.json"
    assert main(["metrics", "--real", str(real), "--fake", str(tmp_path / "f.npz"), "--features", "none",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "features" in err and not out.exists()

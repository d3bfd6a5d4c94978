"""`genbench metrics`: image folders, image .npz and feature .npz in; values with their protocol out."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.cli import main
from genbench.jobs.evaluate import compute_metrics
from genbench.jobs.input_metrics import STANDARD_PROTOCOL
from genbench.features import inception
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
                               STANDARD_PROTOCOL, space="none", names=("fd", "kid", "is", "pr"))
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


@pytest.mark.slow  # a real genbench process
def test_from_an_empty_directory_it_measures_by_the_peers_protocol(tmp_path: Path) -> None:
    """No checkout, no params file: the console command in an empty directory gives clean-fid's FD and KID
    (100 subsets of up to 1,000 rows: with 250 rows a side every subset is the whole of both sets, so the draws,
    which differ between the two, do not matter) and prdc's precision, recall (k 3), density and coverage (k 5)."""
    cleanfid = pytest.importorskip("cleanfid.fid")
    prdc = pytest.importorskip("prdc")
    rng = np.random.default_rng(7)
    real_features = rng.standard_normal((250, 24))
    fake_features = 1.3 * rng.standard_normal((250, 24)) + 0.4
    work = tmp_path / "empty"
    work.mkdir()
    save_npz(tmp_path / "real.npz", {"features": real_features})
    save_npz(tmp_path / "fake.npz", {"features": fake_features})
    proc = subprocess.run([str(Path(sys.executable).with_name("genbench")), "metrics", "--real", "../real.npz",
                           "--fake", "../fake.npz", "--features", "none", "--metrics", "fd,kid,pr,dc",
                           "--out", "m.json"], cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in work.iterdir()) == ["m.json"]  # nothing else made or needed here
    ours = {k: v["value"] for k, v in json.loads((work / "m.json").read_text())["metrics"].items()}

    stats = [(f.mean(axis=0), np.cov(f, rowvar=False)) for f in (real_features, fake_features)]
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        pr, dc = (prdc.compute_prdc(real_features, fake_features, nearest_k=k) for k in (3, 5))
    peers = {"fd_none": float(cleanfid.frechet_distance(*stats[0], *stats[1])),
             "kid_none": float(cleanfid.kernel_distance(real_features, fake_features, num_subsets=100,
                                                        max_subset_size=1000)),
             "precision_none": pr["precision"], "recall_none": pr["recall"],
             "density_none": dc["density"], "coverage_none": dc["coverage"]}
    assert ours == pytest.approx(peers, rel=1e-6)


def test_a_profile_measures_by_its_evaluation_keys(tmp_path: Path) -> None:
    real, fake = features_npz(tmp_path / "r.npz", 0), features_npz(tmp_path / "f.npz", 1, shift=0.5)
    records = {}
    for name, extra in (("standard", []), ("profile", ["--profile", "params/ci.yaml"])):
        out = tmp_path / f"{name}.json"
        assert main(["metrics", "--real", str(real), "--fake", str(fake), "--features", "none", "--metrics", "kid",
                     "--out", str(out), *extra]) == 0
        records[name] = json.loads(out.read_text())["metrics"]["kid_none"]["protocol"]
    assert records["standard"]["subsets"] == 100 and records["standard"]["subset_size"] == 60
    assert records["profile"]["subsets"] == 2 and records["profile"]["subset_size"] == 16  # params/ci.yaml's


def test_inception_weights_go_to_the_user_cache_outside_a_checkout(tmp_path: Path, monkeypatch) -> None:
    asked = []
    monkeypatch.setattr(inception, "fetch_inception", lambda cache_dir: asked.append(Path(cache_dir)) or cache_dir)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    inception.default_inception_file()
    checkout_copy = tmp_path / inception.DEFAULT_CACHE / inception.WEIGHTS_FILE
    checkout_copy.parent.mkdir(parents=True)
    checkout_copy.write_bytes(b"")
    inception.default_inception_file()
    assert asked == [tmp_path / "xdg" / "genbench", inception.DEFAULT_CACHE]

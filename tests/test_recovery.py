"""genbench.recovery: the lock of a killed snakemake is removed only when its holder is dead on this host."""
from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from genbench import recovery


@pytest.fixture()
def lock_dir(tmp_path: Path) -> Path:
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "0.input.lock").write_text("data/mnist/train.npz")
    return tmp_path / "locks"


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_live_holder_keeps_its_lock(tmp_path: Path, lock_dir: Path) -> None:
    owner = tmp_path / "owner.json"
    recovery.claim(owner)
    assert recovery.recover(owner, lock_dir, tmp_path / "incomplete") is None and lock_dir.exists()
    recovery.release(owner)
    assert not owner.exists()


def snakemake_mark(incomplete_dir: Path, output: str, name_max: int = 255) -> Path:
    """The incomplete mark Snakemake's own file persistence writes for ``output``."""
    from snakemake.persistence.file import FilePersistence

    path = Path(FilePersistence._record_path(SimpleNamespace(_fetch_max_len=lambda _: name_max),
                                             str(incomplete_dir), output))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"external_jobid": null}')
    return path


def test_a_dead_holder_loses_its_lock_and_its_incomplete_outputs(tmp_path: Path, lock_dir: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    owner = tmp_path / "owner.json"
    owner.write_text(json.dumps({"host": socket.gethostname(), "pid": dead_pid()}))
    run = tmp_path / "results/ci/mnist/dcgan/seed0"
    run.mkdir(parents=True)
    for name in ("grid.png", "resume.pt", "checkpoint.pt"):
        (run / name).write_bytes(b"x")
    (tmp_path / "reports/all").mkdir(parents=True)
    incomplete = tmp_path / "incomplete"
    marks = [snakemake_mark(incomplete, "results/ci/mnist/dcgan/seed0/grid.png"),
             snakemake_mark(incomplete, "reports/all", name_max=6),  # a name split into '@' chunks
             snakemake_mark(incomplete, "../outside.txt")]
    (tmp_path.parent / "outside.txt").write_text("not ours")
    deleted = recovery.recover(owner, lock_dir, incomplete)
    assert sorted(deleted) == [Path("reports/all"), Path("results/ci/mnist/dcgan/seed0/grid.png")]
    assert not lock_dir.exists() and not owner.exists()
    assert not (run / "grid.png").exists() and not (tmp_path / "reports/all").exists()
    assert (run / "resume.pt").exists() and (run / "checkpoint.pt").exists()  # unmarked: kept
    assert not marks[0].exists() and not marks[1].exists()
    assert marks[2].exists() and (tmp_path.parent / "outside.txt").exists()  # outside the workdir: left


@pytest.mark.parametrize("record", [
    lambda: {"host": "another-node", "pid": dead_pid()},  # a shared filesystem: not ours to judge
    lambda: {"pid": 1},
    lambda: "not json",
])
def test_records_not_ours_to_judge_leave_the_lock_alone(tmp_path: Path, lock_dir: Path, record) -> None:
    owner = tmp_path / "owner.json"
    value = record()
    owner.write_text(value if isinstance(value, str) else json.dumps(value))
    assert recovery.recover(owner, lock_dir, tmp_path / "incomplete") is None and lock_dir.exists()


def test_no_record_means_a_clean_end(tmp_path: Path, lock_dir: Path) -> None:
    incomplete = tmp_path / "incomplete"
    mark = snakemake_mark(incomplete, "grid.png")
    assert recovery.recover(tmp_path / "absent.json", lock_dir, incomplete) is None
    assert lock_dir.exists() and mark.exists()

"""genbench.recovery: the lock of a killed snakemake is removed only when its holder is dead on this host."""
from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

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
    assert recovery.recover(owner, lock_dir) is None and lock_dir.exists()
    recovery.release(owner)
    assert not owner.exists()


def test_a_dead_holder_on_this_host_loses_its_lock_but_keeps_its_record(tmp_path: Path, lock_dir: Path) -> None:
    owner = tmp_path / "owner.json"
    owner.write_text(json.dumps({"host": socket.gethostname(), "pid": dead_pid()}))
    assert recovery.recover(owner, lock_dir)["host"] == socket.gethostname()
    assert not lock_dir.exists()
    assert owner.exists()  # a dry run in between must not hide the incomplete jobs from the next real run


@pytest.mark.parametrize("record", [
    lambda: {"host": "another-node", "pid": dead_pid()},  # a shared filesystem: not ours to judge
    lambda: {"pid": 1},
    lambda: "not json",
])
def test_records_not_ours_to_judge_leave_the_lock_alone(tmp_path: Path, lock_dir: Path, record) -> None:
    owner = tmp_path / "owner.json"
    value = record()
    owner.write_text(value if isinstance(value, str) else json.dumps(value))
    assert recovery.recover(owner, lock_dir) is None and lock_dir.exists()


def test_no_record_means_a_clean_end(tmp_path: Path, lock_dir: Path) -> None:
    assert recovery.recover(tmp_path / "absent.json", lock_dir) is None and lock_dir.exists()

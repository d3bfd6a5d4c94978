"""The warm worker (genbench.worker): a command run through it is the command run on its own (same output,
status and error line); a command whose process is killed is killed in the worker; no worker, no change."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from genbench import worker
from genbench.io import save_npz

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow  # real worker processes, started and killed

SETTINGS = json.dumps({"profile": "worker-test", "device": "cpu"})


def _wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture(scope="module")
def server():
    process = worker.start()  # exports GENBENCH_WORKER in this process
    path = os.environ[worker.ENV]
    _wait_for(lambda: os.path.exists(path), 120, "the worker's socket")
    yield process, path
    worker.stop(process)
    assert process.poll() is not None and not os.path.exists(path)


def _genbench(*args: str, socket_path: str | None, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != worker.ENV}
    if socket_path is not None:
        env[worker.ENV] = socket_path
    return subprocess.run([str(BIN / "genbench"), *args], env=env, cwd=cwd, capture_output=True, text=True, **kwargs)


def test_a_command_through_the_worker_writes_prints_and_fails_as_on_its_own(server, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("real", "fake"):
        save_npz(tmp_path / f"{name}.npz", {"features": rng.normal(size=(64, 8)).astype(np.float32)})
    args = ("metrics", "--real", "real.npz", "--fake", "fake.npz", "--features", "none", "--metrics", "fd,pr",
            "--settings", SETTINGS)
    ran = {}
    for how, path in (("worker", server[1]), ("alone", None), ("no worker listening", str(tmp_path / "none.sock"))):
        result = _genbench(*args, "--out", f"{how}.json", socket_path=path, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        ran[how] = (result.stdout, (tmp_path / f"{how}.json").read_bytes())
    assert ran["worker"] == ran["alone"] == ran["no worker listening"]
    bad = [_genbench("metrics", "--real", "missing.npz", "--fake", "fake.npz", "--features", "none",
                     "--settings", SETTINGS, socket_path=path, cwd=tmp_path) for path in (server[1], None)]
    assert [r.returncode for r in bad] == [2, 2] and bad[1].stderr.startswith("genbench metrics: error: ")
    # the same one-line error, then what the worker's child used (the job's benchmark: file cannot see it)
    assert bad[0].stderr.startswith(bad[1].stderr) and "missing.npz" in bad[1].stderr
    assert re.fullmatch(r"genbench: ran in the worker: peak RSS \d+ MB, CPU \d+\.\d s\n",
                        bad[0].stderr[len(bad[1].stderr):])


def test_killing_a_command_kills_its_child_in_the_worker(server, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    os.mkfifo(images / "a.png")  # reading it blocks until a writer comes: a command that runs until killed
    command = subprocess.Popen([str(BIN / "genbench"), "metrics", "--real", str(images), "--fake", str(images),
                                "--settings", SETTINGS], cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, worker.ENV: server[1]})
    child = _wait_for(lambda: next(iter(psutil.Process(server[0].pid).children()), None), 60,
                      "the command's child in the worker")
    command.kill()
    command.wait()
    _wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, worker.KILL_GRACE_S + 10,
              "the child to be killed")


def test_the_worker_ends_when_the_process_that_started_it_ends(tmp_path: Path) -> None:
    starter = subprocess.run([sys.executable, "-c", "import os; from genbench import worker; "
                              "print(worker.start().pid, os.environ[worker.ENV])"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
    pid, path = starter.stdout.split()
    orphan = psutil.Process(int(pid))
    _wait_for(lambda: not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE, 120, "the worker to exit")
    assert not os.path.exists(os.path.dirname(path))  # its socket and folder removed

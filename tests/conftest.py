"""Shared fixtures: a throwaway copy of the workflow, run with the venv's snakemake and genbench on PATH."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def copy_workflow(dest: Path) -> Path:
    """Snakefile, workflow/, params/ and data.dvc copied into ``dest`` (outputs then land in ``dest``)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", dest / "Snakefile")
    for name in ("workflow", "params"):
        shutil.copytree(REPO / name, dest / name, dirs_exist_ok=True)
    if (REPO / "data.dvc").exists():
        shutil.copy(REPO / "data.dvc", dest / "data.dvc")
    return dest


def snakemake(workdir: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([str(BIN / "snakemake"), *args], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture()
def workflow_copy(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path / "wf")

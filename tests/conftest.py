"""Shared fixtures: a throwaway copy of the workflow, run with the venv's snakemake and genbench on PATH."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # the workers share the CPUs: no oversubscribed torch threads
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))


def recorded_kinds(family: str) -> dict[str, str]:
    """The family's kind and label kind as its train job records them in train_summary.json (the report reads
    them there, not from the registry); a name not registered (e.g. old results) records none."""
    from genbench.models import FAMILIES

    cls = FAMILIES.get(family) if family in FAMILIES else None
    return {"family_kind": cls.kind if cls else "", "label_kind": cls.label_kind if cls else ""}


def recorded_config(family: str) -> str:
    """config.yaml as the train job of a preset of ``family`` at its defaults writes it: every model and train key
    resolved (the report reads them there, not from the registry); a name not registered records the family only."""
    import yaml

    from genbench.config import TrainConfig, from_dict, to_dict
    from genbench.models import FAMILIES

    spec: dict = {"family": family}
    if family in FAMILIES:
        spec |= {"model": to_dict(from_dict(FAMILIES.get(family).Config, {}, source="test")), "train": to_dict(TrainConfig())}
    return yaml.safe_dump({"spec": spec})


@pytest.fixture(autouse=True, scope="session")
def _mlflow_stores_copied_from_one_migrated_template(tmp_path_factory):
    """MLflow runs its alembic migrations on every new sqlite store (seconds each; dozens of unit tests make one).
    In this process the first new store is migrated as usual and kept; later new ones are copies of it (same
    schema, no runs). Stores made by subprocesses (the slow tests) migrate as in production."""
    import sqlite3

    import mlflow.store.db.utils as db_utils

    migrate = db_utils._initialize_tables
    template = tmp_path_factory.mktemp("mlflow") / "migrated.db"

    def initialize(engine) -> None:
        database = engine.url.database
        if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
            migrate(engine)
            return
        source, target = (database, template) if not template.exists() else (template, database)
        if source == database:
            migrate(engine)
        engine.dispose()
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)

    db_utils._initialize_tables = initialize
    yield
    db_utils._initialize_tables = migrate


def require_tools(*tools: str, packages: str) -> None:
    """Skip, in one line naming the setup command, unless every tool is on PATH: the Debian packages of the
    browser and cluster tests are installed by .ci/setup, never by a test."""
    absent = [tool for tool in tools if not shutil.which(tool)]
    if absent:
        pytest.skip(f"{' and '.join(absent)} not installed: `bash .ci/setup` as root installs {packages}")


def copy_workflow(dest: Path) -> Path:
    """Snakefile, workflow/, params/ and data.dvc copied into ``dest`` (outputs then land in ``dest``)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", dest / "Snakefile")
    for name in ("workflow", "params"):
        shutil.copytree(REPO / name, dest / name, dirs_exist_ok=True)
    if (REPO / "data.dvc").exists():
        shutil.copy(REPO / "data.dvc", dest / "data.dvc")
    return dest


def snakemake(workdir: Path, *args: str, timeout: int = 1200,
              env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(env_extra or {})
    return subprocess.run([str(BIN / "snakemake"), *args], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture()
def workflow_copy(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path / "wf")


CI = ("--configfile", "params/ci.yaml")


@dataclass(frozen=True)
class KilledRun:
    workdir: Path
    interrupted: list[Path]  # run folders whose training was killed between resume snapshots
    rerun_stderr: str


def kill_during_training(workdir: Path, args: tuple[str, ...]) -> list[Path]:
    """Start ``snakemake *args`` and kill -9 it with all its jobs (a preempted or out-of-memory-killed
    session) once a model is training past a resume snapshot; ci.yaml snapshots every step."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    process = subprocess.Popen([str(BIN / "snakemake"), *args], cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    snapshots = lambda: [p.parent for p in (workdir / "results").glob("ci/*/*/seed0/resume.pt")]  # noqa: E731
    try:
        deadline = time.monotonic() + 1200
        while not snapshots():
            assert process.poll() is None and time.monotonic() < deadline, "no training snapshot appeared"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return snapshots()


@pytest.fixture(scope="session")
def ci_killed(tmp_path_factory) -> KilledRun:
    """params/ci.yaml through the DAG, killed outright while a model trains, then the same command again
    (no --unlock, no --rerun-incomplete): what tests/test_pipeline.py checks."""
    workdir = copy_workflow(tmp_path_factory.mktemp("pipeline"))
    # fashion_mnist too, though ci.yaml trains on mnist only: data.dvc covers all of data/.
    args = ("reports/all", "data/fashion_mnist/meta.json", "--cores", "2", *CI)
    interrupted = []
    for _ in range(3):  # a job may finish between the snapshot seen and the kill: then kill the next one
        interrupted = kill_during_training(workdir, args)
        if interrupted:
            break
    assert interrupted and (workdir / ".snakemake/locks").exists()
    result = snakemake(workdir, *args, timeout=2400)
    assert result.returncode == 0, result.stderr[-4000:]
    return KilledRun(workdir, interrupted, result.stderr)


@pytest.fixture(scope="session")
def ci_run(request) -> Path:
    """The smoke run's workdir; GENBENCH_REUSE_CI_RUN=<dir> reuses a finished one (developers iterating on
    report tests: ``snakemake reports/all --cores 2 --configfile params/ci.yaml`` in a copy of the workflow)."""
    reuse = os.environ.get("GENBENCH_REUSE_CI_RUN")
    if reuse:
        return Path(reuse)
    return request.getfixturevalue("ci_killed").workdir


@dataclass(frozen=True)
class Browser:
    driver: object  # selenium.webdriver.Chrome (imported only when a browser test runs)
    downloads: Path


@pytest.fixture()
def chromium(tmp_path: Path):
    """Headless Debian Chromium through Selenium, as a ``Browser``; downloads land in its ``downloads``."""
    require_tools("chromium", "chromedriver", packages="chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        yield Browser(driver, downloads)
    finally:
        driver.quit()

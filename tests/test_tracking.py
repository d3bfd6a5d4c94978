"""genbench.tracking against a real sqlite MLflow store in a temp dir (no server, no network)."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from genbench.config import MlflowConfig, PresetConfig, RunConfig
from genbench.io import InputError
from genbench import tracking


def _run_cfg(seed: int = 0, experiment: str = "") -> RunConfig:
    return RunConfig(profile="test", dataset="mnist", preset="dcgan", seed=seed, device="cpu", threads=1,
                     spec=PresetConfig(family="dcgan"), mlflow=MlflowConfig(experiment=experiment))


def _tags(seed: int = 0) -> dict[str, str]:
    return {"data_version": "abc", "git_commit": "unknown", "family": "dcgan", "dataset": "mnist",
            "preset": "dcgan", "seed": str(seed), "profile": "test"}


def _client():
    from mlflow import MlflowClient

    return MlflowClient(tracking.tracking_uri(MlflowConfig()))


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="module")
def _migrated_db(tmp_path_factory) -> Path:
    """An empty, migrated store made once: the schema migration costs seconds per fresh database."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}")
    return path


@pytest.fixture()
def store(_migrated_db, tmp_path) -> Path:
    """``./mlflow.db`` (the default tracking URI) as a copy of the migrated template."""
    shutil.copy(_migrated_db, tmp_path / "mlflow.db")
    return tmp_path / "mlflow.db"


def test_training_run_logs_and_finishes(tmp_path, store):
    artifact = tmp_path / "grid.png"
    artifact.write_bytes(b"png")
    params = {"train": {"lr": 2e-4, "betas": [0.5, 0.999]}, "model": {}, "seed": 0, "long": "x" * 900}
    with tracking.TrainingRun(_run_cfg(), params=params, tags=_tags()) as run:
        for step in range(150):  # crosses the flush threshold once, the rest is flushed on exit
            run.log_metrics({"loss/g": step * 0.1, "loss/d": 1.0}, step=step)
        run.log_artifact(artifact, artifact_path="grids")
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    got = _client().get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "mnist/dcgan/seed0"
    assert got.data.params["train.lr"] == "0.0002"
    assert got.data.params["train.betas"] == "[0.5, 0.999]"
    assert got.data.params["model"] == "{}"
    assert len(got.data.params["long"]) == tracking.MAX_PARAM_CHARS
    assert got.data.tags["data_version"] == "abc" and "genbench.version" in got.data.tags
    assert len(_client().get_metric_history(run.run_id, "loss/g")) == 150
    assert got.data.metrics["loss/g"] == pytest.approx(14.9)
    assert (tmp_path / "mlruns" / "genbench-test").is_dir()
    assert [a.path for a in _client().list_artifacts(run.run_id, "grids")] == ["grids/grid.png"]


def test_exception_marks_failed_and_propagates(store):
    with pytest.raises(KeyboardInterrupt):
        with tracking.TrainingRun(_run_cfg(), params={}, tags=_tags()) as run:
            run.log_metrics({"loss": 1.0}, step=0)
            raise KeyboardInterrupt
    got = _client().get_run(run.run_id)
    assert got.info.status == "FAILED"
    assert got.data.metrics["loss"] == 1.0  # buffered values are still flushed


def test_final_metrics_keep_status_and_resume_reopens(store):
    with tracking.TrainingRun(_run_cfg(), params={"a": 1}, tags=_tags()) as run:
        run.log_metrics({"loss": 1.0}, step=0)
    tracking.log_final_metrics(run.run_id, {"ddim50/fd_domain": 3.5}, tracking_uri_cfg=MlflowConfig())
    got = _client().get_run(run.run_id)
    assert got.info.status == "FINISHED" and got.data.metrics["ddim50/fd_domain"] == 3.5
    with tracking.TrainingRun(_run_cfg(), params={"a": 1, "b": 2}, tags=_tags(),
                              resume_run_id=run.run_id) as resumed:
        resumed.log_metrics({"loss": 0.5}, step=1)
    assert resumed.run_id == run.run_id
    got = _client().get_run(run.run_id)
    assert got.info.status == "FINISHED" and got.data.params == {"a": "1", "b": "2"}
    with pytest.warns(UserWarning, match="not found"):  # e.g. resumed from a checkpoint made elsewhere
        with tracking.TrainingRun(_run_cfg(), params={}, tags=_tags(), resume_run_id="0" * 32) as fresh:
            pass
    assert fresh.run_id != run.run_id
    assert _client().get_run(fresh.run_id).data.tags["genbench.resumed_from"] == "0" * 32


def test_flatten_params_and_experiment_name():
    flat = tracking.flatten_params({"a": {"b": {"c": 1}, "d": None}, "e": (1, 2)})
    assert flat == {"a.b.c": "1", "a.d": "None", "e": "[1, 2]"}
    assert tracking.experiment_name(MlflowConfig(experiment="x"), "ci") == "x"
    assert tracking.experiment_name(MlflowConfig(), "ci") == "genbench-ci"


def test_tracking_uri_resolution(tmp_path, monkeypatch):
    assert tracking.tracking_uri(MlflowConfig()) == f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking.tracking_uri(MlflowConfig(tracking_uri="sqlite:////abs/x.db")) == "sqlite:////abs/x.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.tracking_uri(MlflowConfig()) == "http://127.0.0.1:5000"


def test_retry_locked_retries_then_raises(monkeypatch):
    monkeypatch.setattr(tracking, "RETRY_SECONDS", 0.3)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert tracking.retry_locked(flaky) == "ok" and len(calls) == 3
    with pytest.raises(RuntimeError, match="database is locked"):
        tracking.retry_locked(lambda: (_ for _ in ()).throw(RuntimeError("database is locked")))
    with pytest.raises(ValueError):  # other errors are not retried
        tracking.retry_locked(lambda: (_ for _ in ()).throw(ValueError("boom")))


N_PROCESSES, N_STEPS = 8, 500  # issue 7: eight jobs at once, 500 metric values each, on one sqlite file


def _log_from_process(args: tuple[str, int]) -> str:
    workdir, seed = args
    os.chdir(workdir)
    artifact = Path(f"notes{seed}.txt")
    artifact.write_text(f"process {seed}\n")
    with tracking.TrainingRun(_run_cfg(seed), params={"seed": seed, "train": {"lr": 1e-4 * seed}},
                              tags=_tags(seed)) as run:
        for step in range(N_STEPS):
            run.log_metrics({"loss": float(step) + seed / 10}, step=step)
            if step % 25 == 24:
                run.flush()  # many small writes per process, interleaved with the others'
        run.log_artifact(artifact)
    return run.run_id


@pytest.mark.slow  # parallel processes on one store
def test_parallel_processes_share_one_sqlite_store_and_lose_nothing(tmp_path):
    """From no database at all: the first migration and experiment creation race too."""
    with multiprocessing.get_context("spawn").Pool(N_PROCESSES) as pool:
        run_ids = pool.map(_log_from_process, [(str(tmp_path), seed) for seed in range(N_PROCESSES)])
    assert (tmp_path / "mlflow.db").is_file() and (tmp_path / "mlflow.db.lock").is_file()
    client = _client()
    assert len(set(run_ids)) == N_PROCESSES
    for seed, run_id in enumerate(run_ids):
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params["seed"] == str(seed) and run.data.params["train.lr"] == str(1e-4 * seed)
        history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "loss"))
        assert history == [(step, float(step) + seed / 10) for step in range(N_STEPS)]  # every value, once
        assert [a.path for a in client.list_artifacts(run_id)] == [f"notes{seed}.txt"]
    experiments = [e.name for e in client.search_experiments()]
    assert experiments.count("genbench-test") == 1


def test_data_version(tmp_path):
    assert tracking.data_version(tmp_path / "data.dvc") == "untracked"
    (tmp_path / "data.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef.dir\n  size: 42\n  nfiles: 3\n  hash: md5\n  path: data\n")
    assert tracking.data_version(Path("data.dvc")) == "0123456789abcdef.dir"
    (tmp_path / "bad.dvc").write_text("outs: []\n")
    with pytest.raises(InputError, match="bad.dvc"):
        tracking.data_version(tmp_path / "bad.dvc")


def test_git_commit_outside_git(tmp_path):
    assert tracking.git_commit() == "unknown"  # tmp_path is not inside a repository


@pytest.mark.slow  # a real process, sent SIGTERM
def test_sigterm_marks_the_run_failed(tmp_path, store):
    code = ("import os, signal, sys\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "import test_tracking as t\n"
            "from genbench import tracking\n"
            "with tracking.TrainingRun(t._run_cfg(), params={}, tags=t._tags()) as run:\n"
            "    print(run.run_id, flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n")
    result = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr[-2000:]
    assert _client().get_run(result.stdout.split()[0]).info.status == "FAILED"


def test_a_fresh_start_marks_the_killed_runs_of_its_name_killed(store):
    """A job killed outright (SIGKILL) before its first snapshot leaves its run RUNNING; the rerun, which
    starts from scratch, marks it KILLED. Runs of other names are not touched."""
    client = _client()
    experiment = client.create_experiment("genbench-test", artifact_location="mlruns/genbench-test")
    killed = client.create_run(experiment, run_name="mnist/dcgan/seed0").info.run_id
    other = client.create_run(experiment, run_name="mnist/dcgan/seed1").info.run_id
    with tracking.TrainingRun(_run_cfg(), params={}, tags=_tags()) as run:
        pass
    assert client.get_run(killed).info.status == "KILLED"
    assert client.get_run(other).info.status == "RUNNING"
    assert client.get_run(run.run_id).info.status == "FINISHED"


def test_pipeline_parent_run_nests_training_and_evaluation_runs(store):
    """onstart -> a parent run; training runs started meanwhile are its children; each evaluation is a child
    of its model's run with unprefixed metric names; onsuccess ends the parent FINISHED."""
    client = _client()
    parent = tracking.start_pipeline_run(MlflowConfig(), "test")
    with tracking.TrainingRun(_run_cfg(), params={}, tags=_tags()) as run:
        pass
    model = client.get_run(run.run_id)
    assert model.data.tags["mlflow.parentRunId"] == parent and model.data.tags["genbench.kind"] == "model"
    first = tracking.log_evaluation_run(MlflowConfig(), model_run_id=run.run_id, name="mnist/dcgan/seed0/direct",
                                        params={"sampler": "direct", "protocol": {"fd_domain": {"n_fake": 64}}},
                                        metrics={"fd_domain": 1.5})
    again = tracking.log_evaluation_run(MlflowConfig(), model_run_id=run.run_id, name="mnist/dcgan/seed0/direct",
                                        params={"sampler": "direct"}, metrics={"fd_domain": 1.25})
    assert client.get_run(first).info.lifecycle_stage == "deleted"  # a re-run evaluation replaces its child
    evaluation = client.get_run(again)
    assert evaluation.info.status == "FINISHED" and evaluation.data.metrics == {"fd_domain": 1.25}
    assert evaluation.data.tags["mlflow.parentRunId"] == run.run_id
    tracking.end_pipeline_run(MlflowConfig(), "FINISHED")
    assert client.get_run(parent).info.status == "FINISHED" and not tracking.PIPELINE_RUN_FILE.exists()
    # genbench compare sees the model run only
    assert [r["model"] for r in tracking.finished_runs(MlflowConfig(), "genbench-test")] == ["mnist/dcgan/seed0"]


def test_a_killed_invocations_parent_run_is_marked_killed_by_the_next(store):
    client = _client()
    killed = tracking.start_pipeline_run(MlflowConfig(), "test")  # no onsuccess/onerror: snakemake was killed
    following = tracking.start_pipeline_run(MlflowConfig(), "test")
    assert client.get_run(killed).info.status == "KILLED" and client.get_run(following).info.status == "RUNNING"
    tracking.end_pipeline_run(MlflowConfig(), "FAILED")
    assert client.get_run(following).info.status == "FAILED"
    with tracking.TrainingRun(_run_cfg(), params={}, tags=_tags()) as run:  # no pipeline: no parent tag
        pass
    assert "mlflow.parentRunId" not in client.get_run(run.run_id).data.tags

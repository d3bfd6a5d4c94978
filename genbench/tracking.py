"""MLflow mirror of training runs: the only genbench module that imports mlflow (lazily).

MLflow is for browsing; the files Snakemake tracks are the source of truth. Parallel jobs share one
sqlite file: store creation (first migration) and experiment creation are serialised with ``flock`` on
``<db>.lock``; every write is retried with backoff on "database is locked" and raised after ~60 s, never
dropped. Only ``MlflowClient`` is used (no fluent global state), so one process may hold several runs.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

import yaml

from genbench import __version__
from genbench.config import MlflowConfig, RunConfig
from genbench.io import InputError, read_json, write_json

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

T = TypeVar("T")
MAX_PARAM_CHARS = 500  # the strictest MLflow server limit on a param value (3.x allows 6000)
FLUSH_EVERY = 100  # buffered metric values per log_batch call (MLflow allows up to 1000)
RETRY_SECONDS = 60.0
_experiment_ids: dict[tuple[str, str], str] = {}  # (uri, experiment name) -> id, per process
# The parent run of the snakemake invocation now running here (written by its onstart handler); the runs of
# its jobs are its children in the MLflow UI (tag mlflow.parentRunId).
PIPELINE_RUN_FILE = Path(".snakemake/genbench-pipeline-run.json")
KIND_TAG = "genbench.kind"  # pipeline | model | evaluation


def tracking_uri(cfg: MlflowConfig) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the profile's URI; relative sqlite paths made absolute."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or cfg.tracking_uri
    path = _sqlite_path(uri)
    return f"sqlite:///{path}" if path else uri


def _sqlite_path(uri: str) -> Path | None:
    is_file = uri.startswith("sqlite:///") and not uri.endswith(":memory:")
    return Path(uri.removeprefix("sqlite:///")).absolute() if is_file else None  # sqlite:////abs keeps its '/'


def experiment_name(cfg: MlflowConfig, profile: str) -> str:
    return cfg.experiment or f"genbench-{profile}"


def retry_locked(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``, retrying with exponential backoff while sqlite says "database is locked"."""
    deadline, delay = time.monotonic() + RETRY_SECONDS, 0.05
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # MlflowException wrapping sqlite3.OperationalError
            if "database is locked" not in str(err) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 4.0)


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    db = _sqlite_path(uri)  # None: a server or another database serialises its own writes
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.lock", "a") if db else contextlib.nullcontext() as fh:
        if fh is not None:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed
        yield


def client_for(cfg: MlflowConfig):
    """An ``MlflowClient`` whose store exists and is migrated (created under the file lock)."""
    from mlflow import MlflowClient

    uri = tracking_uri(cfg)
    with _store_lock(uri):
        return retry_locked(MlflowClient, uri)


def _experiment_id(client, uri: str, name: str) -> str:
    key = (uri, name)
    if key not in _experiment_ids:
        with _store_lock(uri):
            experiment = retry_locked(client.get_experiment_by_name, name)
            location = (Path.cwd() / "mlruns" / name).as_uri() if _sqlite_path(uri) else None  # server: its default
            _experiment_ids[key] = (experiment.experiment_id if experiment is not None else
                                    retry_locked(client.create_experiment, name, artifact_location=location))
    return _experiment_ids[key]


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts -> dotted keys; values as strings cut to ``MAX_PARAM_CHARS``."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            text = json.dumps(value) if isinstance(value, (list, tuple, Mapping)) else str(value)
            flat[name] = text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."
    return flat


class TrainingRun:
    """One MLflow run per (dataset, preset, seed): FINISHED on normal exit, FAILED on any exception.

    ``with TrainingRun(cfg, params=to_dict(cfg), tags={...}) as run: run.log_metrics({...}, step)``
    """

    def __init__(self, run_cfg: RunConfig, *, params: Mapping[str, Any], tags: Mapping[str, Any],
                 resume_run_id: str | None = None) -> None:
        self.run_cfg = run_cfg
        self.params = flatten_params(params)
        self.tags = ({str(k): str(v) for k, v in tags.items()} | {"genbench.version": __version__, KIND_TAG: "model"}
                     | pipeline_parent_tags(run_cfg.mlflow))
        self.resume_run_id = resume_run_id
        self.run_id, self._client, self._buffer, self._old_sigterm = "", None, [], None
        self.logged_through = -1  # a reopened run: the last step it already has values for

    @property
    def name(self) -> str:
        return f"{self.run_cfg.dataset}/{self.run_cfg.preset}/seed{self.run_cfg.seed}"

    def __enter__(self) -> TrainingRun:
        cfg = self.run_cfg.mlflow
        self._client = client = client_for(cfg)
        experiment_id = _experiment_id(client, tracking_uri(cfg), experiment_name(cfg, self.run_cfg.profile))
        run = self._existing_run(self.resume_run_id) if self.resume_run_id else None
        logged = run.data.params if run is not None else None  # params of the reopened run
        if run is not None:
            retry_locked(client.update_run, run.info.run_id, status="RUNNING")
            self.logged_through = self._last_logged_step(run)
        else:
            self._mark_killed_runs(experiment_id)
            extra = {"genbench.resumed_from": self.resume_run_id} if self.resume_run_id else {}
            run = retry_locked(client.create_run, experiment_id, run_name=self.name, tags=self.tags | extra)
        self.run_id = run.info.run_id
        self._install_sigterm()
        try:
            self._log_params_and_tags(logged)
        except BaseException:
            self.__exit__(None, None, None, status="FAILED")
            raise
        return self

    def _mark_killed_runs(self, experiment_id: str) -> None:
        """Runs of this name still RUNNING belong to jobs killed outright before their first resume snapshot
        (SIGKILL leaves a job no chance to end its run; one with a snapshot is reopened instead): mark them
        KILLED, so that none looks alive or finished."""
        stale = retry_locked(self._client.search_runs, [experiment_id],
                             filter_string=f"attributes.run_name = '{self.name}' and attributes.status = 'RUNNING'")
        for run in stale:
            retry_locked(self._client.set_terminated, run.info.run_id, status="KILLED")

    def _existing_run(self, run_id: str):
        from mlflow.exceptions import MlflowException

        try:
            return retry_locked(self._client.get_run, run_id)
        except MlflowException as err:  # e.g. resumed on another machine with its own store
            warnings.warn(f"MLflow run {run_id} not found ({err.error_code}); starting a new run")

    def _last_logged_step(self, run) -> int:
        """A resumed job replays the steps between its snapshot and the interruption: the values the run
        already holds for them are the same (exact resume), so they are skipped, not logged twice."""
        steps = [m.step for key in run.data.metrics
                 for m in retry_locked(self._client.get_metric_history, run.info.run_id, key)]
        return max(steps, default=-1)

    def _log_params_and_tags(self, logged: Mapping[str, str] | None) -> None:
        from mlflow.entities import Param, RunTag

        tags = [RunTag(k, v) for k, v in self.tags.items()] if logged is not None else []  # new runs have them
        logged = logged or {}
        changed = sorted(k for k, v in self.params.items() if k in logged and logged[k] != v)
        if changed:  # MLflow params are immutable: keep the originals and say which differ
            warnings.warn(f"resumed run {self.run_id}: params differ from the original run: {', '.join(changed)}")
        params = [Param(k, v) for k, v in self.params.items() if k not in logged]
        for i in range(0, max(len(params), len(tags)), 100):  # MLflow: <= 100 params and 100 tags a batch
            retry_locked(self._client.log_batch, self.run_id, params=params[i:i + 100], tags=tags[i:i + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if step <= self.logged_through:
            return
        self._buffer.extend(_metric_entities(metrics, step))
        if len(self._buffer) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        _log_metric_batches(self._client, self.run_id, self._buffer)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        retry_locked(self._client.log_artifact, self.run_id, str(path), artifact_path)

    def __exit__(self, exc_type, exc, tb, *, status: str | None = None) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None
        status = status or ("FINISHED" if exc_type is None else "FAILED")
        try:
            self.flush()
        except Exception as err:
            status = "FAILED"
            if exc_type is None:  # no exception in flight: the lost metrics are the error to report
                raise
            warnings.warn(f"MLflow run {self.run_id}: could not log {len(self._buffer)} metric values ({err})")
        finally:
            retry_locked(self._client.set_terminated, self.run_id, status)

    # Snakemake and SLURM cancel jobs with SIGTERM, which by default skips __exit__: make it a
    # SystemExit so the run is marked FAILED instead of staying RUNNING forever (restored in __exit__).
    def _install_sigterm(self) -> None:
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                self._old_sigterm = signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))


def start_pipeline_run(cfg: MlflowConfig, profile: str, *, record: Path = PIPELINE_RUN_FILE) -> str:
    """The parent run of one snakemake invocation (onstart): ``pipeline <UTC time>`` in the profile's
    experiment. One left RUNNING by a killed snakemake (still in ``record``) is marked KILLED first."""
    client = client_for(cfg)
    _end_recorded_run(client, record, "KILLED", only_if_running=True)
    experiment_id = _experiment_id(client, tracking_uri(cfg), experiment_name(cfg, profile))
    tags = {KIND_TAG: "pipeline", "profile": profile, "git_commit": git_commit(), "data_version": data_version(),
            "genbench.version": __version__}
    run = retry_locked(client.create_run, experiment_id, run_name=f"pipeline {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}",
                       tags=tags)
    write_json(record, {"run_id": run.info.run_id, "tracking_uri": tracking_uri(cfg)})
    return run.info.run_id


def end_pipeline_run(cfg: MlflowConfig, status: str, *, record: Path = PIPELINE_RUN_FILE) -> None:
    """FINISHED (onsuccess) or FAILED (onerror) for the invocation's parent run; the record is removed."""
    _end_recorded_run(client_for(cfg), record, status)


def _end_recorded_run(client, record: Path, status: str, *, only_if_running: bool = False) -> None:
    if not record.is_file():
        return
    run_id = read_json(record)["run_id"]
    from mlflow.exceptions import MlflowException

    try:
        current = retry_locked(client.get_run, run_id).info.status
    except MlflowException:  # another store (MLFLOW_TRACKING_URI changed): nothing of ours to end
        current = None
    if current is not None and (current == "RUNNING" or not only_if_running):
        retry_locked(client.set_terminated, run_id, status)
    record.unlink(missing_ok=True)


def pipeline_parent_tags(cfg: MlflowConfig, *, record: Path = PIPELINE_RUN_FILE) -> dict[str, str]:
    """``{'mlflow.parentRunId': <id>}`` when a pipeline run on the same store is recorded here, else ``{}``
    (a job run by hand, or by a snakemake whose parent run lives elsewhere)."""
    if not record.is_file():
        return {}
    parent = read_json(record)
    return {"mlflow.parentRunId": parent["run_id"]} if parent.get("tracking_uri") == tracking_uri(cfg) else {}


def log_evaluation_run(cfg: MlflowConfig, *, model_run_id: str, name: str, params: Mapping[str, Any],
                       metrics: Mapping[str, float], tags: Mapping[str, str] | None = None) -> str:
    """A child run of the model's run for one evaluation (one sampler setting): unprefixed metric names
    (``fd_domain``), so MLflow's compare view lines up evaluations across families. A re-run evaluation
    replaces (deletes) the earlier child of the same name; FAILED if logging fails part-way."""
    client = client_for(cfg)
    model_run = retry_locked(client.get_run, model_run_id)
    experiment_id = model_run.info.experiment_id
    earlier = retry_locked(client.search_runs, [experiment_id], filter_string=(
        f"tags.`mlflow.parentRunId` = '{model_run_id}' and attributes.run_name = '{name}'"))
    for run in earlier:
        retry_locked(client.delete_run, run.info.run_id)
    tags = {KIND_TAG: "evaluation", "mlflow.parentRunId": model_run_id, "genbench.version": __version__,
            **(tags or {})}
    run_id = retry_locked(client.create_run, experiment_id, run_name=name, tags=tags).info.run_id
    status = "FAILED"
    try:
        from mlflow.entities import Param

        flat = [Param(k, v) for k, v in flatten_params(params).items()]
        for i in range(0, len(flat), 100):
            retry_locked(client.log_batch, run_id, params=flat[i:i + 100])
        _log_metric_batches(client, run_id, _metric_entities(metrics, 0))
        status = "FINISHED"
    finally:
        retry_locked(client.set_terminated, run_id, status)
    return run_id


def log_final_metrics(run_id: str, metrics: Mapping[str, float], *, tracking_uri_cfg: MlflowConfig,
                      step: int = 0) -> None:
    """Attach evaluation results (``ddim50/fd_domain`` ...) to a run; its status is left unchanged."""
    _log_metric_batches(client_for(tracking_uri_cfg), run_id, _metric_entities(metrics, step))


def _metric_entities(metrics: Mapping[str, float], step: int) -> list:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(key, float(value), now, int(step)) for key, value in metrics.items()]


def _log_metric_batches(client, run_id: str, metrics: list) -> None:
    """Send and remove ``metrics`` in batches of MLflow's maximum; what failed stays in the list."""
    while metrics:
        batch = metrics[:1000]
        retry_locked(client.log_batch, run_id, metrics=batch)
        del metrics[: len(batch)]


def finished_runs(cfg: MlflowConfig, experiment: str) -> list[dict[str, Any]]:
    """Every FINISHED run of ``experiment`` (search_runs, by run name) as ``{'model', 'tags', 'metrics'}``
    with each metric's last value: what ``genbench compare`` tabulates."""
    client = client_for(cfg)
    found = retry_locked(client.get_experiment_by_name, experiment)
    if found is None:
        known = ", ".join(sorted(e.name for e in retry_locked(client.search_experiments))) or "none"
        raise InputError(f"{tracking_uri(cfg)}: no MLflow experiment '{experiment}' (known: {known}); "
                         "give --experiment, or the profile whose runs to compare")
    rows, token = [], None
    while True:
        page = retry_locked(client.search_runs, [found.experiment_id], "attributes.status = 'FINISHED'",
                            max_results=1000, order_by=["attributes.run_name ASC"], page_token=token)
        rows += [{"model": run.info.run_name, "tags": dict(run.data.tags), "metrics": dict(run.data.metrics)}
                 for run in page if run.data.tags.get(KIND_TAG, "model") == "model"]
        token = page.token
        if not token:
            return rows


def log_artifact_to_run(run_id: str, path: str | Path, artifact_path: str | None = None, *,
                        tracking_uri_cfg: MlflowConfig) -> None:
    retry_locked(client_for(tracking_uri_cfg).log_artifact, run_id, str(path), artifact_path)


def data_version(dvc_file: Path = Path("data.dvc")) -> str:
    """The md5 DVC records for the first output of ``data.dvc``; "untracked" without that file."""
    dvc_file = Path(dvc_file)
    if not dvc_file.is_file():
        return "untracked"
    try:
        return str(yaml.safe_load(dvc_file.read_text())["outs"][0]["md5"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError):
        raise InputError(f"{dvc_file}: no 'outs[0].md5'; re-create it with `dvc add data`") from None


def git_commit() -> str:
    """``git rev-parse HEAD`` plus "-dirty" when tracked files changed; "unknown" outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()

    try:
        return git("rev-parse", "HEAD") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"

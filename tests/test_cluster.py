"""The DAG beyond one process: runs logged to an MLflow server on 127.0.0.1, and every cluster rule run as
a SLURM job on a one-node cluster brought up here (Debian slurm-wlm + munge, workflow/profiles/slurm).

Both run a one-model cut of params/ci.yaml (DCGAN on MNIST, domain features) on MNIST prepared once for this
file, so that each costs a few minutes, not another full smoke run.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import BIN, REPO, copy_workflow, require_tools, snakemake

PROFILE = ("--configfile", "params/cluster.yaml")
CLUSTER_RULES = {"train_domain_classifier", "reference_features", "train", "sample", "evaluate"}
CONF_MARKER = "# genbench test cluster"

pytestmark = pytest.mark.slow


def cut_of_ci(workdir: Path) -> None:
    """params/cluster.yaml: params/ci.yaml reduced to DCGAN (its 'direct' sampler) on MNIST in the domain
    feature space: 7 jobs."""
    ci = yaml.safe_load((REPO / "params/ci.yaml").read_text())
    profile = {**ci, "profile": "cluster", "presets": ["dcgan"], "preset_datasets": {},
               "evaluation": {**ci["evaluation"], "feature_spaces": ["domain"]},
               "experiments": {"walks": {"enabled": False}, "style_transfer": {"enabled": False}},
               "memorisation": {"enabled": False}, "training_curve": {"enabled": False}, "likelihood": {"presets": []},
               "overrides": {"dcgan": {**ci["overrides"]["dcgan"], "samplers": {"trunc1": None, "trunc05": None}}}}
    (workdir / "params/cluster.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))


@pytest.fixture(scope="module")
def mnist_data(tmp_path_factory) -> Path:
    """MNIST prepared by the data rule's command once for this file (the package file cached in the repo's
    .cache/downloads), so that this file runs on its own pytest-xdist worker beside the smoke run."""
    out = tmp_path_factory.mktemp("data") / "mnist"
    subprocess.run([str(BIN / "genbench"), "prepare-data", "mnist", "--out", str(out), "--cache",
                    str(REPO / ".cache/downloads")], check=True, capture_output=True)
    return out


@pytest.fixture()
def small_workflow(mnist_data: Path, tmp_path: Path) -> Path:
    workdir = copy_workflow(tmp_path / "wf")
    shutil.copytree(mnist_data, workdir / "data/mnist")
    cut_of_ci(workdir)
    return workdir


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group we started, SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(check, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture()
def mlflow_server(tmp_path: Path):
    """``mlflow server`` as the README documents it, bound to 127.0.0.1 on a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp_path / "mlflow-server.log", "w")
    server = subprocess.Popen([str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                               "--artifacts-destination", str(tmp_path / "server-artifacts")],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                              env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    uri = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert server.poll() is None, (tmp_path / "mlflow-server.log").read_text()[-2000:]
        try:
            return urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_until(healthy, "mlflow server")
        yield uri
    finally:
        stop(server)
        log.close()


def test_pipeline_runs_reach_an_mlflow_server(small_workflow: Path, mlflow_server: str) -> None:
    from mlflow import MlflowClient

    result = snakemake(small_workflow, "reports/all", "--cores", "2", *PROFILE,
                       env_extra={"MLFLOW_TRACKING_URI": mlflow_server})
    assert result.returncode == 0, result.stderr[-4000:]
    client = MlflowClient(mlflow_server)
    runs = client.search_runs([client.get_experiment_by_name("genbench-cluster").experiment_id])
    by_kind = {kind: [r for r in runs if r.data.tags["genbench.kind"] == kind]
               for kind in ("pipeline", "model", "evaluation")}
    assert sorted(map(len, by_kind.values())) == [1, 1, 1] and len(runs) == 3
    (pipeline,), (run,), (evaluation,) = by_kind.values()
    assert run.info.run_name == "mnist/dcgan/seed0" and run.info.status == "FINISHED"
    assert run.data.tags["mlflow.parentRunId"] == pipeline.info.run_id and pipeline.info.status == "FINISHED"
    assert {"loss_d", "direct/fd_domain", "direct/precision_domain"} <= set(run.data.metrics)
    assert evaluation.data.tags["mlflow.parentRunId"] == run.info.run_id
    assert {"fd_domain", "precision_domain"} <= set(evaluation.data.metrics)
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["grid.png"]
    assert not (small_workflow / "mlflow.db").exists()  # nothing went to the default local store


@pytest.fixture()
def slurm(tmp_path: Path):
    """A one-node cluster on loopback (DESIGN.md's settings; tests/cluster/); the daemons it starts are
    stopped by PID afterwards."""
    require_tools("slurmctld", "slurmd", "munged", packages="slurm-wlm and munge")
    conf_dir = Path("/etc/slurm")
    conf = conf_dir / "slurm.conf"
    if conf.exists() and CONF_MARKER not in conf.read_text():
        pytest.skip(f"{conf} is another cluster's configuration; not replacing it")
    state = tmp_path / "slurm"
    (state / "state").mkdir(parents=True)
    (state / "spool").mkdir()
    conf_dir.mkdir(exist_ok=True)
    template = (REPO / "tests/cluster/slurm.conf.in").read_text()
    conf.write_text(template.replace("@HOSTNAME@", socket.gethostname()).replace("@STATE_DIR@", str(state)))
    shutil.copy(REPO / "tests/cluster/gres.conf", conf_dir / "gres.conf")
    Path("/run/munge").mkdir(exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    daemons = []
    try:
        for name, command in (
                ("munged", ["setpriv", "--reuid=munge", "--regid=munge", "--init-groups", "/usr/sbin/munged", "-F"]),
                ("slurmctld", ["slurmctld", "-D"]), ("slurmd", ["slurmd", "-D", "-N", "localhost"])):
            with open(state / f"{name}.out", "w") as log:
                daemons.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            time.sleep(1)
        idle = lambda: "idle" in subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True,  # noqa: E731
                                                text=True).stdout
        wait_until(idle, "the SLURM node to be idle", timeout=90)
        yield state
    finally:
        for daemon in reversed(daemons):
            stop(daemon)
        # Snakemake's SLURM plugin runs `scontrol show config` whenever it is imported, i.e. at every snakemake
        # start on this machine: with the controller gone that waits MessageTimeout (10 s) for it. Leave the
        # client a 1 s timeout (measured: 9.0 s -> 0.0 s) so later snakemake runs here start as fast as before.
        conf.write_text(conf.read_text() + "MessageTimeout=1  # the cluster test has ended: fail fast\n")


def jobs_by_rule(output: str) -> dict[str, tuple[str, str]]:
    """Snakemake job id -> ('rule' | 'localrule', rule name), from the job blocks Snakemake prints."""
    jobs = {}
    for block in re.finditer(r"^(localrule|rule) (\w+):\n((?:    .*\n)+)", output, flags=re.M):
        jobid = re.search(r"^    jobid: (\d+)$", block.group(3), flags=re.M)
        if jobid:
            jobs[jobid.group(1)] = (block.group(1), block.group(2))
    return jobs


def test_every_cluster_rule_runs_as_a_slurm_job(small_workflow: Path, slurm: Path) -> None:
    result = snakemake(small_workflow, "reports/all", "--profile", "workflow/profiles/slurm", *PROFILE,
                       "--jobs", "2", "--slurm-init-seconds-before-status-checks", "5", "--latency-wait", "10",
                       timeout=1500)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    jobs = jobs_by_rule(output)
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output))
    assert {jobs[job][1] for job in submitted} == CLUSTER_RULES
    assert set(submitted) == {job for job, (kind, _) in jobs.items() if kind == "rule"}  # every cluster job
    assert "report" in {name for kind, name in jobs.values() if kind == "localrule"}
    for slurm_id in submitted.values():  # finished jobs stay known to slurmctld for MinJobAge (10 min)
        info = subprocess.run(["scontrol", "show", "job", slurm_id], capture_output=True, text=True).stdout
        assert "JobState=COMPLETED" in info, info
    assert (small_workflow / "reports/all/index.html").is_file()

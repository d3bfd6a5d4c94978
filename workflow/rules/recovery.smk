# After a snakemake killed outright (kill -9, preemption), the same command picks up: the dead run's lock
# is removed and its incomplete jobs rerun, as --unlock --rerun-incomplete would (genbench.recovery);
# training jobs resume from their snapshots.
from genbench import recovery, tracking, worker
from genbench.data.versioning import store_in_dvc_cache

if not (workflow.remote_exec or workflow.subprocess_exec):
    _rerun = recovery.recover()
    if _rerun is not None:
        print(f"genbench: the last snakemake here was killed; removed its lock and {len(_rerun)} incomplete "
              "outputs, whose jobs run again", file=sys.stderr)


# One MLflow parent run per invocation (genbench.tracking): the runs of its training jobs are its children.
# A local run's genbench commands go through one warm worker (genbench.worker; the profile's `worker` key).
WORKER = []


onstart:
    recovery.claim()
    tracking.start_pipeline_run(PROFILE.mlflow, PROFILE.profile)
    if PROFILE.worker and workflow.local_exec:
        WORKER.append(worker.start())


onsuccess:
    for server in WORKER:
        worker.stop(server)
    tracking.end_pipeline_run(PROFILE.mlflow, "FINISHED")
    recovery.release()
    store_in_dvc_cache()  # data/ into the DVC cache if it matches data.dvc: `dvc status` clean, `dvc push` works


onerror:
    for server in WORKER:
        worker.stop(server)
    tracking.end_pipeline_run(PROFILE.mlflow, "FAILED")
    recovery.release()
    store_in_dvc_cache()  # the data rules may have finished before another job failed

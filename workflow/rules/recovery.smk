# After a snakemake killed outright (kill -9, preemption), the same command picks up: the dead run's lock
# is removed and its incomplete jobs rerun, as --unlock --rerun-incomplete would (genbench.recovery);
# training jobs resume from their snapshots.
from genbench import recovery

if not (workflow.remote_exec or workflow.subprocess_exec):
    _killed = recovery.recover()
    if _killed is not None:
        workflow.dag_settings.force_incomplete = True
        print(f"genbench: snakemake (pid {_killed['pid']}) was killed here; removed its lock and rerunning "
              "the jobs it left incomplete", file=sys.stderr)


onstart:
    recovery.claim()


onsuccess:
    recovery.release()


onerror:
    recovery.release()

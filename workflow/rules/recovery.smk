# After a snakemake killed outright (kill -9, preemption), the same command picks up: the dead run's lock
# is removed and its incomplete jobs rerun, as --unlock --rerun-incomplete would (genbench.recovery);
# training jobs resume from their snapshots.
from genbench import recovery

if not (workflow.remote_exec or workflow.subprocess_exec):
    _rerun = recovery.recover()
    if _rerun is not None:
        print(f"genbench: the last snakemake here was killed; removed its lock and {len(_rerun)} incomplete "
              "outputs, whose jobs run again", file=sys.stderr)


onstart:
    recovery.claim()


onsuccess:
    recovery.release()


onerror:
    recovery.release()

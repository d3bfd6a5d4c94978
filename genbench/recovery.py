"""Picking up after a ``snakemake`` that was killed outright: the same command runs again as it is.

A ``snakemake`` killed with SIGKILL (``kill -9``, a preempted login job, an out-of-memory kill) leaves its
working-directory lock and the 'incomplete' marks of the jobs it was running, so the next ``snakemake``
stops with "Directory cannot be locked" or asks for ``--rerun-incomplete``. The Snakefile records which
process holds the lock (``claim`` in ``onstart``, ``release`` when it ends); a later run that finds that
process gone *from this host* removes the lock it left and reruns the incomplete jobs, as
``--unlock`` and ``--rerun-incomplete`` would. Training jobs then resume from their snapshots
(genbench.train.resume). A lock held by a live process, or by a process on another host (a shared
filesystem), is left alone: Snakemake's own error stands.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

OWNER_FILE = Path(".snakemake/genbench-owner.json")
LOCK_DIR = Path(".snakemake/locks")  # Snakemake's file persistence; what `snakemake --unlock` removes


def claim(owner_file: Path = OWNER_FILE) -> None:
    """Record this process (the running ``snakemake``) as the lock's holder."""
    owner_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = owner_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    tmp.replace(owner_file)


def release(owner_file: Path = OWNER_FILE) -> None:
    owner_file.unlink(missing_ok=True)


def dead_owner(owner_file: Path = OWNER_FILE) -> dict | None:
    """The recorded holder if it was a process on this host that no longer exists; else None."""
    try:
        owner = json.loads(owner_file.read_text())
        host, pid = owner["host"], int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no record (a clean end), or not ours to judge
    if host != socket.gethostname() or pid == os.getpid() or _alive(pid):
        return None
    return owner


def recover(owner_file: Path = OWNER_FILE, lock_dir: Path = LOCK_DIR) -> dict | None:
    """Remove the lock a dead holder left; returns that holder (the caller then reruns incomplete jobs).

    The record itself stays until the next real run claims it, so a dry run in between does not hide
    the incomplete jobs from that run."""
    owner = dead_owner(owner_file)
    if owner is not None:
        shutil.rmtree(lock_dir, ignore_errors=True)
    return owner


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True

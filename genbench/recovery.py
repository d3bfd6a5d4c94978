"""Picking up after a ``snakemake`` that was killed outright: the same command runs again as it is.

A ``snakemake`` killed with SIGKILL (``kill -9``, a preempted login job, an out-of-memory kill) leaves its
working-directory lock and the 'incomplete' marks of the jobs it was running, so the next ``snakemake``
stops with "Directory cannot be locked" or asks for ``--rerun-incomplete``. The Snakefile records which
process holds the lock (``claim`` in ``onstart``, ``release`` when it ends); a later run that finds that
process gone *from this host* does what ``--unlock`` and ``--rerun-incomplete`` would: removes the lock
and deletes the outputs marked incomplete with their marks, so those jobs run again. Training jobs then
resume from their snapshots (genbench.train.resume), which are not outputs. A lock held by a live
process, or by a process on another host (a shared filesystem), is left alone: Snakemake's error stands.

This runs while the Snakefile is read, before Snakemake says whether it is a dry run, so a ``-n`` after a
kill recovers too (it deletes only outputs that would be rebuilt anyway).

The lock and marks are Snakemake's file persistence under ``.snakemake/`` (Snakemake 9); a mark this
module cannot read is left for Snakemake to report.
"""
from __future__ import annotations

import binascii
import json
import os
import shutil
import socket
from base64 import urlsafe_b64decode
from pathlib import Path

OWNER_FILE = Path(".snakemake/genbench-owner.json")
LOCK_DIR = Path(".snakemake/locks")  # what `snakemake --unlock` removes
INCOMPLETE_DIR = Path(".snakemake/incomplete")  # one mark per output of a running job


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


def recover(owner_file: Path = OWNER_FILE, lock_dir: Path = LOCK_DIR,
            incomplete_dir: Path = INCOMPLETE_DIR) -> list[Path] | None:
    """After a dead holder: remove its lock, rerun its incomplete jobs; returns their outputs that were
    deleted (None when there was no dead holder, and nothing was touched)."""
    if dead_owner(owner_file) is None:
        return None
    shutil.rmtree(lock_dir, ignore_errors=True)
    deleted = rerun_incomplete(incomplete_dir)
    owner_file.unlink(missing_ok=True)
    return deleted


def rerun_incomplete(incomplete_dir: Path = INCOMPLETE_DIR, workdir: Path | None = None) -> list[Path]:
    """Delete every output marked incomplete (inside ``workdir``) and its mark, as ``--rerun-incomplete``
    does before it reruns the job."""
    workdir = (workdir or Path.cwd()).resolve()
    deleted = []
    for mark in sorted(p for p in incomplete_dir.rglob("*") if p.is_file() and p.name != "migration_underway"):
        output = marked_output(mark.relative_to(incomplete_dir))
        if output is None or not (workdir / output).resolve().is_relative_to(workdir):
            continue  # not a mark this module can read, or not ours to delete: Snakemake reports it
        target = workdir / output
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        mark.unlink()
        deleted.append(output)
    return deleted


def marked_output(mark: Path) -> Path | None:
    """The output path a mark stands for: its path's parts are chunks of the path's urlsafe base64, all
    but the last prefixed with '@' (snakemake.persistence.file._record_path)."""
    *chunks, last = mark.parts
    if not all(chunk.startswith("@") for chunk in chunks):
        return None
    try:
        return Path(urlsafe_b64decode("".join(c[1:] for c in chunks) + last).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True

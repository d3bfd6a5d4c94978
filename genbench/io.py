"""Atomic, deterministic file writes and checked reads.

Every output a Snakemake rule declares is written to a temp file beside it and renamed into place, so
a killed job never leaves a file that looks complete. ``.npz`` files are written with fixed zip
timestamps so identical arrays give identical bytes (the DVC hash of ``data/`` depends on it).
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_TMP_SUFFIX = ".tmp"  # atomic_path's temp files: .{name}.{random}.tmp beside the target
_UMASK = os.umask(0)
os.umask(_UMASK)


class InputError(ValueError):
    """A bad input file a user can fix; ``str(e)`` is the one-line message naming the path."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path in the target's folder; rename it onto ``path`` only if the block succeeds.

    First removes the temp files an earlier writer of ``path`` left when it was SIGKILLed (its ``finally``
    never ran): one Snakemake job writes each output, so the rerun that replaces the output owns them too,
    and they would otherwise stay beside it (and in ``dvc add data``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in stale_temporaries(path):
        leftover.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs should be as readable as any other file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def stale_temporaries(path: str | Path) -> list[Path]:
    """The temp files ``atomic_path`` made for ``path`` that are still there (a killed writer's)."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*{_TMP_SUFFIX}"))


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err.msg}); delete it and re-run its rule") from None


def save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Deterministic ``np.savez_compressed``: sorted members, fixed timestamps, atomic rename."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            array = np.asarray(arrays[name])  # not ascontiguousarray: it turns 0-d arrays into 1-d ones
            np.lib.format.write_array(buf, array if array.flags.c_contiguous else array.copy(), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=6)


def load_npz(path: str | Path, *, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` (no pickles); a missing, truncated or incomplete file is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found; run the rule that makes it (e.g. snakemake {path})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: unreadable or truncated .npz ({err}); delete it and re-run its rule") from None
    missing = [name for name in required if name not in arrays]
    if missing:
        raise InputError(f"{path}: missing array '{missing[0]}' (has: {', '.join(sorted(arrays)) or 'none'})")
    return arrays


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()

"""``data/`` as DVC versions it: prepared files checked against their ``meta.json`` before any job reads them,
and the DVC cache filled after a run, so that ``dvc status`` is clean and ``dvc push`` has something to send.

Both run inside the Snakemake process, the check at parse time (workflow/rules/data.smk) and the cache fill in
the onsuccess/onerror hooks (workflow/rules/recovery.smk), so both are cheap when nothing changed: sha256
results are cached by (path, size, mtime_ns), and the cache fill stops after a stat once DVC holds the data.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from genbench.data.base import META
from genbench.io import InputError, read_json, sha256_file, write_json

CHECKSUM_CACHE = Path(".cache/data-sha256.json")


def check_prepared(data_root: Path = Path("data"), cache_file: Path = CHECKSUM_CACHE) -> None:
    """Raise ``InputError`` naming the first prepared file whose sha256 differs from the one its ``meta.json``
    records. A damaged file would otherwise fail every job that reads it, after Snakemake planned them all.
    Missing files are not an error: Snakemake reruns the data rule that makes them."""
    cached = _read_cache(cache_file)
    checked = {}
    for meta in sorted(Path(data_root).glob(f"*/{META}")):
        for name, expected in read_json(meta).get("sha256", {}).items():
            path = meta.parent / name
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            stamp = [stat.st_size, stat.st_mtime_ns]
            entry = cached.get(str(path))
            digest = entry[2] if entry and entry[:2] == stamp else sha256_file(path)
            if digest != expected:
                raise InputError(f"{path}: damaged (its sha256 differs from {meta}); delete it, then `dvc checkout "
                                 f"data` restores it from the DVC cache, or the next snakemake run rebuilds it")
            checked[str(path)] = [*stamp, digest]
    if checked != cached:
        write_json(cache_file, checked)


def _read_cache(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: hashing again costs a second, once


def store_in_dvc_cache(root: Path = Path(".")) -> None:
    """Put ``data/`` into the DVC cache when it is exactly what ``data.dvc`` records, saying so in one line on
    stderr (or why DVC refused); silent when there is nothing to do.

    ``dvc commit`` without ``--force`` refuses to rewrite ``data.dvc`` for a ``data/`` that differs, so a partial
    run (a target that prepared some of the datasets) never changes the committed pointer; the file count and
    size ``data.dvc`` records spare such runs DVC's start-up (a second)."""
    root = Path(root)
    try:
        out = yaml.safe_load((root / "data.dvc").read_text())["outs"][0]
        md5, nfiles, size, folder = out["md5"], out["nfiles"], out["size"], root / out["path"]
    except (OSError, yaml.YAMLError, LookupError, TypeError):
        return  # no DVC pointer here: nothing to store
    if not (root / ".dvc").is_dir() or _in_cache(root, md5):
        return
    files = [p for p in folder.rglob("*") if p.is_file()]
    if (len(files), sum(p.stat().st_size for p in files)) != (nfiles, size):
        return  # partial (or other) data/: DVC would only refuse
    dvc = shutil.which("dvc", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if dvc is None:
        return
    result = subprocess.run([dvc, "commit", "data.dvc"], cwd=root, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if result.returncode == 0:
        print("genbench: data/ matches data.dvc and is now in the DVC cache (`dvc push` uploads it)", file=sys.stderr)
    else:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"genbench: data/ is not in the DVC cache (dvc commit data.dvc: {reason}); `dvc status` shows why",
              file=sys.stderr)


def _in_cache(root: Path, dir_md5: str) -> bool:
    """Whether DVC's cache in ``root/.dvc/cache`` holds the directory ``dir_md5`` and every file it lists: a dozen
    stats instead of DVC's start-up. (A cache.dir set elsewhere only costs a `dvc commit` with nothing to do.)"""
    def cached(md5: str) -> Path:
        return root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    try:
        return all(cached(entry["md5"]).is_file() for entry in json.loads(cached(dir_md5).read_text()))
    except (OSError, ValueError, LookupError, TypeError):
        return False

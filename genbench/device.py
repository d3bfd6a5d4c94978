"""Device and thread selection shared by every job (``--device auto|cpu|cuda``)."""
from __future__ import annotations

import torch

from genbench.config import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' was asked for but no CUDA device is visible; set device: auto or cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"device: must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def set_threads(threads: int) -> None:
    """Match torch's intra-op threads to the Snakemake job's ``threads`` so parallel jobs don't oversubscribe."""
    torch.set_num_threads(max(1, threads))

"""Progress lines for a job's log: tqdm's meter (percent, bar, count, elapsed<ETA, rate) plus the losses.

One full line per log step instead of tqdm's carriage-return redraws, so that a rule's log file (and
``tail -f`` on it, or a SLURM job's output) reads line by line.
"""
from __future__ import annotations

import time
from typing import Mapping

from tqdm import tqdm

__all__ = ["Progress"]


class Progress:
    """``line(step, losses)``: where a job of ``total`` steps stands; the rate counts only the steps run since
    this process started (a resumed job starts at ``first_step``), so the ETA is honest after a resume."""

    def __init__(self, total: int, *, first_step: int = 0, unit: str = "step", clock=time.perf_counter):
        self.total, self.first_step, self.unit, self._clock = total, first_step, unit, clock
        self._started = clock()

    def line(self, step: int, losses: Mapping[str, float] | None = None) -> str:
        postfix = ", ".join(f"{k}={v:.4g}" for k, v in (losses or {}).items()) or None
        return tqdm.format_meter(step, self.total, self._clock() - self._started, ncols=120, ascii=True,
                                 unit=self.unit, initial=self.first_step, postfix=postfix)

"""Diffusion samplers by algorithm name, one file each (``ddpm.py``, ``ddim.py``).

Adding a sampler = one file here that subclasses ``Sampler``, decorates it with
``@SAMPLERS.register("<algo>")``, and one import line below.
"""
from __future__ import annotations

from genbench.config import SamplerConfig
from genbench.registry import Registry
from genbench.samplers.base import Sampler
from genbench.samplers.schedule import NoiseSchedule

SAMPLERS: Registry[type[Sampler]] = Registry("sampler")


def make_sampler(cfg: SamplerConfig, schedule: NoiseSchedule, *, source: str = "", clip_x0: bool = True) -> Sampler:
    """The sampler ``cfg.algo`` over ``cfg.steps`` timesteps (0 = all of the schedule's T); ``clip_x0`` for
    data in [-1, 1] (pixels), off for a latent space."""
    sampler = SAMPLERS.get(cfg.algo, source=source).from_config(cfg, schedule, clip_x0=clip_x0)
    sampler.set_timesteps(cfg.steps or schedule.num_timesteps)
    return sampler


# Registration happens on import; keep this list alphabetical.
from genbench.samplers import ddim, ddpm  # noqa: E402,F401

__all__ = ["SAMPLERS", "NoiseSchedule", "Sampler", "make_sampler"]

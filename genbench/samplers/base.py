"""What every diffusion sampler shares: the timestep subsequence and its alpha-bar values.

A sampler is separate from the network and from the schedule (as in diffusers' schedulers), so one trained
eps-model can be sampled with any registered algorithm and any number of steps:

    x = randn(...)
    for t in sampler.timesteps:
        x = sampler.step(net(x, t), t, x, generator=generator)
"""
from __future__ import annotations

import torch

from genbench.config import SamplerConfig
from genbench.samplers.schedule import NoiseSchedule


class Sampler:
    """Base class: subclasses implement ``step`` and ``from_config``.

    After ``set_timesteps(k)``, ``timesteps`` holds k training timesteps in descending order and, for the
    i-th of them, ``alpha_bar[i]`` and ``alpha_bar_prev[i]`` (the value at the next timestep visited, or 1
    after the last step, so that the last step lands on x_0; Song et al. 2021's code does the same).
    """

    def __init__(self, schedule: NoiseSchedule) -> None:
        self.schedule = schedule
        # Coefficients are per-step scalars: float64 on the CPU, whatever device the images are on.
        self._abar_all = schedule.alphas_cumprod.detach().to("cpu", torch.float64)
        self.set_timesteps(schedule.num_timesteps)

    @classmethod
    def from_config(cls, cfg: SamplerConfig, schedule: NoiseSchedule, *, clip_x0: bool = True) -> Sampler:
        """The sampler ``cfg`` describes; ``clip_x0`` clamps predicted x_0 to [-1, 1] (pixels, not latents)."""
        raise NotImplementedError

    def set_timesteps(self, num_steps: int, *, first: int | None = None) -> None:
        """Use ``num_steps`` of the training timesteps first, ..., 0, evenly spaced; ``first`` is T - 1 by default.

        The "trailing" spacing of Lin et al. 2024 (https://arxiv.org/abs/2305.08891, table 2): always
        starting from the last training timestep means the first step sees the pure noise it is given.
        A later start (``first`` < T - 1) denoises a partly noised image, as SDEdit does.
        """
        total = self.schedule.num_timesteps
        first = total - 1 if first is None else first
        if not 0 <= first < total:
            raise ValueError(f"first must be in [0, {total - 1}], got {first}")
        if not 1 <= num_steps <= first + 1:
            raise ValueError(f"num_steps must be in [1, {first + 1}], got {num_steps}")
        steps = torch.arange(num_steps, dtype=torch.float64) * ((first + 1) / num_steps)
        self.timesteps = (first - steps).round().long()
        self.alpha_bar = self._abar_all[self.timesteps]
        self.alpha_bar_prev = torch.cat([self.alpha_bar[1:], torch.ones(1, dtype=torch.float64)])
        self._index = {int(t): i for i, t in enumerate(self.timesteps)}

    def coefficients(self, t: int | torch.Tensor) -> tuple[float, float]:
        """(alpha-bar_t, alpha-bar_prev) as Python floats for a timestep in ``timesteps``."""
        try:
            i = self._index[int(t)]
        except KeyError:
            raise ValueError(f"timestep {int(t)} is not in this sampler's timesteps; call set_timesteps") from None
        return float(self.alpha_bar[i]), float(self.alpha_bar_prev[i])

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.schedule.add_noise(x0, noise, t)

    def step(self, model_output: torch.Tensor, t: int | torch.Tensor, x: torch.Tensor, *,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """x_t -> x_prev given the network's eps prediction at (x_t, t)."""
        raise NotImplementedError


def predict_x0(x: torch.Tensor, eps: torch.Tensor, abar: float) -> torch.Tensor:
    """x_0 implied by x_t and eps (Ho et al. 2020, eq. 4 solved for x_0; their eq. 15)."""
    return (x - (1.0 - abar) ** 0.5 * eps) / abar**0.5


def cpu_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like ``like``, drawn on the CPU and then moved: the same generator seed
    gives the same samples on any device."""
    return torch.randn(like.shape, generator=generator, dtype=like.dtype).to(like.device)

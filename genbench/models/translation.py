"""The contract of image-to-image families (pix2pix, CycleGAN, SRGAN/SRResNet): a learned map from a
*source* array of a prepared dataset to a *target* image, instead of images from noise.

A translator is still a ``GenerativeModel`` (registry, configs, the generic training loop, checkpoints,
EMA), with three differences:

- ``training_arrays`` names the dataset arrays it learns from and ``training_tensors`` turns them into the
  (source, target) pair of tensors whose rows ``train_step(source, target, optimizers)`` gets in batches;
- the sample job does not call ``sample`` but ``translate`` on ``translation_inputs`` of the test split, in
  a ``direction`` (a preset sampler's ``algo``: "forward", or "backward" for a two-way family), with the job's
  seeded ``generator`` (a multimodal family draws its style codes from it; deterministic ones ignore it). An
  algo may be a variant of a data direction (MUNIT's "forward_fixed"): ``direction_of`` names the direction
  whose arrays, targets and target dataset it uses;
- ``task`` says how the evaluation measures it: "paired" (FCN-score against the input label map, as in
  pix2pix Table 1), "unpaired" (FD in the target domain and label preservation, CycleGAN) or
  "super_resolution" (PSNR / SSIM / LPIPS against the high-resolution image, SRGAN).

Images are in [-1, 1] as everywhere; a label map enters as its one-hot encoding (``one_hot_maps``).
"""
from __future__ import annotations

from typing import ClassVar, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from genbench.config import SamplerConfig
from genbench.errors import ConfigError
from genbench.models.base import GenerativeModel

TASKS = ("paired", "unpaired", "super_resolution")


def one_hot_maps(label_maps: torch.Tensor, num_labels: int) -> torch.Tensor:
    """uint8/int (N, H, W) label maps -> float (N, num_labels, H, W) one-hot in {-1, 1} (the image range)."""
    return F.one_hot(label_maps.long(), num_labels).permute(0, 3, 1, 2).float().mul_(2).sub_(1)


class Translator(GenerativeModel):
    kind = "translation"
    #: how the evaluation measures this family (one of ``TASKS``)
    task: ClassVar[str]
    sampler_algos = ("forward",)

    def translation_inputs(self, arrays: Mapping[str, np.ndarray], direction: str) -> torch.Tensor:
        """Model-form sources (CPU) of every row of ``arrays`` (a split's ``inference_arrays``)."""
        raise NotImplementedError

    #: the split arrays ``translation_inputs`` reads
    inference_arrays: ClassVar[tuple[str, ...]] = ()
    #: per direction, the array holding each input's real counterpart (grids; paired and SR metrics)
    target_arrays: ClassVar[Mapping[str, str]] = {"forward": "images"}
    #: per direction, the dataset whose domain network and reference measure the outputs, where it is not
    #: the one trained on (CycleGAN's backward outputs are MNIST digits)
    target_datasets: ClassVar[Mapping[str, str]] = {}
    #: outputs keep the class of their input (digits): the domain classifier's class accuracy on them is
    #: label preservation; False where labels are no such thing (photo patches: the photo's index)
    keeps_labels: ClassVar[bool] = True

    def translation_targets(self, arrays: Mapping[str, np.ndarray], direction: str) -> np.ndarray:
        """uint8 real counterparts of the rows of ``arrays`` in ``direction``."""
        return arrays[self.target_arrays[direction]]

    @classmethod
    def direction_of(cls, algo: str) -> str:
        """The data direction ("forward", "backward") of a sampler algo: the key of ``target_arrays`` and
        ``target_datasets``, and what ``translation_inputs`` reads. The algo itself unless a family has variants."""
        return algo

    def translate(self, source: torch.Tensor, *, direction: str = "forward",
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [-1, 1] from a batch of sources; called in eval mode under ``torch.no_grad()``. ``direction``
        is a sampler algo; ``generator`` (seeded by the sample job) is where a random translation draws from."""
        raise NotImplementedError

    def sample(self, n: int, *, generator: torch.Generator, sampler: SamplerConfig,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        raise ConfigError(f"family '{self.family}' translates inputs (translate), it does not sample from noise")

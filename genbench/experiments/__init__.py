"""Experiments on trained generators, beyond the sample metrics (one file each).

- ``walks``: latent interpolation grids, and per-class (or per-code) grids of conditional models.
- ``stylegan_figures``: StyleGAN's style-mixing grid and stochastic variation (Karras et al. 2019, Figures 3, 4).
- ``steering``: controllable generation by the gradient of the domain classifier, and how every other
  class probability moves with the target's (the feature-correlation figure).
- ``probe``: a linear probe on discriminator features against the same probe on an untrained network.
- ``augmentation``: the domain-classifier architecture trained on real and conditional-GAN images mixed.

Each module has pure(ish) functions over a model and a ``run_*`` job that reads a checkpoint and writes
its outputs atomically; the CLI (``genbench experiment ...``) and the Snakemake rules call the jobs.
"""

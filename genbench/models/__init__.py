"""Model families, one file each, found by name.

Adding a family = one file here that subclasses ``GenerativeModel`` and decorates it with
``@FAMILIES.register("<name>")``, one import line below, and one ``params/models/<preset>.yaml``.
"""
from __future__ import annotations

from genbench.config import from_dict
from genbench.models.base import GenerativeModel, ImageSpec
from genbench.registry import Registry

FAMILIES: Registry[type[GenerativeModel]] = Registry("model family")


def family_class(name: str, *, source: str = "") -> type[GenerativeModel]:
    return FAMILIES.get(name, source=source)


def build_model(family: str, model_cfg: dict, image: ImageSpec, *, source: str = "") -> GenerativeModel:
    """Instantiate a family from its preset's ``model:`` mapping (validated against ``Config``)."""
    cls = family_class(family, source=source)
    return cls(from_dict(cls.Config, dict(model_cfg), source=source or family, prefix="model."), image)


# Registration happens on import; keep this list alphabetical.
from genbench.models import (cgan, cyclegan, dcgan, ddpm, ddpm_cond, flow, infogan, ldm, munit,  # noqa: E402,F401
                             pix2pix, pixelcnn, progan, sngan, srgan, stylegan, t2i, vae, wgan, wgan_gp)

__all__ = ["FAMILIES", "GenerativeModel", "ImageSpec", "build_model", "family_class"]

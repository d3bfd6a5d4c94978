"""genbench: a reproducible benchmark pipeline for image-generation models."""

__version__ = "0.1.0"

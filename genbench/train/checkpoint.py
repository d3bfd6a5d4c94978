"""Checkpoints: plain dicts of tensors and primitives (``genbench.torch_io``: atomic writes, ``weights_only`` reads)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genbench.config import RunConfig, from_dict, to_dict
from genbench.io import InputError
from genbench.models import GenerativeModel, ImageSpec, build_model
from genbench.torch_io import read_torch_file, save_torch_file
from genbench.train.cuda import wants_channels_last

FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, *, model: GenerativeModel, run_cfg: RunConfig, step: int,
                    optimizers: dict[str, torch.optim.Optimizer], ema_state: dict[str, torch.Tensor] | None) -> None:
    payload = {
        "format_version": FORMAT_VERSION,
        "run_config": to_dict(run_cfg),
        "image": to_dict(model.image),
        "step": step,
        "model": model.state_dict(),
        "ema": ema_state,
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
    }
    save_torch_file(path, payload)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    return read_torch_file(path, what="genbench checkpoint", version=FORMAT_VERSION,
                           fix="delete it and re-run its train rule", missing="run its train rule first")


def save_milestones(path: str | Path, milestones: dict[int, dict[str, torch.Tensor]]) -> None:
    """The sampling network's weights at the milestone steps (``TrainResult.milestones``), on the CPU; a
    module's extra state (t2i's class names) is kept as it is."""
    payload = {"format_version": FORMAT_VERSION,
               "states": {int(step): {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}
                          for step, state in milestones.items()}}
    save_torch_file(path, payload)


def read_milestones(path: str | Path) -> dict[int, dict[str, torch.Tensor]]:
    """step -> the sampling network's state dict, in step order."""
    payload = read_checkpoint(path)
    return dict(sorted(payload["states"].items()))


def read_run_config(path: str | Path) -> RunConfig:
    """The run config a checkpoint was trained under."""
    return from_dict(RunConfig, read_checkpoint(path)["run_config"], source=str(path))


def load_for_sampling(path: str | Path, device: torch.device) -> tuple[GenerativeModel, RunConfig]:
    """The trained model in eval mode, with the EMA weights swapped in when training kept them."""
    payload = read_checkpoint(path)
    run_cfg = from_dict(RunConfig, payload["run_config"], source=str(path))
    image = ImageSpec(**payload["image"])
    model = build_model(run_cfg.spec.family, dict(run_cfg.spec.model), image, source=str(path))
    model.load_state_dict(payload["model"])
    if payload["ema"] is not None:
        model.sampling_module().load_state_dict(payload["ema"])
    layout = torch.channels_last if wants_channels_last(model, device, run_cfg.cuda) else torch.contiguous_format
    return model.to(device, memory_format=layout).eval(), run_cfg


def initialise_from(model: GenerativeModel, path: str | Path) -> dict[str, Any]:
    """Copy the trained sampling network of the checkpoint at ``path`` into ``model`` (``train.init_from``):
    its EMA weights when kept, else its trained ones. The checkpoint must be of ``model``'s family and image
    shape, and every tensor of ``model``'s sampling network must be there with the same shape, so a different
    architecture fails here rather than training from a mix. Returns where the weights came from (train_summary's
    ``init_from``)."""
    payload = read_checkpoint(path)
    source = from_dict(RunConfig, payload["run_config"], source=str(path))
    if source.spec.family != model.family:
        raise InputError(f"{path}: cannot initialise a {model.family} from it, it is a {source.spec.family} "
                         "checkpoint; give train.init_from a preset of the same family")
    # Checked apart from the tensors: a convolutional network's weights fit images of any size, so a source
    # trained at another resolution would pass the shape check below and fine-tune at a scale it never saw.
    theirs, ours = ImageSpec(**payload["image"]), model.image
    if (theirs.channels, theirs.height, theirs.width) != (ours.channels, ours.height, ours.width):
        raise InputError(f"{path}: cannot initialise from it: trained on {_shape(theirs)} images of "
                         f"'{source.dataset}', this model makes {_shape(ours)}; set train.init_dataset to a "
                         "dataset of the same image shape")
    module = model.sampling_module()
    own = module.state_dict()
    state = payload["ema"]
    if state is None:  # the model's state dict holds the sampling network under its attribute name
        prefix = next(name for name, m in model.named_modules() if m is module)
        state = {k.removeprefix(f"{prefix}."): v for k, v in payload["model"].items()
                 if not prefix or k.startswith(f"{prefix}.")}
    mismatched = [k for k, v in own.items() if k not in state or state[k].shape != v.shape]
    if mismatched:
        raise InputError(f"{path}: cannot initialise from it: tensor '{mismatched[0]}' is missing or has another "
                         "shape; give train.init_from a preset with the same model settings")
    module.load_state_dict({k: state[k] for k in own})
    return {"preset": source.preset, "dataset": source.dataset, "seed": source.seed, "steps": int(payload["step"]),
            "weights": "ema" if payload["ema"] is not None else "trained", "checkpoint": str(path)}


def _shape(image: ImageSpec) -> str:
    return f"{image.channels}x{image.height}x{image.width}"

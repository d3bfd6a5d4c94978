"""EMA invariants: floating tensors averaged, integer buffers and non-tensor extra state copied."""
from __future__ import annotations

import torch
from torch import nn

from genbench.train.ema import ExponentialMovingAverage, copy_state


class Named(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self.names = ["a"]

    def get_extra_state(self) -> dict:
        return {"names": list(self.names)}

    def set_extra_state(self, state: dict) -> None:
        self.names = list(state["names"])


def test_weights_are_averaged_and_the_rest_copied() -> None:
    module = Named()
    ema = ExponentialMovingAverage(module, decay=0.5)
    with torch.no_grad():
        module.weight.fill_(1.0)
    module.count += 4
    module.names = ["b", "c"]
    ema.update(module, step=100)  # past warm-up: decay 0.5
    torch.testing.assert_close(ema.state_dict()["weight"], torch.full((3,), 0.5))
    assert int(ema.state_dict()["count"]) == 4 and ema.state_dict()["_extra_state"] == {"names": ["b", "c"]}
    fresh = Named()
    fresh.load_state_dict(ema.state_dict())
    assert fresh.names == ["b", "c"]


def test_copy_state_is_detached_from_the_module() -> None:
    module = Named()
    state = copy_state(module.state_dict())
    with torch.no_grad():
        module.weight.fill_(2.0)
    module.names.append("z")
    assert float(state["weight"].sum()) == 0.0 and state["_extra_state"] == {"names": ["a"]}

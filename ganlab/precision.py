"""Mixed precision: autocast for the networks, fp32 where the numbers are delicate.

``bf16`` autocasts the forward passes of G and D and needs no loss scaling
(bfloat16 has float32's range). ``fp16`` also scales each player's loss with
its own ``GradScaler``, so small gradients do not flush to zero; a step whose
scaled gradients overflow is skipped and the scale lowered, which is that
algorithm working, not divergence. Losses see float32 scores, and penalties
(the gradient penalty's norm, R1) run with autocast off, on float32 inputs.
"""

from __future__ import annotations

import contextlib
import warnings

import torch

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    def __init__(self, name: str, device: torch.device):
        self.name, self.device_type = name, device.type
        self.dtype = DTYPES[name]
        if self.dtype is not None and not _autocast_supported(self.device_type, self.dtype):
            warnings.warn(f"--precision {name} is not supported on {self.device_type} by this PyTorch; "
                          f"training in fp32", UserWarning, stacklevel=2)
            self.name, self.dtype = "fp32", None
        scaled = self.dtype is torch.float16
        self.scalers = {p: torch.amp.GradScaler(self.device_type) for p in ("G", "D")} if scaled else {}

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def full(self):
        """float32 inside, even within :meth:`autocast`."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, enabled=False)

    @property
    def scales_gradients(self) -> bool:
        return bool(self.scalers)

    def backward(self, player: str, loss: torch.Tensor) -> None:
        scaler = self.scalers.get(player)
        (scaler.scale(loss) if scaler else loss).backward()

    def unscale(self, player: str, opt: torch.optim.Optimizer) -> None:
        if player in self.scalers:
            self.scalers[player].unscale_(opt)

    def step(self, player: str, opt: torch.optim.Optimizer) -> None:
        scaler = self.scalers.get(player)
        if scaler is None:
            opt.step()
            return
        scaler.step(opt)
        scaler.update()

    def state_dict(self) -> dict:
        return {p: s.state_dict() for p, s in self.scalers.items()}

    def load_state_dict(self, state: dict) -> None:
        for player, scaler in self.scalers.items():
            if player in state:
                scaler.load_state_dict(state[player])


def _autocast_supported(device_type: str, dtype: torch.dtype) -> bool:
    try:
        with torch.autocast(device_type, dtype=dtype):
            return True
    except (RuntimeError, ValueError):
        return False
    except Warning:
        return False

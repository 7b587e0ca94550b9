"""One validation of a checkpoint's whole contents, before anything is restored.

:func:`ganlab.checkpoint.load_checkpoint` checks the top-level schema (the
keys and their types). This checks what is inside, against the run about to
continue: networks and the average of G's weights key by key and shape by
shape, the loss scalers, the batcher's permutation, and each regularizer's
state against what its plugin declares (``Regularizer.state_spec``). Every
problem names who owns the state and the key, so one ``ganlab: error:`` line
says what is damaged; a resumed run never continues with state silently reset.
"""

from __future__ import annotations

from typing import Any

import torch

from ganlab.state_schema import Expect, check

SCALER = {"scale": Expect(positive=True), "growth_factor": Expect(positive=True),
          "backoff_factor": Expect(positive=True), "growth_interval": Expect("int", low=1),
          "_growth_tracker": Expect("int", low=0)}


def module_problems(saved: Any, live: torch.nn.Module, what: str) -> list[str]:
    """Keys, tensor shapes and extra state of a module's saved state_dict against the live module."""
    if not isinstance(saved, dict):
        return [f"{what} is {type(saved).__name__}, expected a state dict"]
    mine = live.state_dict()
    out = []
    missing = [k for k in mine if k not in saved]
    extra = [k for k in saved if k not in mine]
    if missing or extra:
        out.append(f"{what} does not match this run's network ("
                   + "; ".join([*([f"missing {', '.join(missing[:3])}"] if missing else []),
                                *([f"unexpected {', '.join(extra[:3])}"] if extra else [])]) + ")")
    for key, value in mine.items():
        if key not in saved:
            continue
        if isinstance(value, torch.Tensor):
            other = saved[key]
            if not isinstance(other, torch.Tensor):
                out.append(f"{what}.{key} is {type(other).__name__}, expected a tensor")
            elif other.shape != value.shape:
                out.append(f"{what}.{key} has shape {tuple(other.shape)}, this run's {tuple(value.shape)}")
            elif other.is_floating_point() != value.is_floating_point():
                out.append(f"{what}.{key} is {other.dtype}, this run's {value.dtype}")
        elif type(saved[key]) is not type(value):
            out.append(f"{what}.{key} is {type(saved[key]).__name__}, expected {type(value).__name__}")
    return out


def batcher_problems(saved: Any, n: int) -> list[str]:
    spec = {"generator": Expect("tensor"), "pos": Expect("int", low=0, high=n)}
    if not isinstance(saved, dict):
        return [f"batcher is {type(saved).__name__}, expected its state"]
    out = [f"batcher: {p}" for p in check(saved, spec)]
    if "perm" not in saved:
        out.append("batcher: perm is missing")
    elif saved["perm"] is not None:
        perm = saved["perm"]
        if not isinstance(perm, torch.Tensor) or perm.dtype != torch.int64 or perm.dim() != 1:
            out.append(f"batcher: perm is {_kind(perm)}, expected a 1-D int64 permutation of the {n} samples")
        elif len(perm) != n or not torch.equal(perm.sort().values, torch.arange(n)):
            out.append(f"batcher: perm is not a permutation of the {n} samples")
    return out


def scaler_problems(saved: Any, players: list[str]) -> list[str]:
    if not players:
        return []
    if not isinstance(saved, dict):
        return [f"scalers is {type(saved).__name__}, expected the fp16 loss scalers of {', '.join(players)}"]
    out = []
    for player in players:
        if player not in saved:
            out.append(f"scalers: {player}'s loss scaler is missing (fp16 would restart its scale)")
            continue
        out += [f"scalers: {player}.{p}" for p in check(saved[player], SCALER)]
    return out


def regularizer_problems(saved: Any, regularizers: list, owners: dict[str, str]) -> list[str]:
    if not isinstance(saved, dict):
        return [f"regularizers is {type(saved).__name__}, expected a table of each regularizer's state"]
    out = []
    for reg in regularizers:
        spec = reg.state_spec()
        keys = spec or {k: None for k in reg.state_dict()}  # undeclared state: at least its keys
        if not keys:
            continue
        who = f"plugin {owners.get(reg.name, '?')!r} (regularizer {reg.name!r})"
        entry = saved.get(reg.name)
        if entry is None:
            out.append(f"{who}: its state ({', '.join(keys)}) is missing; it would restart from scratch")
        elif spec:
            out += [f"{who}: {p}" for p in check(entry, spec)]
        elif not isinstance(entry, dict) or set(entry) != set(keys):
            out.append(f"{who}: state holds {_kind(entry)}, expected keys {', '.join(keys)}")
    return out


def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, dict):
        return f"keys {', '.join(map(str, value)) or 'none'}"
    return type(value).__name__

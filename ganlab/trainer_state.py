"""A trainer's state as a checkpoint holds it: written, checked whole, restored.

The keys are :data:`ganlab.runfolder.CHECKPOINT_CONTENTS`; what is inside each
is checked against the run about to continue (:mod:`ganlab.checkpoint_contents`)
before anything is restored, so a damaged checkpoint is refused whole.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from ganlab import checkpoint_contents as cc
from ganlab.defaults import ALWAYS_ACTIVE  # added over time: a run that predates one still resumes
from ganlab.errors import CheckpointError


def data_identity(trainer) -> dict[str, Any]:
    return {"identity": dict(trainer.setup.loaded.identity), "n": len(trainer.setup.loaded)}


def capture(trainer) -> dict[str, Any]:
    """Every key of CHECKPOINT_CONTENTS, in its order."""
    return {
        "step": trainer.step,
        "plugins": list(trainer.setup.plugins),
        "data": data_identity(trainer),
        "device": trainer.device.type,
        "generator": trainer.G.state_dict(),
        "discriminator": trainer.D.state_dict(),
        "opt_g": trainer.opt_g.state_dict(),
        "opt_d": trainer.opt_d.state_dict(),
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state(trainer.device) if trainer.device.type == "cuda" else None,
        "rng_noise": trainer.noise.get_state(),
        "batcher": trainer.batcher.state_dict(),
        "wall_time": trainer.wall_time(),
        "scalers": trainer.precision.state_dict(),
        "regularizers": {r.name: r.state_dict() for r in trainer.setup.regularizers if r.state_dict()},
        "generator_average": trainer.G_avg.state_dict() if trainer.G_avg is not None else None,
    }


def restore(trainer, state: dict[str, Any]) -> None:
    """Restore a checkpoint whose schema :func:`ganlab.checkpoint.load_checkpoint` checked."""
    if [p for p in state["plugins"] if p not in ALWAYS_ACTIVE] != \
            [p for p in trainer.setup.plugins if p not in ALWAYS_ACTIVE]:
        raise CheckpointError(f"the checkpoint was written by plugins {state['plugins']}, "
                              f"but this run uses {trainer.setup.plugins}")
    if state["data"] != data_identity(trainer):
        raise CheckpointError(f"the checkpoint was trained on {state['data']}, but this run loads "
                              f"{data_identity(trainer)}; point --data-root (or the data path) at the run's data")
    problems = content_problems(trainer, state)
    if problems:
        raise CheckpointError(f"checkpoint {trainer.folder.checkpoint} is damaged: {'; '.join(problems[:4])}"
                              + (f" (and {len(problems) - 4} more)" if len(problems) > 4 else "")
                              + "; restore it from a backup or start a new run")
    try:
        trainer.G.load_state_dict(state["generator"])
        trainer.D.load_state_dict(state["discriminator"])
        trainer.opt_g.load_state_dict(state["opt_g"])
        trainer.opt_d.load_state_dict(state["opt_d"])
        if trainer.G_avg is not None:  # present: _content_problems checked it
            trainer.G_avg.load_state_dict(state["generator_average"])
        torch.set_rng_state(state["rng_torch"])
        same_device = state["device"] == trainer.device.type
        if same_device:
            if state["rng_cuda"] is not None:
                torch.cuda.set_rng_state(state["rng_cuda"], trainer.device)
            trainer.noise.set_state(state["rng_noise"])
            trainer.batcher.load_state_dict(state["batcher"])
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise CheckpointError(f"the checkpoint does not fit this run: {str(exc).splitlines()[0]}") from None
    trainer.precision.load_state_dict(state.get("scalers") or {})
    saved = state.get("regularizers") or {}
    for reg in trainer.setup.regularizers:
        if reg.name in saved:
            reg.load_state_dict(saved[reg.name])
    trainer.step = trainer.start_step = state["step"]
    if trainer.world.rank:  # rank 0's dropout stream came with the checkpoint: other ranks draw their own
        torch.manual_seed(trainer.train.seed + 7919 * trainer.world.rank + trainer.step)
    trainer.wall_offset = float(state["wall_time"])
    if not same_device:
        # Generator states of one device type cannot seed another: continue, but not bit for bit.
        warnings.warn(f"the checkpoint was written on {state['device']} and this run is on "
                      f"{trainer.device.type}: training continues, but its random streams differ from an "
                      f"uninterrupted run", UserWarning, stacklevel=2)
        trainer.noise.manual_seed(trainer.train.seed + 1 + trainer.step)
        trainer.batcher.reseed(trainer.train.seed + trainer.step)


def content_problems(trainer, state: dict[str, Any]) -> list[str]:
    """Everything inside the checkpoint against this run, before any of it is restored."""
    problems = [*cc.module_problems(state["generator"], trainer.G, "generator"),
                *cc.module_problems(state["discriminator"], trainer.D, "discriminator")]
    if trainer.G_avg is not None:
        saved = state.get("generator_average")
        problems += (["the checkpoint has no average of G's weights, but this run keeps one"] if saved is None
                     else cc.module_problems(saved, trainer.G_avg, "generator_average"))
    problems += cc.batcher_problems(state["batcher"], len(trainer.batcher.data))
    problems += cc.scaler_problems(state.get("scalers") or {}, list(trainer.precision.scalers))
    saved = state.get("regularizers")
    problems += cc.regularizer_problems({} if saved is None else saved, trainer.setup.regularizers,
                                        trainer.setup.owners)
    return problems

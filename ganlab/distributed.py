"""Data-parallel training under ``torchrun``: PyTorch's launcher and DistributedDataParallel.

``torchrun --nproc_per_node N -m ganlab run ...`` starts N ranks (gloo on the
CPU, nccl on GPUs). Every rank draws the same global batch of real indices and
noise, ``batch_size x N`` rows from streams seeded alike, and trains on its own
slice of it, so N ranks with ``--batch-size B`` compute what one process with
batch ``N x B`` would (up to the order of floating-point sums). DDP averages
the gradients. Only rank 0 writes the run folder; the others build the same
run and follow it.

Batch norm stays per rank (each normalises its own slice; DDP broadcasts rank
0's running statistics at every forward): a documented choice, since
``SyncBatchNorm`` needs CUDA. Penalties that take input gradients (WGAN-GP,
R1) call the unwrapped D; their contribution still enters each parameter's
gradient before DDP's hooks average it.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    """The torchrun world this process belongs to (a world of one without torchrun)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend)
        # Left to the interpreter's exit, a rank that finished first sometimes aborted in gloo's teardown
        # ("terminate called without an active exception") while rank 0 was still writing.
        atexit.register(_leave)
    return World(dist.get_rank(), dist.get_world_size(), local_rank)


def _leave() -> None:
    """At exit: wait for the other ranks (rank 0 still writing plots, say), then close the group."""
    import torch.distributed as dist

    if dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def broadcast_object(world: World, obj):
    """Rank 0's ``obj`` on every rank."""
    if not world.active:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(world: World, flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on one (a stop request, say)."""
    if not world.active:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def mean_over_ranks(world: World, t: torch.Tensor) -> torch.Tensor:
    """The mean of ``t`` over all ranks (the per-rank means of equal shards average to the global mean)."""
    import torch.distributed as dist

    t = t.clone()
    dist.all_reduce(t)
    return t / world.size


def wrap(module: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """``module`` in DistributedDataParallel when the world has several ranks; itself otherwise."""
    if not world.active or not any(p.requires_grad for p in module.parameters()):
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)

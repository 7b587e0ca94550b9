"""Warnings about the CPU a run is about to use: a busy machine, half precision.

torch's default CPU thread count is the number of cores. When other
processes already keep those cores busy, every operator's threads wait for
one another and a small model's step can be several times slower than on one
thread (``benchmarks/cpu_settings.py`` measures it: 2-3x); a run says so once at its start.
"""

from __future__ import annotations

import os
import warnings

import torch

# Above this load average per core the default threads contend with other processes.
BUSY_PER_CORE = 0.75


def busy_message(load: float, cores: int, threads: int) -> str | None:
    """The warning for a run with torch's default threads on a machine with this 1-minute load, or None."""
    if threads or cores < 2 or load < BUSY_PER_CORE * cores:
        return None
    return (f"the machine is busy (load average {load:.1f} on {cores} cores): torch's default of {cores} threads "
            f"per operator then waits on the other processes, which made a 2-D run 2-3x slower than "
            f"--threads 1 in docs/speed.md; pass --threads 1")


def warn_about_cpu(train, device: torch.device) -> None:
    """Once per run, before training: a busy machine with default threads, or fp16 on a CPU."""
    if device.type != "cpu":
        return
    if train.precision == "fp16":
        warnings.warn("--precision fp16 on a CPU runs slow half-precision kernels: about 8x slower than fp32 "
                      "in docs/speed.md; use fp32 or bf16 on a CPU", UserWarning, stacklevel=2)
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # not on every platform
        return
    # A process already held to one thread (torch.set_num_threads, OMP_NUM_THREADS) does not contend.
    threads = train.threads or (1 if torch.get_num_threads() == 1 else 0)
    message = busy_message(load, os.cpu_count() or 1, threads)
    if message:
        warnings.warn(message, UserWarning, stacklevel=2)

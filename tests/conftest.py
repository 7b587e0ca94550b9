"""Shared fixtures: offline data, fresh plugin managers and tiny training runs."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

# Test models are tiny: one thread avoids spin-waiting that costs more than the math.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # and in the ganlab processes tests start

# Tests never touch the network; --data mnist falls back to the embedded set.
os.environ["GANLAB_OFFLINE"] = "1"

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Tiny networks so a few training steps take milliseconds.
TINY_MLP = {"mlp": {"g_hidden": "32", "d_hidden": "32"}}
TINY_TRAIN = {"batch_size": 16, "steps": 3, "log_every": 1, "sample_every": 1000, "checkpoint_every": 1000}


@pytest.fixture
def pm():
    """A fresh plugin manager with the built-ins only (no entry points)."""
    from ganlab.manager import make_plugin_manager

    return make_plugin_manager(autoload=False)


@pytest.fixture
def run_tiny(pm, tmp_path):
    """Build and train a tiny run; returns the Trainer after ``fit()``.

    ``run_tiny(["lsgan"], data="ring", options={...}, train={...}, fit=True)``
    """
    from ganlab.config import RunRequest
    from ganlab.run import prepare_run

    counter = iter(range(10_000))

    def run(plugins=(), data="mnist-embedded", options=None, train=None, fit=True, manager=None, out=None):
        opts = {k: dict(v) for k, v in TINY_MLP.items()}
        for plugin, values in (options or {}).items():
            opts.setdefault(plugin, {}).update(values)
        active = (manager or pm).select(list(plugins)).active
        opts = {k: v for k, v in opts.items() if k in active}
        request = RunRequest(list(plugins), {**TINY_TRAIN, "data": data, "device": "cpu", **(train or {})}, opts)
        trainer = prepare_run(manager or pm, request, out=out or tmp_path / f"run{next(counter)}", quiet=True,
                              log=lambda *a: None)
        if fit:
            trainer.fit()
        return trainer

    return run

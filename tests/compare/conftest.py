"""Tiny sweeps for the ``ganlab compare`` tests."""

from __future__ import annotations

import pytest

TINY = """
[train]
data = "ring"
steps = {steps}
batch_size = 8
sample_every = {sample_every}
log_every = 2
checkpoint_every = 2

[options.mlp]
g_hidden = "8"
d_hidden = "8"

[options.data]
toy_samples = 256
"""


def sweep_text(variants: dict[str, str], seeds: int = 2, steps: int = 4, grid: str = "", sample_every: int = 4) -> str:
    text = f"seeds = {seeds}\n" + TINY.format(steps=steps, sample_every=sample_every)
    for name, body in variants.items():
        text += f'\n[variants."{name}"]\n{body}\n'
    return text + (f"\n[grid]\n{grid}\n" if grid else "")


@pytest.fixture(scope="session")
def tiny_sweep():
    """``tiny_sweep({"gan": 'plugins = ["gan"]'}, seeds=2, steps=4, grid='"mlp.activation" = [...]')``."""
    return sweep_text

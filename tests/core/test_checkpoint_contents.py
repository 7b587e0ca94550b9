"""A checkpoint damaged anywhere inside is refused before anything is restored, naming who owns what.

The top-level schema (keys, types) has its tests in test_reliability.py. Here
each kind of state a plugin or the host keeps is damaged by hand, the run is
resumed, and it must stop with exit 2 and one ``ganlab: error:`` line naming
the owner and the key, leaving the folder as it was.
"""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from ganlab.cli import main

TINY = ["--data", "ring", "-o", "data.toy_samples=256", "--batch-size", "8", "-o", "mlp.g_hidden=8",
        "-o", "mlp.d_hidden=8", "--quiet", "--sample-every", "1000", "--device", "cpu", "--steps", "2"]
RUNS = {"began": ["--plugin", "began"], "lecam": ["--plugin", "lecam"], "ema": ["--plugin", "ema"],
        "fp16": ["--plugin", "lsgan", "--precision", "fp16"]}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name, flags in RUNS.items():
        assert main(["run", *flags, *TINY, "--out", str(root / name)]) == 0
    return root


def _error(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = [line for line in captured.err.splitlines() if line.startswith("ganlab: error:")]
    assert len(lines) == 1, captured.err
    return lines[0]


def _perm_as_floats(s):
    s["batcher"]["perm"] = s["batcher"]["perm"].double()


def _scale(value):
    def damage(s):
        s["scalers"]["G"]["scale"] = value
    return damage


CASES = [
    ("lecam", lambda s: s["regularizers"].update(lecam={}), ["'lecam'", "anchor_real is missing"]),
    ("lecam", lambda s: s["regularizers"].pop("lecam"), ["'lecam'", "missing; it would restart"]),
    ("began", lambda s: s.update(regularizers=3), ["regularizers is int"]),
    ("began", lambda s: s["regularizers"]["began"].update(k=[0.1, 0.2]), ["'began'", "k is list"]),
    ("began", lambda s: s["regularizers"]["began"].update(k=torch.tensor(1.5)), ["'began'", "k is 1.5"]),
    ("fp16", lambda s: s["scalers"].update(G="65536"), ["scalers: G", "is str"]),
    ("fp16", _scale(math.inf), ["scalers: G.scale is inf"]),
    ("fp16", _scale(math.nan), ["scalers: G.scale is nan"]),
    ("fp16", _scale(-2.0), ["scalers: G.scale is -2.0, expected > 0"]),
    ("fp16", lambda s: s.update(scalers={}), ["D's loss scaler is missing"]),
    ("lecam", _perm_as_floats, ["batcher: perm", "int64 permutation"]),
    ("lecam", lambda s: s["batcher"]["perm"].__setitem__(0, s["batcher"]["perm"][1]), ["not a permutation"]),
    ("lecam", lambda s: s["batcher"].update(pos=10**6), ["batcher: pos is 1000000"]),
    ("ema", lambda s: s.update(generator_average=None), ["no average of G's weights"]),
    ("ema", lambda s: s["generator_average"].update(_extra_state="7"), ["generator_average._extra_state is str"]),
    ("ema", lambda s: s["generator"].popitem(), ["generator does not match", "missing"]),
    ("ema", lambda s: s["generator_average"].update(_extra_state={"updates": -5}), ["update count is -5"]),
]


@pytest.mark.parametrize("run, damage, needles", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_damaged_state_is_refused_naming_owner_and_key(finished, tmp_path, capsys, run, damage, needles):
    folder = tmp_path / run
    shutil.copytree(finished / run, folder)
    path = folder / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    damage(state)
    torch.save(state, path)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert main(["run", "--resume", str(folder), "--steps", "4", "--quiet"]) == 2
    message = _error(capsys)
    assert "is damaged" in message or "does not fit this run" in message
    for needle in needles:
        assert needle in message, message
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("run", RUNS)
def test_undamaged_checkpoints_resume(finished, tmp_path, run):
    folder = tmp_path / run
    shutil.copytree(finished / run, folder)
    assert main(["run", "--resume", str(folder), "--steps", "3", "--quiet"]) == 0

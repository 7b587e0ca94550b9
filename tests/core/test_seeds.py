"""``--seeds K`` trains K seeds as one batched model: each seed must be its separate run, up to rounding.

What may differ, and by how much (float32, unit roundoff u = 2**-24):

* Batched matrix products may sum in another order than the separate
  run's. A reassociated float32 sum of n terms differs by at most about
  ``n * u`` relative (the standard bound gamma_n); one step's gradients
  inherit that, and T steps of Adam, whose update is ``lr`` times a
  ratio of the gradient's moments, carry it along additively: weights and
  logged values within ``T * n * u`` relative to their scale, n the widest
  reduction of the nets (MNIST's 784 inputs). A wrong implementation
  (another seed's data or noise, shared optimizer state, a penalty on the
  wrong slice) differs by O(1): every test also checks that seed k's batched
  weights are *not* within the bound of seed k+1's.
* A bias feeding batch norm has a true gradient of exactly zero (batch norm
  subtracts the batch mean), so its float gradient is pure rounding noise,
  which Adam normalises to steps of up to ``lr`` in any direction. Such a
  bias (and the running mean of the batch norm after it) is held to Adam's
  own bound instead: ``2 * lr * T`` (each run moves it at most ``lr`` per step).
* The 2-D mode report counts samples within a threshold of a mode; a
  sample within rounding of the threshold may land on either side, so
  ``eval.jsonl`` is held to the same rows and keys, and G's weights, which
  decide the counts, to the bound above.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from ganlab.checkpoint import load_checkpoint
from ganlab.config import RunRequest
from ganlab.run import prepare_run
from ganlab.seeds import train_seeds, why_not

U = 2.0 ** -24
WIDEST = 784  # MNIST's flattened input: the longest reduction in these nets
K, STEPS, LR = 3, 50, 2e-4
TOL = STEPS * WIDEST * U
SMALL = {"mlp": {"g_hidden": "32,32", "d_hidden": "32,32"}}


def _train(steps=STEPS, **extra):
    return {"steps": steps, "batch_size": 16, "lr": LR, "log_every": 10, "sample_every": 25,
            "checkpoint_every": 25, "device": "cpu", **extra}


def _runs(plugins, data, options, train, root: Path, seeds=range(K)):
    return [{"request": RunRequest(list(plugins), {**train, "data": data, "seed": s},
                                   {k: dict(v) for k, v in options.items()}),
             "out": root / f"seed{s}"} for s in seeds]


def batched(pm, root, plugins, data="ring", options=SMALL, train=None, vectorize="on"):
    results, why = train_seeds(pm, _runs(plugins, data, options, train or _train(), root), vectorize,
                               quiet=True, log=lambda *a: None)
    return results, why


def separate(pm, root, plugins, data="ring", options=SMALL, train=None):
    for run in _runs(plugins, data, options, train or _train(), root):
        prepare_run(pm, run["request"], out=run["out"], quiet=True, log=lambda *a: None).fit()


def _cancelled_by_batch_norm(state: dict) -> set[str]:
    """Biases whose layer feeds a batch norm, and that batch norm's running mean (see the module doc)."""
    names = list(state)
    out = set()
    for i, name in enumerate(names):
        if name.endswith(".bias") and i + 1 < len(names):
            prefix = name.rsplit(".", 2)[0]  # "net.3.bias" -> "net"
            index = name.rsplit(".", 2)[1]
            if not index.isdigit():
                continue
            after = f"{prefix}.{int(index) + 1}.running_mean"
            if after in state:
                out |= {name, after}
    return out


def _gaps(a: dict, b: dict) -> dict[str, float]:
    """Per tensor: max |a - b| over the tensor's scale (or its bound, for the batch-norm-cancelled ones)."""
    special = _cancelled_by_batch_norm(b)
    gaps = {}
    for name, x in a.items():
        if not torch.is_tensor(x) or not x.is_floating_point():
            continue
        diff = (x - b[name]).abs().max().item()
        if name in special:
            gaps[name] = diff / (2 * LR * STEPS) * TOL  # on the same scale: within iff <= TOL
        else:
            gaps[name] = diff / max(b[name].abs().max().item(), 1e-3)
    return gaps


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_same_runs(left: Path, right: Path, seeds=range(K)):
    for s in seeds:
        a, b = load_checkpoint(left / f"seed{s}" / "checkpoint.pt"), load_checkpoint(right / f"seed{s}" / "checkpoint.pt")
        assert a["step"] == b["step"]
        for player in ("generator", "discriminator"):
            gaps = _gaps(a[player], b[player])
            worst = max(gaps, key=gaps.get)
            assert gaps[worst] <= TOL, f"seed {s} {player} {worst}: {gaps[worst]:.3g} > {TOL:.3g}"
        assert torch.equal(a["rng_torch"], b["rng_torch"]), f"seed {s} drew other random numbers"
        for name in ("metrics.jsonl", "eval.jsonl"):
            ra, rb = _rows(left / f"seed{s}" / name), _rows(right / f"seed{s}" / name)
            assert [r["step"] for r in ra] == [r["step"] for r in rb] and (ra or name == "eval.jsonl")
            assert [set(r) for r in ra] == [set(r) for r in rb]
            if name == "eval.jsonl":
                continue  # counts of samples past a threshold: G's weights, checked above, decide them
            for x, y in zip(ra, rb):
                for key, v in x.items():
                    if isinstance(v, float) and key not in ("time", "seconds", "steps_per_s", "elapsed"):
                        assert v == pytest.approx(y[key], rel=TOL, abs=TOL), f"seed {s} {name} step {x['step']} {key}"
    # The bound discriminates: another seed's run is far outside it.
    a, b = load_checkpoint(left / "seed0" / "checkpoint.pt"), load_checkpoint(right / "seed1" / "checkpoint.pt")
    assert max(_gaps(a["discriminator"], b["discriminator"]).values()) > 100 * TOL


CASES = {
    "mlp on ring (batch norm in G)": (["gan"], "ring", SMALL, {}),
    "mlp on MNIST (batch norm in G)": (["lsgan"], "mnist-embedded", SMALL, {}),
    "sn": (["gan", "sn"], "ring", SMALL, {}),
    "wgan-gp": (["wgan-gp"], "ring", SMALL, {}),
    "r1": (["gan", "r1"], "ring", SMALL, {}),
    "cgan": (["gan", "cgan"], "mnist-embedded", SMALL, {}),
    "ema": (["gan", "ema"], "ring", SMALL, {}),
    "n_critic 5 and weight clipping (wgan)": (["wgan"], "ring", SMALL, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_batched_seeds_are_their_separate_runs(pm, tmp_path, case):
    plugins, data, options, extra = CASES[case]
    train = _train(**extra)
    results, why = batched(pm, tmp_path / "b", plugins, data, options, train)
    assert why is None and set(results.values()) == {"finished"}
    separate(pm, tmp_path / "s", plugins, data, options, train)
    assert_same_runs(tmp_path / "b", tmp_path / "s")
    if "ema" in plugins:  # G's average, updated from each seed's own G
        for s in range(K):
            a = load_checkpoint(tmp_path / "b" / f"seed{s}" / "checkpoint.pt")["generator_average"]
            b = load_checkpoint(tmp_path / "s" / f"seed{s}" / "checkpoint.pt")["generator_average"]
            gaps = _gaps(a, b)
            assert max(gaps.values()) <= TOL


def test_a_resumed_group_continues_as_if_uninterrupted(pm, tmp_path):
    batched(pm, tmp_path / "b", ["gan", "r1"], train=_train(steps=30))
    runs = [{"request": RunRequest(train={"steps": STEPS}), "resume": tmp_path / "b" / f"seed{s}"} for s in range(K)]
    results, why = train_seeds(pm, runs, "on", quiet=True, log=lambda *a: None)
    assert why is None and set(results.values()) == {"finished"}
    separate(pm, tmp_path / "s", ["gan", "r1"], train=_train(steps=30))
    for s in range(K):
        prepare_run(pm, RunRequest(train={"steps": STEPS}), resume=tmp_path / "s" / f"seed{s}", quiet=True,
                    log=lambda *a: None).fit()
    assert_same_runs(tmp_path / "b", tmp_path / "s")


def test_a_diverging_seed_fails_alone(pm, tmp_path):
    messages = []

    def poison(trainers, reason):
        assert reason is None
        loss = trainers[1].loss
        trainers[1].loss = lambda hook, **kw: loss(hook, **kw) * float("nan")

    runs = _runs(["gan"], "ring", SMALL, _train(), tmp_path / "b")
    results, _ = train_seeds(pm, runs, "on", quiet=True, log=messages.append, before_fit=poison)
    statuses = [results[tmp_path / "b" / f"seed{s}"] for s in range(K)]
    assert statuses[0] == statuses[2] == "finished"
    assert "not finite" in statuses[1] or "nan" in statuses[1].lower(), statuses[1]
    assert any("seed 1" in m for m in messages)
    separate(pm, tmp_path / "s", ["gan"])
    assert_same_runs(tmp_path / "b", tmp_path / "s", seeds=(0, 2))  # the others are untouched by it
    kept = tmp_path / "b" / "seed1" / "checkpoint.pt"  # nothing trained on NaN is kept as good
    assert not kept.exists() or load_checkpoint(kept)["step"] < STEPS


class _Branchy(nn.Module):
    """A D whose forward branches on its input's values: vmap cannot batch that."""

    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, 1)

    def forward(self, x, labels=None):
        if x.mean() > 0:
            return self.linear(x)
        return -self.linear(x)


def _branchy_plugin():
    from ganlab import hookimpl

    plugin = types.ModuleType("branchy")
    plugin.ganlab_discriminator = hookimpl(lambda data, options: _Branchy(data.shape[0]))
    return plugin


def test_a_plugin_that_cannot_batch_falls_back_with_one_message_naming_it(pm, tmp_path):
    pm.add_plugin(_branchy_plugin(), "branchy", source="test")
    said = []
    runs = _runs(["gan", "branchy"], "ring", SMALL, _train(steps=4), tmp_path / "b")
    results, why = train_seeds(pm, runs, "auto", quiet=True, log=said.append,
                               before_fit=lambda trainers, reason: said.append(reason))
    assert set(results.values()) == {"finished"}
    assert why.startswith("D (built by branchy)") and "_Branchy" in why and "data-dependent control flow" in why, why
    assert [m for m in said if "cannot run batched" in m] == [why]

    from ganlab.errors import ConfigError

    runs = _runs(["gan", "branchy"], "ring", SMALL, _train(steps=4), tmp_path / "c")
    with pytest.raises(ConfigError, match="cannot train batched: D \\(built by branchy\\).*--vectorize auto"):
        train_seeds(pm, runs, "on", quiet=True, log=lambda *a: None)
    assert not (tmp_path / "c" / "seed0" / "metrics.jsonl").exists()


def test_reasons_a_set_up_cannot_batch(pm, tmp_path):
    def trainers(train):
        return [prepare_run(pm, r["request"], out=r["out"], quiet=True, log=lambda *a: None)
                for r in _runs(["gan"], "ring", SMALL, _train(**train), tmp_path / str(len(train)))]

    assert why_not(trainers({})) is None
    assert "fp32" in why_not(trainers({"precision": "bf16"}))


def test_ganlab_run_seeds_writes_a_folder_per_seed_and_resumes_them(tmp_path, capsys):
    from ganlab.cli import main

    out = tmp_path / "runs"
    args = ["run", "--plugin", "gan", "--data", "ring", "--seeds", "2", "--seed", "5", "--steps", "4",
            "--batch-size", "8", "-o", "mlp.g_hidden=16", "-o", "mlp.d_hidden=16", "--out", str(out)]
    assert main(args) == 0
    for s in (5, 6):
        config = (out / f"seed{s}" / "config.toml").read_text()
        assert f"seed = {s}" in config
        assert load_checkpoint(out / f"seed{s}" / "checkpoint.pt")["step"] == 4
    assert main(["run", "--resume", str(out), "--steps", "6"]) == 0
    for s in (5, 6):
        assert load_checkpoint(out / f"seed{s}" / "checkpoint.pt")["step"] == 6
    capsys.readouterr()
    assert main(["run", "--plugin", "gan", "--seeds", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert main(["run", "--resume", str(out / "seed5"), "--seeds", "2"]) == 2  # a single run, not a group
    assert "holds no seedN run folders" in capsys.readouterr().err


def test_ctrl_c_during_one_by_one_seeds_leaves_every_seed_resumable(pm, tmp_path):
    def patch(trainers, reason):
        first = trainers[0]
        advance = first.advance

        def advance_then_ctrl_c():  # as if Ctrl-C came during the first seed's second step
            record = advance()
            first.signals.requested = first.step >= 2
            return record

        first.advance = advance_then_ctrl_c

    runs = _runs(["gan"], "ring", SMALL, _train(steps=6), tmp_path / "b")
    results, why = train_seeds(pm, runs, "off", quiet=True, log=lambda *a: None, before_fit=patch)
    assert why == "--vectorize off" and set(results.values()) == {"interrupted"}
    steps = [load_checkpoint(tmp_path / "b" / f"seed{s}" / "checkpoint.pt")["step"] for s in range(K)]
    assert steps == [2, 0, 0]  # every seed resumable, so `ganlab run --resume DIR` continues all of them
    resumed = [{"request": RunRequest(train={"steps": 6}), "resume": tmp_path / "b" / f"seed{s}"} for s in range(K)]
    results, _ = train_seeds(pm, resumed, "auto", quiet=True, log=lambda *a: None)
    assert set(results.values()) == {"finished"}


@pytest.mark.parametrize("vectorize", ["on", "off"])
def test_quiet_seeds_name_the_seed_in_every_line_and_a_bar_prints_no_eval_lines(pm, tmp_path, vectorize):
    said = []
    runs = _runs(["gan"], "ring", SMALL, _train(steps=4, log_every=2, sample_every=2), tmp_path / "q")
    results, _ = train_seeds(pm, runs, vectorize, quiet=True, log=said.append)
    assert set(results.values()) == {"finished"}
    evals = [m for m in said if m.split(": ", 1)[-1].startswith("step 2: ")]
    assert sorted(m.split(":")[0] for m in evals) == [f"seed {s}" for s in range(K)], said
    losses = [m for m in said if "step 4/4 d_loss=" in m]
    assert losses and all(m.startswith("seed ") for m in losses), said

    said.clear()
    runs = _runs(["gan"], "ring", SMALL, _train(steps=4, log_every=2, sample_every=2), tmp_path / "bar")
    train_seeds(pm, runs, vectorize, quiet=False, log=said.append)
    assert not [m for m in said if "step 2: " in m], said  # the bar shows training; eval.jsonl holds the rest

"""ema: an exponential moving average of G's weights, and the ganlab_generator_average hook behind it."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch
from torch import nn

from ganlab import hookimpl
from ganlab.checkpoint import load_checkpoint, save_checkpoint
from ganlab.cli import main
from ganlab.config import RunRequest
from ganlab.errors import CheckpointError, GanlabError, PluginError
from ganlab.metrics import evaluate_generator
from ganlab.plugins.ema import ExponentialAverage
from ganlab.run import prepare_run


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.norm = nn.BatchNorm1d(2)

    def forward(self, z):
        return self.norm(self.linear(z))


def _flat(module: nn.Module) -> np.ndarray:
    return np.concatenate([t.detach().double().flatten().numpy()
                           for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()])


@pytest.mark.parametrize("rampup", [True, False])
def test_the_average_is_the_recurrence_over_g_s_weights(rampup):
    torch.manual_seed(0)
    G, decay = Tiny(), 0.9
    average = ExponentialAverage(G, decay, rampup)
    expected = None
    for t in range(12):
        with torch.no_grad():  # a new G each update: weights and running statistics
            for p in (*G.parameters(), *G.buffers()):
                if p.is_floating_point():
                    p.copy_(torch.randn_like(p))
            G.norm.num_batches_tracked.fill_(t + 1)
        theta = _flat(G)
        # Written out in float64: copy at the first update, then β_t = min(β, (1+t)/(10+t)) (or β).
        beta = min(decay, (1 + t) / (10 + t)) if rampup else decay
        expected = theta if expected is None else beta * expected + (1 - beta) * theta
        average.update_parameters(G)
    # float32 lerps over 12 updates of O(1) numbers: a few ulps of 1.
    np.testing.assert_allclose(_flat(average.module), expected, rtol=0, atol=1e-6)
    assert average.module.norm.num_batches_tracked.item() == 12  # counters are copied, not averaged
    assert average.updates == 12 and not any(p.requires_grad for p in average.module.parameters())


def test_bad_decay_is_one_message(capsys):
    assert main(["run", "--plugin", "lsgan", "--plugin", "ema", "-o", "ema.decay=1"]) == 2
    err = capsys.readouterr().err
    assert "ema.decay must be in [0, 1)" in err and "Traceback" not in err


def test_training_is_unchanged_and_samples_and_metrics_use_the_average(run_tiny):
    plain = run_tiny(["lsgan"], train={"steps": 5})
    trainer = run_tiny(["lsgan", "ema"], options={"ema": {"decay": "0.5"}}, train={"steps": 5, "eval_every": 5,
                                                                                 "eval_samples": 200})
    g_plain, g_ema = plain.G.state_dict(), trainer.G.state_dict()
    assert all(torch.equal(g_plain[k], g_ema[k]) for k in g_plain)  # G trains exactly as without it
    assert trainer.G_avg.updates == 5 and trainer.sampler is trainer.G_avg.module
    average = trainer.G_avg.module.state_dict()
    assert any(not torch.equal(average[k], g_ema[k]) for k in g_ema if average[k].is_floating_point())
    (row,) = [json.loads(line) for line in (trainer.run_dir / "eval.jsonl").read_text().splitlines()]
    args = (trainer.selection, trainer.setup.loaded, trainer.options)
    rest = (trainer.train.latent_dim, False, 200, trainer.train.seed, trainer.device)
    of_average = evaluate_generator(*args, trainer.G_avg.module, *rest)
    of_g = evaluate_generator(*args, trainer.G, *rest)
    assert row["weights"] == "average" and row["fd"] == pytest.approx(of_average["fd"], rel=1e-9)
    assert abs(of_average["fd"] - of_g["fd"]) > 1e-6 * of_g["fd"]  # so the row could not have come from G


def test_ganlab_eval_uses_the_average_and_raw_uses_g(run_tiny, capsys):
    trainer = run_tiny(["lsgan", "ema"], options={"ema": {"decay": "0.5"}}, train={"steps": 4})
    drop = lambda row: {k: v for k, v in row.items() if k not in ("seconds", "weights")}  # noqa: E731
    assert main(["eval", str(trainer.run_dir), "--n", "200", "--json"]) == 0
    average = json.loads(capsys.readouterr().out)
    assert main(["eval", str(trainer.run_dir), "--n", "200", "--json", "--raw"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert (average["weights"], raw["weights"]) == ("average", "raw") and drop(average) != drop(raw)
    args = (trainer.selection, trainer.setup.loaded, trainer.options)
    rest = (trainer.train.latent_dim, False, 200, 0, trainer.device)
    assert average["fd"] == pytest.approx(evaluate_generator(*args, trainer.G_avg.module, *rest)["fd"], rel=1e-9)
    assert raw["fd"] == pytest.approx(evaluate_generator(*args, trainer.G, *rest)["fd"], rel=1e-9)


def test_a_checkpoint_without_the_average_is_refused_with_the_way_out(pm, run_tiny, capsys):
    trainer = run_tiny(["lsgan", "ema"], train={"steps": 2})
    path = trainer.folder.checkpoint
    state = load_checkpoint(path)
    state["generator_average"] = None
    save_checkpoint({k: v for k, v in state.items() if k != "format"}, path)
    with pytest.raises(CheckpointError, match="no average of G's weights"):
        prepare_run(pm, RunRequest(train={"steps": 4}), resume=trainer.run_dir, quiet=True)
    assert main(["eval", str(trainer.run_dir), "--n", "100"]) == 2
    assert "--raw" in capsys.readouterr().err
    assert main(["eval", str(trainer.run_dir), "--n", "100", "--raw"]) == 0


def test_a_third_party_average_is_used_as_is(pm, run_tiny):
    """torch's own AveragedModel (a running mean of G's weights, SWA) through the hook."""
    module = types.ModuleType("swa_average")

    def ganlab_generator_average(generator):
        return torch.optim.swa_utils.AveragedModel(generator, use_buffers=True)

    module.ganlab_generator_average = hookimpl(ganlab_generator_average)
    pm.add_plugin(module, "swa-g", source="test")
    trainer = run_tiny(["lsgan", "swa-g"], train={"steps": 3})
    assert int(trainer.G_avg.n_averaged) == 3 and trainer.sampler is trainer.G_avg.module
    assert load_checkpoint(trainer.folder.checkpoint)["generator_average"]["n_averaged"].item() == 3
    with pytest.raises(GanlabError, match="ganlab_generator_average"):  # two averages: one answer only
        run_tiny(["lsgan", "swa-g", "ema"], fit=False)


def test_an_average_without_the_interface_is_a_plugin_error(pm, run_tiny):
    module = types.ModuleType("bad_average")
    module.ganlab_generator_average = hookimpl(lambda generator: generator)  # no update_parameters
    pm.add_plugin(module, "bad-average", source="test")
    with pytest.raises(PluginError, match="without module, update_parameters"):
        run_tiny(["lsgan", "bad-average"], fit=False)


def test_only_rank_zero_writes_eval_every_rows(run_tiny):
    from ganlab.distributed import World

    trainer = run_tiny(["lsgan", "ema"], train={"steps": 2}, fit=False)
    trainer.world = World(rank=1, size=2)
    assert trainer.evaluate_metrics() is None and not (trainer.run_dir / "eval.jsonl").exists()


def test_the_conformance_kit_passes_ema_at_every_decay_and_fails_a_frozen_average():
    from ganlab.testing import check_plugin

    for decay in ("0", "0.999"):
        results = check_plugin("ema", options={"ema": {"decay": decay}})
        assert "average.follows" in {r.check for r in results if r.passed}, [str(r) for r in results]

    class Frozen(ExponentialAverage):
        def update_parameters(self, generator):
            pass

    module = types.ModuleType("frozen_average")
    module.ganlab_generator_average = hookimpl(lambda generator: Frozen(generator))
    results = check_plugin(module, name="frozen")
    assert {r.check for r in results if r.failed} == {"average.follows"}


class _Flipped(ExponentialAverage):
    """The weights of the lerp swapped: θ̄ ← (1 - β)·θ̄ + β·θ."""

    @torch.no_grad()
    def update_parameters(self, generator):
        beta = self.beta()
        for a, b in zip((*self.module.parameters(), *self.module.buffers()),
                        (*generator.parameters(), *generator.buffers())):
            a.copy_(b if self.updates == 0 or not a.is_floating_point() else (1 - beta) * a + beta * b)
        self.updates += 1


@pytest.mark.parametrize("wrong", ["flipped", "no-rampup"])
def test_verify_fails_an_average_that_is_not_the_declared_ema(pm, wrong):
    from ganlab.analysis import claims as C
    from ganlab.analysis.suite import verify

    module = types.ModuleType("wrong_ema")
    if wrong == "flipped":
        module.ganlab_generator_average = hookimpl(lambda generator: _Flipped(generator, 0.9, True))
    else:  # declares the ramp-up, never ramps
        module.ganlab_generator_average = hookimpl(lambda generator: ExponentialAverage(generator, 0.9, False))
    module.ganlab_claims = hookimpl(lambda: C.WeightAverage(decay=0.9, rampup=True))
    pm.add_plugin(module, "wrong-ema", source="test")
    failed = {r.claim for r in verify(pm, ["wrong-ema"]).results if r.status == C.FAIL}
    assert failed == {"ema-recurrence"}


def test_verify_passes_the_builtin_in_its_variants(pm):
    from ganlab.analysis import claims as C
    from ganlab.analysis.suite import verify

    report = verify(pm, ["ema"])
    rows = [r for r in report.results if r.claim == "ema-recurrence"]
    assert report.ok and len(rows) == 3 and all(r.status == C.PASS for r in rows)


def test_verify_fails_an_average_without_the_cap_of_its_ramp(pm):
    """β_t = (1+t)/(10+t) with no min(β, ·): equal to the claim until the ramp passes β."""
    from ganlab.analysis import claims as C
    from ganlab.analysis.suite import verify

    class Uncapped(ExponentialAverage):
        def beta(self):
            return (1 + self.updates) / (10 + self.updates)

    module = types.ModuleType("uncapped")
    module.ganlab_generator_average = hookimpl(lambda generator: Uncapped(generator, 0.5, True))
    module.ganlab_claims = hookimpl(lambda: C.WeightAverage(decay=0.5, rampup=True))
    pm.add_plugin(module, "uncapped", source="test")
    failed = {r.claim for r in verify(pm, ["uncapped"]).results if r.status == C.FAIL}
    assert failed == {"ema-recurrence"}

"""Plugin discovery, selection, composition and conflicts."""

from __future__ import annotations

import json

import types

import pytest
import torch

from ganlab import hookimpl
from ganlab.errors import PluginError
from ganlab.manager import DEFAULT_PROVIDERS, make_plugin_manager


def plugin(**hooks):
    """A plugin module from hook functions, marked like a real plugin."""
    module = types.ModuleType("test_plugin")
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    return module


def test_factory_builds_independent_managers():
    a, b = make_plugin_manager(autoload=False), make_plugin_manager(autoload=False)
    assert a is not b
    a.add_plugin(plugin(ganlab_d_loss=lambda real_scores, fake_scores: real_scores.sum()), "extra")
    assert "extra" in a.infos and "extra" not in b.infos


def test_builtins_registered_with_hooks(pm):
    assert pm.info("lsgan").hooks == ["ganlab_claims", "ganlab_d_loss", "ganlab_g_loss", "ganlab_options",
                                      "ganlab_verify_variants"]
    assert pm.info("lsgan").source == "built-in"
    assert "ganlab_generator" in pm.info("mlp").hooks


def test_defaults_fill_unanswered_hooks(pm):
    sel = pm.select(["lsgan"])
    assert sel.implementers("ganlab_d_loss") == ["lsgan"]
    assert sel.implementers("ganlab_generator") == [DEFAULT_PROVIDERS["ganlab_generator"]]
    assert sel.implementers("ganlab_optimizer") == ["adam"]
    assert sel.active == ["data", "mnist-metrics", "lsgan", "mlp", "adam"]
    assert sel.implementers("ganlab_conditioner") == []


def test_selection_calls_only_active_plugins(pm):
    # gan and lsgan are both registered; a run with lsgan must use lsgan's loss only.
    sel = pm.select(["lsgan"])
    real, fake = torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0])
    loss = sel.hook.ganlab_d_loss(real_scores=real, fake_scores=fake, options=sel.build_options())
    assert loss.item() == 0.0  # lsgan's targets are met exactly; BCE would be positive


def test_two_plugins_on_single_answer_hook_conflict(pm):
    with pytest.raises(PluginError) as err:
        pm.select(["gan", "lsgan"])
    msg = str(err.value)
    assert "'gan'" in msg and "'lsgan'" in msg and "ganlab_d_loss" in msg


def test_composition_of_architecture_loss_and_regularizer(pm, run_tiny):
    from ganlab.regularizers import Regularizer

    class Clip(Regularizer):
        name, player = "clip", "D"

        def after_step(self, module):
            for p in module.parameters():
                p.data.clamp_(-0.01, 0.01)

    pm.add_plugin(plugin(ganlab_regularizer=lambda: Clip()), "clip")
    sel = pm.select(["mlp", "lsgan", "clip"])
    assert sel.implementers("ganlab_regularizer") == ["clip"]
    assert sel.implementers("ganlab_d_loss") == ["lsgan"]
    trainer = run_tiny(["mlp", "lsgan", "clip"], train={"steps": 2})
    assert all(p.abs().max() <= 0.01 for p in trainer.D.parameters())
    assert any(p.abs().max() > 0.01 for p in trainer.G.parameters())  # the constraint is D's only


def test_unknown_plugin_lists_closest_first(pm):
    with pytest.raises(PluginError) as err:
        pm.select(["lsgn"])
    msg = str(err.value)
    assert "unknown plugin 'lsgn'" in msg
    listed = msg.split("available: ")[1].split(", ")
    assert listed[0] == "lsgan"
    assert set(listed) == set(pm.available())


def test_typo_hook_is_reported_as_broken_not_raised(pm):
    info = pm.add_plugin(plugin(ganlab_dloss=lambda real_scores: real_scores), "typo")
    assert not info.ok and "ganlab_dloss" in info.error and "ganlab_d_loss" in info.error
    with pytest.raises(PluginError, match="ganlab_dloss"):
        pm.select(["typo"])
    assert pm.info("lsgan").ok  # the others are unaffected


def test_missing_marker_is_reported():
    pm = make_plugin_manager(autoload=False)
    bare = types.ModuleType("bare")
    bare.ganlab_d_loss = lambda real_scores: real_scores
    info = pm.add_plugin(bare, "nomark")
    assert not info.ok and "@hookimpl" in info.error


def test_bad_hook_argument_is_reported(pm):
    info = pm.add_plugin(plugin(ganlab_d_loss=lambda real_scores, oops: real_scores), "badarg")
    assert not info.ok and "oops" in info.error


def test_failing_options_hook_is_reported(pm):
    def ganlab_options():
        raise RuntimeError("boom")

    info = pm.add_plugin(plugin(ganlab_options=ganlab_options), "badopts")
    assert not info.ok and "boom" in info.error


def test_duplicate_name_keeps_builtin_and_lists_newcomer_as_broken(pm):
    info = pm.add_plugin(plugin(ganlab_d_loss=lambda real_scores: real_scores.mean()), "lsgan", "other-dist 1.0")
    assert not info.ok and "built-in" in info.error and "other-dist 1.0" in info.error
    assert pm.info("lsgan").source == "built-in"


def test_duplicate_third_party_names_are_both_unusable(pm):
    pm.add_plugin(plugin(ganlab_d_loss=lambda real_scores: real_scores.mean()), "twin", "dist-a 1.0")
    pm.add_plugin(plugin(ganlab_d_loss=lambda real_scores: real_scores.mean()), "twin", "dist-b 2.0")
    with pytest.raises(PluginError) as err:
        pm.select(["twin"])
    assert "dist-a 1.0" in str(err.value) and "dist-b 2.0" in str(err.value)


def test_subset_argument_loss_plugin_trains(pm, run_tiny):
    calls = []

    def d_loss(real_scores, fake_scores):
        calls.append("d")
        return torch.nn.functional.softplus(-real_scores).mean() + torch.nn.functional.softplus(fake_scores).mean()

    def g_loss(fake_scores):
        calls.append("g")
        return torch.nn.functional.softplus(-fake_scores).mean()

    pm.add_plugin(plugin(ganlab_d_loss=d_loss, ganlab_g_loss=g_loss), "minimal")
    trainer = run_tiny(["minimal"], train={"steps": 2})
    assert trainer.step == 2 and calls == ["d", "g", "d", "g"]


def test_real_scores_only_computed_when_declared(pm, run_tiny):
    seen = []

    def g_loss(fake_scores, real_scores):
        seen.append(real_scores.shape)
        return (real_scores.detach().mean() - fake_scores).mean()

    pm.add_plugin(plugin(ganlab_g_loss=g_loss), "relativistic-g")
    trainer = run_tiny(["relativistic-g"], train={"steps": 1, "batch_size": 8})
    assert seen == [torch.Size([8])]
    assert trainer.g_needs_real
    assert not run_tiny(["lsgan"], fit=False).g_needs_real


def test_train_default_suggestions_conflict(pm, run_tiny):
    pm.add_plugin(plugin(ganlab_train_defaults=lambda: {"n_critic": 5}), "five")
    pm.add_plugin(plugin(ganlab_train_defaults=lambda: {"n_critic": 3}), "three")
    with pytest.raises(PluginError, match="n_critic") as err:
        run_tiny(["five", "three"], fit=False)
    assert "'five'" in str(err.value) and "'three'" in str(err.value)
    # An explicit flag settles it.
    trainer = run_tiny(["five", "three"], train={"n_critic": 2}, fit=False)
    assert trainer.setup.train.n_critic == 2


def test_fallback_suggestions_yield_to_firm_ones_but_conflict_among_themselves(pm, run_tiny):
    from ganlab.config import Fallback

    pm.add_plugin(plugin(ganlab_train_defaults=lambda: Fallback(n_critic=3, lr=1e-3)), "preset")
    pm.add_plugin(plugin(ganlab_train_defaults=lambda: {"n_critic": 5}), "critic")
    trainer = run_tiny(["preset", "critic"], fit=False)
    assert (trainer.setup.train.n_critic, trainer.setup.train.lr) == (5, 1e-3)
    pm.add_plugin(plugin(ganlab_train_defaults=lambda: Fallback(lr=1e-2)), "other-preset")
    with pytest.raises(PluginError, match="'preset' and 'other-preset' suggest different lr"):
        run_tiny(["preset", "other-preset"], fit=False)


def test_train_default_suggestion_applies(pm, run_tiny):
    pm.add_plugin(plugin(ganlab_train_defaults=lambda options: {"n_critic": 4, "lr": 1e-3}), "slow-critic")
    trainer = run_tiny(["slow-critic"], fit=False)
    assert (trainer.setup.train.n_critic, trainer.setup.train.lr) == (4, 1e-3)
    assert trainer.opt_d.param_groups[0]["lr"] == 1e-3


def test_validate_hook_rejects_before_training(pm, run_tiny, tmp_path):
    from ganlab.errors import ConfigError

    pm.add_plugin(plugin(ganlab_validate=lambda setup: [f"no {setup.data.name} please", None][:1]), "picky")
    with pytest.raises(ConfigError, match="no mnist please"):
        run_tiny(["picky"], out=tmp_path / "picky")
    assert not (tmp_path / "picky").exists()  # nothing was written


def test_on_log_and_run_end_callbacks(pm, run_tiny):
    logged, ended = [], []
    pm.add_plugin(plugin(
        ganlab_on_log=lambda step, record: logged.append((step, record["step"])),
        ganlab_on_run_end=lambda run_dir, step, status: ended.append((step, status, run_dir.is_dir())),
    ), "watcher")
    run_tiny(["watcher"], train={"steps": 3, "log_every": 1})
    assert logged == [(1, 1), (2, 2), (3, 3)]
    assert ended == [(3, "finished", True)]


def test_run_start_eval_and_samples_observers(pm, run_tiny, tmp_path):
    seen = []
    pm.add_plugin(plugin(
        ganlab_on_run_start=lambda run_dir, step, config: seen.append(("start", step, config["train"]["steps"])),
        ganlab_on_eval=lambda step, row, run_dir: seen.append(("eval", step, row["source"], row["step"])),
        ganlab_on_samples=lambda step, samples, picture, run_dir: seen.append(
            ("samples", step, tuple(samples.shape), picture.name, picture.is_file())),
    ), "watcher")
    train = {"steps": 4, "sample_every": 2, "checkpoint_every": 2, "log_every": 1}
    trainer = run_tiny(["watcher"], data="ring", train=train, out=tmp_path / "r")
    assert seen[0] == ("start", 0, 4)
    assert [s for s in seen if s[0] == "samples"] == [("samples", k, (2500, 2), f"step_{k:06d}.png", True)
                                                     for k in (2, 4)]
    rows = [json.loads(line) for line in (trainer.run_dir / "eval.jsonl").read_text().splitlines()]
    assert [s for s in seen if s[0] == "eval"] == [("eval", r["step"], r["source"], r["step"]) for r in rows]
    assert len(rows) == 2
    seen.clear()
    from ganlab.config import RunRequest
    from ganlab.run import prepare_run

    prepare_run(pm, RunRequest(train={"steps": 6}), resume=tmp_path / "r", quiet=True, log=lambda *a: None).fit()
    assert seen[0] == ("start", 4, 6)  # at the checkpoint's step; config.toml records the new --steps


def test_custom_dataset_hook(pm, run_tiny):
    from ganlab.datasets import DataSpec, LoadedData

    def ganlab_datasets():
        def load(request):
            x = torch.randn(64, 2, generator=torch.Generator().manual_seed(request.seed))
            return LoadedData(x, None, DataSpec("blob", (2,), None, "points"), source="a test blob")
        return {"blob": load}

    pm.add_plugin(plugin(ganlab_datasets=ganlab_datasets), "blobs")
    trainer = run_tiny(["blobs"], data="blob")
    assert trainer.setup.data.shape == (2,) and trainer.setup.loaded.source == "a test blob"
    assert (trainer.run_dir / "samples" / "step_000003.png").is_file()


def test_conditioner_and_custom_optimizer_hooks(pm, run_tiny):
    from ganlab.conditioning import Conditioner

    def ganlab_optimizer(player, params, train):
        return torch.optim.SGD(params, lr=train.lr)

    pm.add_plugin(plugin(
        ganlab_conditioner=lambda data: Conditioner(data.num_classes, g_embed_dim=4, d_embed_dim=4),
        ganlab_optimizer=ganlab_optimizer,
    ), "labels-sgd")
    trainer = run_tiny(["labels-sgd"], train={"steps": 1})
    assert isinstance(trainer.opt_g, torch.optim.SGD)
    assert trainer.cond.num_classes == 10
    assert trainer.pictures.labels.tolist() == [c for c in range(10) for _ in range(10)]


def test_custom_architecture_hooks_and_bad_score_shape(pm, run_tiny):
    from torch import nn

    class Flat(nn.Module):
        def __init__(self, out):
            super().__init__()
            self.lin = nn.LazyLinear(out)

        def forward(self, x):
            return self.lin(x.flatten(1))

    class G(nn.Module):
        def __init__(self, latent):
            super().__init__()
            self.lin = nn.Linear(latent, 784)

        def forward(self, z):
            return torch.tanh(self.lin(z)).view(-1, 1, 28, 28)

    pm.add_plugin(plugin(
        ganlab_generator=lambda latent_dim: G(latent_dim),
        ganlab_discriminator=lambda: Flat(3),  # wrong: three scores per sample
    ), "threescores")
    with pytest.raises(PluginError, match=r"shape \(16, 3\)"):
        run_tiny(["threescores"])


def test_generator_hook_returning_non_module_is_an_error(pm, run_tiny):
    pm.add_plugin(plugin(ganlab_generator=lambda: "not a module"), "stringy")
    with pytest.raises(PluginError, match="stringy"):
        run_tiny(["stringy"], fit=False)

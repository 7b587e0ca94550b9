"""ganlab.testing: built-in plugins conform, and broken plugins are caught by the right check."""

from __future__ import annotations

import importlib.util
import itertools
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganlab import hookimpl
from ganlab.regularizers import Regularizer
from ganlab.testing import CheckResult, assert_plugin_conforms, check_plugin

RAGAN_INIT = Path(__file__).parents[2] / "examples" / "ganlab-ragan" / "ganlab_ragan" / "__init__.py"


def plugin(**hooks):
    """A plugin module built from hook functions."""
    module = types.ModuleType("broken_plugin")
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    return module


def failed(results: list[CheckResult]) -> set[str]:
    return {r.check for r in results if r.failed}


def bce_d(real_scores, fake_scores):
    return (F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
            + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores)))


def bce_g(fake_scores):
    return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))


# --- what must pass --------------------------------------------------------------


@pytest.mark.parametrize("name", ["gan", "lsgan", "wgan", "hinge", "wgan-gp", "r1", "sn"])
def test_builtin_loss_and_regularizer_plugins_conform(name):
    results = assert_plugin_conforms(name)
    assert any(r.check.startswith("train.") and r.passed for r in results)


def test_recon_conforms_in_a_conditional_run():
    assert_plugin_conforms("recon", with_plugins=["cgan"])


@pytest.mark.parametrize("options", [
    {"lsgan": {"preset": "pearson"}},  # c = 0: G's target is the midpoint, not "higher"
    {"lsgan": {"sigmoid": "true"}},
    {"gan": {"generator_loss": "minimax"}},
    {"wgan-gp": {"one_sided": "true"}},
])
def test_option_variants_conform(options):
    (name,) = options
    assert_plugin_conforms(name, options=options)


def test_builtin_module_object_is_checked_under_its_registered_name():
    from ganlab.plugins import hinge

    results = check_plugin(hinge)
    assert "data + mnist-metrics + hinge + mlp + adam" in next(r.message for r in results if r.check == "train.setup")


def test_non_separable_relativistic_loss_conforms():
    spec = importlib.util.spec_from_file_location("ragan_under_test", RAGAN_INIT)
    ragan = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ragan)
    results = assert_plugin_conforms(ragan, name="ragan")
    # Its g_loss reads real scores, so the batch-size check applies to it too.
    assert "g_loss.batch_sizes" in {r.check for r in results if r.passed}


def test_subset_argument_implementations_conform():
    results = assert_plugin_conforms(plugin(ganlab_d_loss=bce_d, ganlab_g_loss=bce_g), name="minimal")
    checks = {r.check for r in results if r.passed}
    assert {"d_loss.scalar", "d_loss.sign", "g_loss.gradients", "train.updates"} <= checks


# --- what must fail, and where ---------------------------------------------------


def test_sigmoid_sign_flipped_d_loss_fails_the_sign_check():
    def flipped(real_scores, fake_scores):  # targets swapped: D is rewarded for calling fakes real
        return bce_d(fake_scores, real_scores)

    results = check_plugin(plugin(ganlab_d_loss=flipped), name="flipped")
    assert failed(results) == {"d_loss.sign"}
    assert "flipped" in next(r.message for r in results if r.check == "d_loss.sign")


def test_sign_flipped_g_loss_fails_the_sign_check():
    def minimax_sign_error(fake_scores):  # log(1 - D) minimised by G the wrong way round
        return F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))

    assert failed(check_plugin(plugin(ganlab_g_loss=minimax_sign_error), name="g-flipped")) == {"g_loss.sign"}


def test_vector_loss_fails_the_scalar_check_with_its_shape():
    def per_sample(real_scores, fake_scores):
        return F.softplus(-real_scores) + F.softplus(fake_scores)  # no mean over the batch

    results = check_plugin(plugin(ganlab_d_loss=per_sample), name="vector")
    assert "d_loss.scalar" in failed(results)
    assert "shape (8,)" in next(r.message for r in results if r.check == "d_loss.scalar")


def test_loss_drawing_global_randomness_fails_purity():
    def noisy(real_scores, fake_scores):
        return bce_d(real_scores, fake_scores) + 0.01 * torch.rand(())

    results = check_plugin(plugin(ganlab_d_loss=noisy), name="noisy")
    assert "d_loss.pure" in failed(results)
    assert "d_loss.deterministic" not in failed(results)  # reseeding makes it repeatable, not pure


def test_stateful_loss_fails_determinism():
    counter = itertools.count(1)

    def drifting(fake_scores):
        return bce_g(fake_scores) * (1 + 1e-3 * next(counter))

    results = check_plugin(plugin(ganlab_g_loss=drifting), name="drifting")
    assert {"g_loss.deterministic", "g_loss.pure"} <= failed(results)


def test_loss_with_its_own_parameter_fails_the_gradient_check():
    margin = nn.Parameter(torch.tensor(1.0))  # gradient would leak into a tensor no player owns

    def learned_margin(real_scores, fake_scores):
        return F.relu(margin - real_scores).mean() + F.relu(margin + fake_scores).mean()

    results = check_plugin(plugin(ganlab_d_loss=learned_margin), name="leaky")
    assert failed(results) == {"d_loss.gradients"}
    assert "other than its score arguments" in next(r.message for r in results if r.check == "d_loss.gradients")


def test_detached_fake_scores_fail_the_gradient_check():
    def half_detached(real_scores, fake_scores):
        return bce_d(real_scores, fake_scores.detach())

    results = check_plugin(plugin(ganlab_d_loss=half_detached), name="half")
    assert "d_loss.gradients" in failed(results)
    assert "fake scores" in next(r.message for r in results if r.check == "d_loss.gradients")


def test_a_fake_term_in_a_regularizer_must_reach_the_fake_scores():
    # BEGAN's form: d_loss is L(x) alone and a D penalty carries the fake term, so the
    # kit accepts it only when that penalty is connected to the fake scores.
    def real_only(real_scores, fake_scores):
        return -real_scores.mean()

    on_reals = plugin(ganlab_d_loss=real_only,
                      ganlab_regularizer=lambda: _Penalty(fn=lambda b: 0.1 * b.real_scores.mean() ** 2))
    assert "d_loss.gradients" in failed(check_plugin(on_reals, name="real-only"))
    on_fakes = plugin(ganlab_d_loss=real_only,
                      ganlab_regularizer=lambda: _Penalty(fn=lambda b: 0.0 * b.fake_scores.mean()))
    assert "d_loss.gradients" not in failed(check_plugin(on_fakes, name="controlled"))


def test_loss_undefined_at_batch_size_one_fails():
    def standardised(real_scores, fake_scores):  # std of one score is nan
        return bce_d(real_scores / real_scores.std(), fake_scores / fake_scores.std())

    with pytest.warns(UserWarning):  # torch warns about std with one degree of freedom
        results = check_plugin(plugin(ganlab_d_loss=standardised), name="std")
    assert "d_loss.batch_size_1" in failed(results)


def test_elementwise_loss_conforms_since_batches_have_one_length():
    def paired(real_scores, fake_scores):
        return (fake_scores - real_scores).mean()  # WGAN written elementwise, as StudioGAN does

    assert failed(check_plugin(plugin(ganlab_d_loss=paired), name="paired")) == set()


def test_loss_that_breaks_on_some_batch_length_fails_batch_sizes():
    def fixed(real_scores, fake_scores):
        return (real_scores.view(4, -1)[0] - fake_scores.mean()).mean()  # assumes a multiple of 4

    assert "d_loss.batch_sizes" in failed(check_plugin(plugin(ganlab_d_loss=fixed), name="fixed"))


def test_loss_mutating_its_inputs_fails_purity():
    def clamping(real_scores, fake_scores):
        if not real_scores.requires_grad:
            real_scores.clamp_(max=0.5)
        return bce_d(real_scores, fake_scores)

    results = check_plugin(plugin(ganlab_d_loss=clamping), name="mutating")
    assert "d_loss.pure" in failed(results)
    assert "in place" in next(r.message for r in results if r.check == "d_loss.pure")


class _Penalty(Regularizer):
    def __init__(self, name="p", player="D", fn=None):
        self.name, self.player, self.fn = name, player, fn

    def penalty(self, batch):
        return self.fn(batch)


def _d_grad_norm(batch):
    return sum(p.pow(2).sum() for p in batch.discriminator.parameters() if p.requires_grad) * 1e-3


def test_regularizer_with_bad_player_fails():
    reg_plugin = plugin(ganlab_regularizer=lambda: _Penalty(player="critic", fn=_d_grad_norm))
    results = check_plugin(reg_plugin, name="bad-player")
    assert "regularizer.declared" in failed(results)
    assert "'D' or 'G'" in next(r.message for r in results if r.check == "regularizer.declared")


def test_vector_and_detached_penalties_fail():
    vector = plugin(ganlab_regularizer=lambda: _Penalty(fn=lambda b: b.real_scores ** 2))
    assert "regularizer.penalty" in failed(check_plugin(vector, name="vector-penalty"))
    detached = plugin(ganlab_regularizer=lambda: _Penalty(fn=lambda b: _d_grad_norm(b).detach()))
    results = check_plugin(detached, name="detached-penalty")
    assert "carries no gradient" in next(r.message for r in results if r.check == "regularizer.penalty")


def test_g_penalty_that_ignores_the_generator_fails():
    # A "G" penalty computed from D's weights only: G's update cannot reduce it.
    reg_plugin = plugin(ganlab_regularizer=lambda: _Penalty(player="G", fn=_d_grad_norm))
    results = check_plugin(reg_plugin, name="misplaced")
    assert "gives no gradient to G's parameters" in next(
        r.message for r in results if r.check == "regularizer.penalty")


def test_d_hook_that_modifies_the_generator_fails_the_update_check():
    class Meddling(Regularizer):
        name, player = "meddling", "D"

        @torch.no_grad()
        def after_step(self, module):
            self.generator.net[0].weight.add_(0.1)

    meddling = Meddling()

    def grab_generator(setup):  # ganlab_validate sees the built models: keep a handle on G
        meddling.generator = setup.generator

    results = check_plugin(plugin(ganlab_regularizer=lambda: meddling, ganlab_validate=grab_generator),
                           name="meddling")
    assert "train.updates" in failed(results)
    assert "changed the generator's parameters" in next(r.message for r in results if r.check == "train.updates")


def test_after_step_that_undoes_the_update_fails():
    class Frozen(Regularizer):
        name, player = "frozen", "D"

        def transform(self, module):
            self.saved = {k: v.clone() for k, v in module.state_dict().items()}
            return module

        def after_step(self, module):
            module.load_state_dict(self.saved)

    results = check_plugin(plugin(ganlab_regularizer=lambda: Frozen()), name="frozen")
    assert "train.updates" in failed(results)


# --- registration and reporting -------------------------------------------------


def test_unknown_name_and_typo_hook_and_taken_name_fail_registration():
    results = check_plugin("no-such-plugin")
    assert failed(results) == {"register"} and "lsgan" in results[0].message
    typo = plugin(ganlab_dloss=lambda real_scores: real_scores.mean())
    assert "did you mean ganlab_d_loss" in check_plugin(typo, name="typo")[0].message
    taken = check_plugin(plugin(ganlab_g_loss=bce_g), name="gan")
    assert failed(taken) == {"register"} and "choose another" in taken[0].message


def test_assert_lists_every_failed_check():
    def flipped(real_scores, fake_scores):
        return -bce_d(real_scores, fake_scores)

    def per_sample(fake_scores):
        return F.softplus(-fake_scores)

    bad = plugin(ganlab_d_loss=flipped, ganlab_g_loss=per_sample)
    n_failed = len([r for r in check_plugin(bad, name="two-bugs") if r.failed])
    with pytest.raises(AssertionError) as err:
        assert_plugin_conforms(bad, name="two-bugs")
    msg = str(err.value)
    assert "d_loss.sign" in msg and "g_loss.scalar" in msg
    assert f"fails {n_failed} conformance check(s)" in msg
    assert msg.count("\n  - ") == n_failed


def test_a_plugin_without_losses_or_regularizers_skips_those_checks():
    results = check_plugin(plugin(ganlab_train_defaults=lambda: {"n_critic": 2}), name="settings-only")
    skipped = {r.check for r in results if r.skipped}
    assert {"d_loss", "g_loss", "regularizer"} <= skipped
    assert not failed(results)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name, context", [("r1", {}), ("recon", {"with_plugins": ["cgan"]})])
def test_penalty_checks_run_on_the_runs_device(name, context):
    # The penalty check draws z and fake labels itself: on the run's device, or G would get CPU input.
    results = assert_plugin_conforms(name, train={"device": "cuda"}, **context)
    assert any(r.check == "regularizer.penalty" and r.passed and "checked" in r.message for r in results)


class _Doubling(nn.Module):
    """Not an average: twice G's weights."""

    def __init__(self, generator):
        super().__init__()
        import copy

        self.module = copy.deepcopy(generator)

    @torch.no_grad()
    def update_parameters(self, generator):
        for mine, theirs in zip(self.module.parameters(), generator.parameters()):
            mine.copy_(2 * theirs)


class _Alias(nn.Module):
    """Holds G itself: 'averages' whatever G is now."""

    def __init__(self, generator):
        super().__init__()
        self.module = generator

    def update_parameters(self, generator):
        pass


@pytest.mark.parametrize("average", [_Doubling, _Alias])
def test_an_average_that_is_not_one_fails_its_check(average):
    results = check_plugin(plugin(ganlab_generator_average=lambda generator: average(generator)), name="bad-avg")
    assert failed(results) == {"average.follows"}


def test_torch_s_own_averages_pass():
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    for build in (lambda g: AveragedModel(g, use_buffers=True),
                  lambda g: AveragedModel(g, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)):
        results = check_plugin(plugin(ganlab_generator_average=lambda generator: build(generator)), name="swa")
        assert "average.follows" in {r.check for r in results if r.passed}, [str(r) for r in results]


def test_options_that_do_not_read_back_fail_the_kit():
    from dataclasses import dataclass

    @dataclass
    class Opts:
        scale: float = 1.0
        preset: str = "none"

        def __post_init__(self):
            if self.preset == "double":
                if self.scale != 1.0:  # refuses the derived value a recorded config holds
                    raise ValueError("give either preset or scale")
                self.scale = 2.0

    def d_loss(real_scores, fake_scores, options):
        return options[Opts].scale * (fake_scores.mean() - real_scores.mean())

    results = check_plugin(plugin(ganlab_options=lambda: Opts, ganlab_d_loss=d_loss), name="presetted",
                           options={"presetted": {"preset": "double"}})
    assert "options.read_back" in failed(results)
    assert "options.read_back" not in failed(check_plugin(plugin(ganlab_options=lambda: Opts, ganlab_d_loss=d_loss),
                                                          name="presetted"))


# --- what the kit reports about --seeds -------------------------------------------


class _BranchingD(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, 1)

    def forward(self, x, labels=None):
        return self.linear(x) if x.sum() > 0 else self.linear(-x)  # vmap cannot batch a branch on values


def test_the_kit_reports_whether_a_plugin_batches():
    report = {r.check: r for r in check_plugin("sn")}["train.batches"]
    assert report.passed and report.message.startswith("batches")
    branchy = plugin(ganlab_discriminator=lambda data: _BranchingD(int(torch.tensor(data.shape).prod())))
    report = {r.check: r for r in check_plugin(branchy, "branchy", data="ring")}["train.batches"]
    assert report.passed  # a report, not a failure: such a plugin's seeds train one by one
    assert report.message.startswith("does not batch") and "built by branchy" in report.message
    assert "data-dependent control flow" in report.message
    report = {r.check: r for r in check_plugin("diffaugment", data="mnist-embedded")}["train.batches"]
    assert "changed by diffaugment" in report.message and "random numbers" in report.message


# --- observers -------------------------------------------------------------------


def test_an_observer_is_called_and_must_not_change_training():
    seen = []
    watcher = plugin(ganlab_on_log=lambda step, record: seen.append(step))
    report = {r.check: r for r in check_plugin(watcher, "watcher")}["observers"]
    assert report.passed and "ganlab_on_log x4" in report.message and seen
    # Drawing from torch's global stream moves WGAN-GP's interpolation draws of the next step.
    noisy = plugin(ganlab_on_log=lambda step: torch.rand(()))
    report = {r.check: r for r in check_plugin(noisy, "noisy", with_plugins=["wgan-gp"])}["observers"]
    assert report.failed and "observing changed training" in report.message

    def broken(run_dir, step, status):
        raise RuntimeError("disk full")

    report = {r.check: r for r in check_plugin(plugin(ganlab_on_run_end=broken), "broken")}["observers"]
    assert report.failed and "disk full" in report.message

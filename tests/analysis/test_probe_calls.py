"""How verify calls plugin code: as the trainer does, with errors that say where and how."""

from __future__ import annotations

import numpy as np
import torch

from ganlab.analysis import claims as C
from ganlab.analysis.probe import LossProbe
from ganlab.analysis.suite import verify
from ganlab.regularizers import Regularizer


def test_losses_only_ever_see_equal_batches_of_shape_batch(fresh_pm, helpers):
    seen = []

    def d_loss(real_scores, fake_scores):
        seen.append((tuple(real_scores.shape), tuple(fake_scores.shape)))
        return torch.nn.functional.softplus(-real_scores).mean() + torch.nn.functional.softplus(fake_scores).mean()

    def g_loss(fake_scores, real_scores):
        seen.append((tuple(real_scores.shape), tuple(fake_scores.shape)))
        return torch.nn.functional.softplus(-fake_scores).mean()

    fresh_pm.add_plugin(helpers.plugin(ganlab_d_loss=d_loss, ganlab_g_loss=g_loss), "watch", source="test")
    assert verify(fresh_pm, ["watch"]).ok
    assert seen and all(r == f and len(r) == 1 for r, f in seen), {s for s in seen if s[0] != s[1] or len(s[0]) != 1}


def test_a_crash_names_the_claim_the_hook_the_shapes_and_the_line(fresh_pm, helpers):
    def d_loss(real_scores, fake_scores):
        labels = torch.ones(real_scores.shape[0], 3)
        return torch.nn.functional.binary_cross_entropy_with_logits(real_scores, labels)  # shapes differ

    fresh_pm.add_plugin(helpers.plugin(ganlab_d_loss=d_loss), "crashy", source="test")
    report = verify(fresh_pm, ["crashy"])
    row = next(r for r in report.results if r.status == C.FAIL)
    assert row.claim == "loss-finite"
    assert "ganlab_d_loss raised ValueError" in row.note
    assert "real_scores (1,) float64, fake_scores (1,) float64" in row.note
    assert "test_probe_calls.py" in row.note and "binary_cross_entropy_with_logits(real_scores, labels)" in row.note


class _RaisingGP(Regularizer):
    name, player = "gradient_penalty", "D"

    def penalty(self, batch):
        raise RuntimeError("no interpolates today")


def test_a_raising_family_names_the_claim_it_was_checking(fresh_pm, helpers):
    # penalty_placement's first claim is r1-real-only; a WGAN-GP penalty that raises must
    # be reported against the claim whose check raised.
    fresh_pm.add_plugin(helpers.plugin(ganlab_regularizer=lambda: _RaisingGP(),
                                       ganlab_claims=lambda: C.GradientPenalty(weight=10.0)), "gp-boom", source="test")
    report = verify(fresh_pm, ["gp-boom"])
    failed = {r.claim for r in report.results if r.status == C.FAIL}
    assert "wgan-gp-interpolates" in failed and "wgan-gp-penalty" in failed
    assert "r1-real-only" not in failed
    assert all("no interpolates today" in r.note for r in report.results if r.status == C.FAIL)


def test_a_declared_claim_whose_premise_the_code_contradicts_fails(fresh_pm, helpers):
    # A per-score generator gradient declared for a g_loss that reads the real scores.
    fresh_pm.add_plugin(helpers.plugin(
        ganlab_d_loss=lambda real_scores, fake_scores: (fake_scores - real_scores).mean(),
        ganlab_g_loss=lambda fake_scores, real_scores: (real_scores.mean() - fake_scores).mean(),
        ganlab_claims=lambda: C.GeneratorGradient(lambda l: -np.ones_like(l), False, "-1", "claimed")),
        "premise", source="test")
    row = next(r for r in verify(fresh_pm, ["premise"]).results if r.claim == "saturation")
    assert row.status == C.FAIL and "depends on the real scores" in row.note


def test_device_index_minus_one_is_the_cpu(fresh_pm, helpers):
    def d_loss(real_scores, fake_scores):
        ones = torch.ones(real_scores.shape[0], device=real_scores.get_device(), dtype=real_scores.dtype)
        return torch.nn.functional.binary_cross_entropy_with_logits(real_scores, ones) + fake_scores.exp().mean()

    fresh_pm.add_plugin(helpers.plugin(ganlab_d_loss=d_loss), "gpu-style", source="test")
    probe = LossProbe(fresh_pm, ["gpu-style"])
    value = probe.d_loss(torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    assert float(value) == np.log(2) + 1.0 and not probe.precision.reduced


def test_penalties_with_running_statistics_are_not_judged_per_sample(fresh_pm):
    rows = [r for r in verify(fresh_pm, ["lecam"]).results if r.claim == "penalty-per-sample"]
    assert rows and all(r.status == C.NA and "running statistics" in r.note for r in rows)


def test_numpy_draws_are_seeded_and_restored(fresh_pm):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    import corpus

    entry = next(e for e in corpus.entries() if e.name == "numpy-alpha-gp")
    fresh_pm.add_plugin(entry.module, entry.name, source="test")
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = [r.measured for r in verify(fresh_pm, [entry.name]).results]
    assert np.random.random() == expected_next  # the caller's generator is untouched
    assert [r.measured for r in verify(fresh_pm, [entry.name]).results] == first  # and verify is repeatable

"""One training step: what it aggregates, and what it never does on a step that does not log."""

from __future__ import annotations

import pytest
import torch

from ganlab.stepstats import all_finite as _all_finite


def test_step_stats_average_every_critic_update(run_tiny):
    trainer = run_tiny(["wgan-gp"], data="ring", options={"data": {"toy_samples": "256"}},
                       train={"n_critic": 3}, fit=False)
    seen = []
    original = trainer.d_update

    def recording(measure=False):
        update = original(measure)
        seen.append(update)
        return update

    trainer.d_update = recording
    stats = trainer.train_step(log=True)
    assert len(seen) == 3
    # Each critic update counts, not only the last one (which the old trainer kept).
    assert torch.allclose(stats.d_loss, torch.stack([u.loss for u in seen]).mean())
    gp = torch.stack([u.penalties["gradient_penalty"] for u in seen])
    assert torch.allclose(stats.penalties["gradient_penalty"], gp.mean())
    assert len(set(gp.tolist())) == 3  # three different batches, so an average differs from the last value
    assert torch.allclose(stats.real_score, torch.stack([u.real_score for u in seen]).mean())
    row = stats.values()
    assert set(row) >= {"d_loss", "g_loss", "penalty/gradient_penalty", "real_score", "fake_score",
                        "grad_norm_d", "grad_norm_g"}
    assert all(isinstance(v, float) for v in row.values())


def test_a_step_that_does_not_log_measures_no_gradient_norm(run_tiny):
    trainer = run_tiny(["lsgan"], data="ring", options={"data": {"toy_samples": "256"}}, fit=False)
    stats = trainer.train_step(log=False)
    assert stats.grad_norm_d is None and stats.grad_norm_g is None
    assert stats.values()["grad_norm_d"] is None


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_finiteness_check_sees_any_non_finite_entry(bad):
    tensors = [torch.randn(5, 7), torch.randn(3), torch.zeros(0)]
    assert _all_finite(tensors)
    tensors[0][4, 6] = bad
    assert not _all_finite(tensors)
    assert _all_finite([torch.full((3,), 3e38)])  # huge but finite is not divergence

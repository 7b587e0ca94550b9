"""The gan plugin: BCE on raw scores against closed forms computed by hand with plain math.

With σ(t) = 1 / (1 + e^-t):
    -log σ(t)     = softplus(-t) = log(1 + e^-t)
    -log(1 - σ(t)) = softplus(t)  = log(1 + e^t)
so d_loss = mean softplus(-real) + mean softplus(fake), the non-saturating
g_loss = mean softplus(-fake) and the minimax g_loss = -mean softplus(fake).
"""

from __future__ import annotations

import math

import pytest
import torch

from ganlab.errors import ConfigError

# float64 scores: a few operations per term, each off by at most 2^-53 ≈ 1.1e-16
# relative, so 1e-12 leaves room for every sum here and still catches any wrong term.
REL64 = 1e-12
REAL = [1.5, -0.25, 3.0, 0.0]
FAKE = [-2.0, 0.75, -0.5]  # a different batch size, as the hookspec allows


def softplus(t: float) -> float:
    """log(1 + e^t), written so that e^t never overflows."""
    return max(t, 0.0) + math.log1p(math.exp(-abs(t)))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def losses(pm, generator_loss=None):
    sel = pm.select(["gan"])
    opts = sel.build_options({"gan": {"generator_loss": generator_loss}} if generator_loss else {})

    def d(real, fake):
        return sel.hook.ganlab_d_loss(real_scores=real, fake_scores=fake, options=opts)

    def g(fake):
        return sel.hook.ganlab_g_loss(fake_scores=fake, real_scores=None, options=opts)

    return d, g


def t64(values):
    return torch.tensor(values, dtype=torch.float64)


def test_d_loss_is_bce_on_raw_scores(pm):
    d, _ = losses(pm)
    expected = mean(softplus(-r) for r in REAL) + mean(softplus(f) for f in FAKE)
    assert d(t64(REAL), t64(FAKE)).item() == pytest.approx(expected, rel=REL64)


def test_d_loss_at_zero_scores_is_two_log_two(pm):
    # D undecided (σ = 1/2 everywhere): -log(1/2) - log(1/2) = 2 log 2.
    d, _ = losses(pm)
    assert d(t64([0.0, 0.0]), t64([0.0])).item() == pytest.approx(2 * math.log(2), rel=REL64)


def test_non_saturating_g_loss_is_the_default(pm):
    _, g = losses(pm)
    expected = mean(softplus(-f) for f in FAKE)  # -E log σ(D(G(z)))
    assert g(t64(FAKE)).item() == pytest.approx(expected, rel=REL64)
    _, g_named = losses(pm, "non-saturating")
    assert g_named(t64(FAKE)).item() == g(t64(FAKE)).item()


def test_minimax_g_loss(pm):
    _, g = losses(pm, "minimax")
    expected = -mean(softplus(f) for f in FAKE)  # E log(1 - σ(D(G(z))))
    assert g(t64(FAKE)).item() == pytest.approx(expected, rel=REL64)


@pytest.mark.parametrize("generator_loss, grad_of", [
    # d/dt softplus(-t) = σ(t) - 1: near -1 when D rejects the fake (t << 0).
    ("non-saturating", lambda t: sigmoid(t) - 1),
    # d/dt -softplus(t) = -σ(t): vanishes when D rejects the fake (the saturation).
    ("minimax", lambda t: -sigmoid(t)),
])
def test_g_loss_gradients(pm, generator_loss, grad_of):
    _, g = losses(pm, generator_loss)
    fake = t64(FAKE + [-8.0]).requires_grad_(True)
    g(fake).backward()
    expected = [grad_of(t) / len(fake) for t in fake.tolist()]  # the mean divides by n
    assert fake.grad.tolist() == pytest.approx(expected, rel=REL64)


def test_far_scores_stay_finite_through_the_logits(pm):
    # In float32, σ(-200) rounds to 0, so -log σ would be inf; BCE on the logits
    # gives softplus(200) = 200 + log1p(e^-200) = 200 to float32's precision
    # (e^-200 is far below its 2^-24 relative step).
    d, g = losses(pm)
    far = torch.tensor([-200.0])
    assert g(far).item() == pytest.approx(softplus(200.0), rel=1e-6)
    # A confident, right D: 2·softplus(-200) ≈ 2.8e-87, below float32's smallest normal number
    # (1.2e-38), so float32 can only agree to within that.
    assert d(torch.tensor([200.0]), far).item() == pytest.approx(2 * softplus(-200.0), abs=1.2e-38)
    _, minimax = losses(pm, "minimax")
    assert minimax(torch.tensor([200.0])).item() == pytest.approx(-softplus(200.0), rel=1e-6)


def test_unknown_generator_loss_is_rejected(pm):
    with pytest.raises(ConfigError, match="generator_loss"):
        pm.select(["gan"]).build_options({"gan": {"generator_loss": "wasserstein"}})

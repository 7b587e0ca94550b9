"""The lsgan plugin against closed forms computed by hand with plain math:

    d_loss = ½·mean (s(real) - b)² + ½·mean (s(fake) - a)²,   g_loss = ½·mean (s(fake) - c)²

with s the identity, or the sigmoid when ``lsgan.sigmoid`` is on.
"""

from __future__ import annotations

import math

import pytest
import torch

from ganlab.errors import ConfigError

# float64 scores: each term is a handful of operations off by at most 2^-53 ≈ 1.1e-16
# relative, so 1e-12 covers every sum here and still catches a wrong factor or target.
REL64 = 1e-12
REAL = [1.5, -0.25, 3.0, 0.0]
FAKE = [-2.0, 0.75, -0.5]  # a different batch size, as the hookspec allows


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def by_hand(a, b, c, squash=lambda t: t):
    d = 0.5 * mean((squash(r) - b) ** 2 for r in REAL) + 0.5 * mean((squash(f) - a) ** 2 for f in FAKE)
    g = 0.5 * mean((squash(f) - c) ** 2 for f in FAKE)
    return d, g


def losses(pm, **options):
    sel = pm.select(["lsgan"])
    opts = sel.build_options({"lsgan": {k: str(v) for k, v in options.items()}})
    real, fake = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    d = sel.hook.ganlab_d_loss(real_scores=real, fake_scores=fake, options=opts)
    g = sel.hook.ganlab_g_loss(fake_scores=fake, real_scores=None, options=opts)
    return d.item(), g.item()


def test_exact_values_show_the_half_factors(pm):
    # real [1, 3], fake [0, -2], a=0, b=1, c=1:
    # d = ½·mean(0², 2²) + ½·mean(0², 2²) = 1 + 1 = 2;  g = ½·mean(1², 3²) = 2.5.
    # Without the ½ (seed 002's plain MSE) these would be 4 and 5. Exact binary fractions.
    sel = pm.select(["lsgan"])
    opts = sel.build_options()
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert sel.hook.ganlab_d_loss(real_scores=real, fake_scores=fake, options=opts).item() == 2.0
    assert sel.hook.ganlab_g_loss(fake_scores=fake, real_scores=None, options=opts).item() == 2.5


def test_default_coding_is_the_papers_experimental_one(pm):
    assert losses(pm) == pytest.approx(by_hand(0.0, 1.0, 1.0), rel=REL64)


def test_binary_preset_equals_the_default(pm):
    assert losses(pm, preset="binary") == pytest.approx(by_hand(0.0, 1.0, 1.0), rel=REL64)


def test_pearson_preset_codes_minus_one_one_zero(pm):
    # b - c = 1 and b - a = 2: the Pearson chi-square coding.
    assert losses(pm, preset="pearson") == pytest.approx(by_hand(-1.0, 1.0, 0.0), rel=REL64)


def test_custom_targets(pm):
    assert losses(pm, a=-0.5, b=2.0, c=0.25) == pytest.approx(by_hand(-0.5, 2.0, 0.25), rel=REL64)


def test_sigmoid_squashes_scores_first(pm):
    # Targets inside (0, 1), which σ can reach, so the option has nothing to warn about.
    got = losses(pm, a=0.2, b=0.8, c=0.7, sigmoid="true")
    assert got == pytest.approx(by_hand(0.2, 0.8, 0.7, sigmoid), rel=REL64)
    assert got != pytest.approx(by_hand(0.2, 0.8, 0.7), rel=1e-3)  # and differs from raw scores


@pytest.mark.filterwarnings("ignore::UserWarning")  # σ reaches 0 and 1 only in the limit
def test_sigmoid_with_seed_000s_targets(pm):
    assert losses(pm, sigmoid="true") == pytest.approx(by_hand(0.0, 1.0, 1.0, sigmoid), rel=REL64)


def test_d_loss_is_zero_on_target_and_g_loss_is_zero_at_c(pm):
    sel = pm.select(["lsgan"])
    opts = sel.build_options({"lsgan": {"preset": "pearson"}})
    on_target = sel.hook.ganlab_d_loss(real_scores=torch.ones(3), fake_scores=-torch.ones(2), options=opts)
    assert on_target.item() == 0.0
    assert sel.hook.ganlab_g_loss(fake_scores=torch.zeros(2), real_scores=None, options=opts).item() == 0.0


def test_gradients_are_linear_in_the_distance_to_the_target(pm):
    # d/df ½·mean (f - c)² = (f - c)/n: no saturation far from c, unlike BCE.
    sel = pm.select(["lsgan"])
    opts = sel.build_options({"lsgan": {"c": "0.5"}})
    fake = torch.tensor([-10.0, 0.5, 2.0], dtype=torch.float64, requires_grad=True)
    sel.hook.ganlab_g_loss(fake_scores=fake, real_scores=None, options=opts).backward()
    assert fake.grad.tolist() == pytest.approx([(f - 0.5) / 3 for f in (-10.0, 0.5, 2.0)], rel=REL64)


def test_preset_with_explicit_targets_is_rejected(pm):
    with pytest.raises(ConfigError):
        pm.select(["lsgan"]).build_options({"lsgan": {"preset": "pearson", "a": "-2"}})

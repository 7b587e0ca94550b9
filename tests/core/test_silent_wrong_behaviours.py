"""Eight deliberate bugs that once survived the suite, each with a test that fails while it is in place.

A mutation audit put 49 bugs into ganlab; these eight passed the tests of the
modules they touched. Each test below computes its reference independently
(numpy or scipy, or a hand-written gradient), never with the code under test,
and was checked by putting its bug in by hand once.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from ganlab.metrics import frechet_distance, kernel_distance


# -- 1, 2. DiffAugment -----------------------------------------------------------------


def test_diffaugment_augments_reals_and_fakes_in_both_updates(run_tiny, monkeypatch):
    """Bug: only the reals augmented, the fakes scored by the inner D."""
    import ganlab.plugins.diffaugment as plugin

    made = []
    original = plugin.A.augment

    def tagged(x, policy):
        out = original(x, policy)
        made.append(out)
        return out

    monkeypatch.setattr(plugin.A, "augment", tagged)
    trainer = run_tiny(["diffaugment"], options={"diffaugment": {"policy": "translation"}}, fit=False)
    seen = []
    trainer.D.inner.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    trainer.fit()
    assert len(seen) >= 3 * trainer.train.steps  # D's reals and fakes, G's fakes, every step
    assert all(any(x is m for m in made) for x in seen), "the inner D scored an image that was not augmented"


def test_diffaugment_gradient_is_the_translation_s_own(monkeypatch):
    """Bug: straight-through augmentation (forward T(x), backward the identity)."""
    from ganlab.plugins.diffaugment import AugmentedDiscriminator

    n, c, h, w = 3, 2, 8, 8
    x = torch.arange(n * c * h * w, dtype=torch.float64).reshape(n, c, h, w).add_(1).requires_grad_(True)
    weights = torch.randn(n, c, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    inputs = []

    class Inner(torch.nn.Module):
        def forward(self, y, labels=None):
            inputs.append(y.detach())
            return (y * weights).flatten(1).sum(1)

    torch.manual_seed(3)
    AugmentedDiscriminator(Inner(), ["translation"]).train()(x).sum().backward()
    # A translation with zero padding copies input values (all distinct and non-zero here) to
    # output positions: read off where each output came from and scatter the weights back.
    out, src = inputs[0].numpy(), x.detach().numpy()
    where = {value: idx for idx, value in np.ndenumerate(src)}
    expected = np.zeros_like(src)
    for idx, value in np.ndenumerate(out):
        if value != 0:
            expected[where[value]] += weights.numpy()[idx]
    assert not np.allclose(out, src)  # the draw moved something
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=0, atol=1e-12)


# -- 3. DRAGAN ------------------------------------------------------------------------------


def test_dragan_perturbation_scales_with_the_data_spread():
    """Bug: the perturbation not scaled by std(x)."""
    from ganlab.plugins.dragan import perturb

    x = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    moves = []
    for spread in (1.0, 100.0):
        torch.manual_seed(0)
        moves.append((perturb(x * spread) - x * spread).abs().max().item())
    # Same draws, data 100 times as spread: δ = c·std(x)·U is 100 times as large.
    assert moves[1] / moves[0] == pytest.approx(100.0, rel=1e-12)


# -- 4, 5. FD and KID against numpy/scipy -----------------------------------------------------------


def test_frechet_distance_uses_sample_covariances():
    """Bug: population covariances (ddof 0). With 12 samples in 3 dimensions the two differ by 12/11."""
    g = np.random.default_rng(0)
    a, b = g.normal(size=(12, 3)), g.normal(size=(12, 3)) * 2 + 1

    def fd(ddof):
        ca, cb = np.cov(a, rowvar=False, ddof=ddof), np.cov(b, rowvar=False, ddof=ddof)
        root = linalg.sqrtm(ca @ cb).real
        return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * root))

    got = frechet_distance(torch.tensor(a), torch.tensor(b))
    assert got == pytest.approx(fd(1), rel=1e-6)
    assert abs(fd(1) - fd(0)) > 1e3 * 1e-6 * fd(1)  # the test can tell the two apart


def test_kid_uses_the_cubic_kernel():
    """Bug: a quadratic kernel. The mean over random subsets of the unbiased MMD² estimate is an unbiased
    estimate of the full-sample one, so many subsets must agree with it within their standard error."""
    g = np.random.default_rng(1)
    d = 4
    a, b = g.normal(size=(40, d)), g.normal(size=(40, d)) * 1.5 + 0.5

    def mmd(power):
        k = lambda u, v: (u @ v.T / d + 1) ** power  # noqa: E731
        kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
        m = len(a)
        return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
                     - 2 * kab.mean())

    subsets = 2000
    mean, std = kernel_distance(torch.tensor(a), torch.tensor(b), subsets=subsets, subset_size=20)
    # float32 features inside torchmetrics: 1e-5 relative on top of five standard errors.
    tolerance = 5 * std / np.sqrt(subsets) + 1e-5 * abs(mmd(3))
    assert abs(mean - mmd(3)) <= tolerance
    assert abs(mean - mmd(2)) > tolerance  # the quadratic kernel is far outside it


# -- 6. conditional runs: each real is scored with its own label ------------------------------------


def test_reals_are_scored_with_their_own_labels(run_tiny):
    """Bug: the trainer scoring reals with the labels rolled by one."""
    trainer = run_tiny(["cgan"], fit=False)
    data = trainer.batcher.loaded.to_model_range(trainer.batcher.data)
    label_of = {row.numpy().tobytes(): int(y) for row, y in zip(data.flatten(1), trainer.batcher.labels)}
    calls = []
    trainer.D.register_forward_pre_hook(lambda module, args: calls.append((args[0].detach(), args[1])))
    trainer.fit()
    checked = 0
    for x, labels in calls:
        for row, y in zip(x.flatten(1), labels):
            true = label_of.get(row.numpy().tobytes())
            if true is not None:  # a real sample (fakes match no dataset row)
                assert int(y) == true
                checked += 1
    assert checked >= trainer.train.steps * trainer.train.batch_size


# -- 7, 8. the command line ----------------------------------------------------------------------


def test_a_repeated_option_keeps_its_last_value(tmp_path, monkeypatch):
    """Bug: a repeated -o PLUGIN.KEY keeping its first value (the README says the last wins)."""
    from ganlab.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["run", "--plugin", "lsgan", "--data", "ring", "--steps", "1", "--batch-size", "8", "--quiet",
            "-o", "mlp.g_hidden=8", "-o", "mlp.d_hidden=8", "-o", "lsgan.c=0.25", "-o", "lsgan.c=0.75"]
    assert main([*args, "--out", "r"]) == 0
    assert "c = 0.75" in (tmp_path / "r" / "config.toml").read_text()


def test_g_lr_alone_leaves_d_at_lr(run_tiny):
    """Bug: --g-lr also reaching D when --d-lr is not set."""
    trainer = run_tiny(["lsgan"], train={"g_lr": 5e-5, "lr": 3e-4}, fit=False)
    assert trainer.opt_g.param_groups[0]["lr"] == 5e-5
    assert trainer.opt_d.param_groups[0]["lr"] == 3e-4

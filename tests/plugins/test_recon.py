"""Seed 000's L1 reconstruction term: value, label pairing, gradients, training."""

import json
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ganlab.errors import ConfigError
from ganlab.plugins import recon
from ganlab.regularizers import PenaltyBatch

TINY_DCGAN = {"dcgan": {"ngf": "4", "ndf": "4"}}


def closed_form(fake, real, pairs, weight):
    """weight * mean |fake_i - real_j| over the pairs and all pixels, element by element."""
    total, count = 0.0, 0
    for i, j in pairs:
        for a, b in zip(fake[i].flatten().tolist(), real[j].flatten().tolist()):
            total += abs(a - b)
            count += 1
    return weight * total / count


def test_unconditional_pairs_by_index():
    fake = torch.arange(12, dtype=torch.float64).reshape(3, 1, 2, 2) / 10
    real = torch.tensor([-1.0, 0.5, 1.0], dtype=torch.float64)[:, None, None, None].expand(3, 1, 2, 2)
    value = recon.l1_penalty(fake, real, weight=0.05)
    expected = closed_form(fake, real, [(0, 0), (1, 1), (2, 2)], 0.05)
    assert float(value) == pytest.approx(expected, rel=1e-12)  # float64 sums of 12 terms


def test_default_weight_is_seed_000s():
    assert recon.ReconOptions().weight == 0.05


def test_conditional_pairs_by_label():
    fake_labels = torch.tensor([0, 1, 0, 2, 0])
    real_labels = torch.tensor([1, 0, 0, 1])
    # By the rule "the k-th fake of class y takes the (k mod n_y)-th real of
    # class y": reals of class 0 are 1, 2 and of class 1 are 0, 3; fake 3
    # (class 2) has no real partner and is skipped.
    fake_idx, real_idx = recon.pair_by_label(fake_labels, real_labels)
    pairs = list(zip(fake_idx.tolist(), real_idx.tolist()))
    assert pairs == [(0, 1), (1, 0), (2, 2), (4, 1)]

    fake = torch.linspace(-1, 1, 5 * 3, dtype=torch.float64).reshape(5, 3)
    real = torch.tensor([[0.3], [-0.7], [0.9], [0.1]], dtype=torch.float64).expand(4, 3)
    value = recon.l1_penalty(fake, real, fake_labels, real_labels, weight=0.5)
    assert float(value) == pytest.approx(closed_form(fake, real, pairs, 0.5), rel=1e-12)


@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=16),
    st.lists(st.integers(0, 4), min_size=1, max_size=16),
)
def test_pairing_properties(fake_list, real_list):
    fake_labels, real_labels = torch.tensor(fake_list), torch.tensor(real_list)
    fake_idx, real_idx = recon.pair_by_label(fake_labels, real_labels)
    assert (fake_labels[fake_idx] == real_labels[real_idx]).all()
    kept = {i for i, y in enumerate(fake_list) if y in real_list}
    assert sorted(fake_idx.tolist()) == sorted(kept)  # skipped exactly when the class is absent
    for y in set(fake_list) & set(real_list):
        # The reals of a class are used in turn: their use counts differ by at most one.
        uses = [int((real_idx == j).sum()) for j, r in enumerate(real_list) if r == y]
        assert max(uses) - min(uses) <= 1


def test_no_partner_gives_zero():
    fake = torch.ones(2, 3, requires_grad=True)
    value = recon.l1_penalty(fake, torch.zeros(2, 3), torch.tensor([0, 0]), torch.tensor([1, 1]))
    assert float(value) == 0.0


@pytest.mark.parametrize("plugins", [["recon"], ["recon", "cgan"]])
def test_gradient_reaches_generator_only(run_tiny, plugins):
    trainer = run_tiny(plugins, fit=False)
    (reg,) = trainer.setup.regularizers
    assert reg.player == "G" and reg.name == "recon"
    G, D = trainer.G, trainer.D
    real, real_labels = trainer.batcher.next()
    real.requires_grad_(True)
    z = torch.randn(len(real), trainer.setup.train.latent_dim)
    fake_labels = torch.randint(10, (len(real),)) if real_labels is not None else None
    fake = G(z) if fake_labels is None else G(z, fake_labels)
    batch = PenaltyBatch(real=real, fake=fake, real_labels=real_labels, fake_labels=fake_labels,
                         fake_scores=torch.zeros(len(real)), discriminator=D, generator=G)
    value = reg.penalty(batch)
    assert value.shape == () and value > 0
    value.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters() if p.ndim > 1)
    assert all(p.grad is None for p in D.parameters())
    assert real.grad is None  # the real images are targets, not variables


@pytest.mark.parametrize(
    "plugins, data",
    [(["recon"], "mnist-embedded"), (["recon", "cgan"], "mnist-embedded"), (["recon"], "ring")],
)
def test_trains_and_logs_penalty(run_tiny, plugins, data):
    trainer = run_tiny(plugins, data=data, options=TINY_DCGAN, train={"steps": 2})
    rows = [json.loads(l) for l in trainer.folder.metrics.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert math.isfinite(r["g_loss"]) and math.isfinite(r["d_loss"])
        assert r["penalty/recon"] > 0
        if data != "ring":  # images lie in [-1, 1], so |fake - real| <= 2
            assert r["penalty/recon"] <= 0.05 * 2


def test_negative_weight_is_rejected(run_tiny):
    with pytest.raises(ConfigError, match="weight"):
        run_tiny(["recon"], options={"recon": {"weight": "-1"}}, fit=False)

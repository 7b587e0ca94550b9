"""BEGAN: the energy score, k_t's control law by hand, verify failing wrong controllers, training."""

from __future__ import annotations

import types

import pytest
import torch

from ganlab import hookimpl
from ganlab.analysis import claims as C
from ganlab.analysis.suite import verify
from ganlab.errors import ConfigError
from ganlab.options import defaults_for
from ganlab.plugins import began
from ganlab.regularizers import PenaltyBatch


def _batch(real, fake, with_real=True):
    real = torch.tensor(real, requires_grad=True)
    fake = torch.tensor(fake, requires_grad=True)
    return PenaltyBatch(real=real.detach()[:, None], fake=fake.detach()[:, None],
                        real_scores=real if with_real else None, fake_scores=fake,
                        discriminator=lambda x, labels=None: x), real, fake


def test_score_is_the_negated_reconstruction_error():
    torch.manual_seed(0)
    opts = defaults_for(began.BEGANOptions)[began.BEGANOptions]
    for norm in (1, 2):
        opts.norm = norm
        d = began.EnergyAutoencoder((1, 4, 4), opts)
        x = torch.randn(5, 1, 4, 4)
        recon = d.decoder(d.encoder(x.flatten(1)))
        want = -((x.flatten(1) - recon).abs() ** norm).mean(dim=1, keepdim=True)
        assert torch.allclose(d(x), want, rtol=0, atol=1e-6)
        assert d(x).shape == (5, 1) and (d(x) <= 0).all()


def test_control_law_by_hand():
    reg = began.EquilibriumControl(gamma=0.5, lambda_k=0.01, k0=0.2)
    # energies L(x) = 3, L(G(z)) = 1: term = -0.2·1, then k = 0.2 + 0.01·(1.5 - 1) = 0.205
    batch, _, fake = _batch([-2.0, -4.0], [-0.5, -1.5])
    term = reg.penalty(batch)
    assert term.item() == pytest.approx(-0.2)
    assert torch.autograd.grad(term, fake)[0].tolist() == pytest.approx([0.1, 0.1])  # k/B: fakes pushed down
    assert float(reg.state_dict()["k"]) == pytest.approx(0.205)
    # at the equilibrium L(G(z)) = γ·L(x) k stays; far from it k clips to [0, 1]
    reg.penalty(_batch([-4.0], [-2.0])[0])
    assert float(reg.state_dict()["k"]) == pytest.approx(0.205)
    reg.penalty(_batch([-1000.0], [0.0])[0])
    assert float(reg.state_dict()["k"]) == 1.0
    reg.penalty(_batch([0.0], [-1000.0])[0])
    assert float(reg.state_dict()["k"]) == 0.0
    # a batch without real scores (not a D update) uses k but does not step it
    reg.load_state_dict({"k": torch.tensor(0.5)})
    assert reg.penalty(_batch([0.0], [-2.0], with_real=False)[0]).item() == pytest.approx(-1.0)
    assert float(reg.state_dict()["k"]) == 0.5


def test_losses_are_the_energies():
    real, fake = torch.tensor([-1.0, -3.0]), torch.tensor([-0.5, -0.25])
    assert began.ganlab_d_loss(real, fake).item() == pytest.approx(2.0)
    assert began.ganlab_g_loss(fake).item() == pytest.approx(0.375)


@pytest.mark.parametrize("value", [{"gamma": 0.0}, {"gamma": 1.5}, {"lambda_k": 0.0}, {"k0": 2.0}, {"norm": 3},
                                   {"hidden": ()}, {"embedding": 0}])
def test_bad_options_are_rejected(value):
    with pytest.raises(ValueError):
        began.BEGANOptions(**value)


class _SignFlipped(began.EquilibriumControl):
    def penalty(self, batch):
        return -super().penalty(batch)  # +k·L(G(z)): D pulls fakes' energy down


class _WrongStep(began.EquilibriumControl):
    def penalty(self, batch):
        k_before = torch.as_tensor(self.k)
        term = super().penalty(batch)
        self.k = torch.clamp(2 * k_before - self.k, 0, 1)  # the step taken with the opposite sign
        return term


class _Unclipped(began.EquilibriumControl):
    def penalty(self, batch):
        k_before = torch.as_tensor(self.k, dtype=torch.float32)
        term = -k_before * -batch.fake_scores.float().mean()
        real_e, fake_e = -batch.real_scores.detach().float().mean(), -batch.fake_scores.detach().float().mean()
        self.k = k_before + self.lambda_k * (self.gamma * real_e - fake_e)
        return term


def _wrong_began(reg_cls):
    module = types.ModuleType("wrong_began")
    for name in ("ganlab_options", "ganlab_d_loss", "ganlab_g_loss", "ganlab_claims", "ganlab_discriminator"):
        setattr(module, name, getattr(began, name))  # already marked as hook implementations

    def ganlab_regularizer(options):
        o = options[began.BEGANOptions]
        return reg_cls(o.gamma, o.lambda_k, o.k0)
    module.ganlab_regularizer = hookimpl(ganlab_regularizer)
    return module


def test_the_builtin_passes_verify(pm):
    report = verify(pm, ["began"])
    assert report.ok, [(r.claim, r.note) for r in report.results if r.status == C.FAIL]
    row = next(r for r in report.results if r.claim == "began-control")
    assert row.status == C.PASS and min(row.data["k"]) == 0 and max(row.data["k"]) == pytest.approx(1)


@pytest.mark.parametrize("reg_cls", [_SignFlipped, _WrongStep, _Unclipped])
def test_verify_fails_a_wrong_controller(pm, reg_cls):
    pm.add_plugin(_wrong_began(reg_cls), "wrong-began", source="test")
    report = verify(pm, ["wrong-began"])
    row = next(r for r in report.results if r.claim == "began-control")
    assert row.status == C.FAIL, row.measured


def test_conditioning_is_refused_with_a_fix(run_tiny):
    with pytest.raises(ConfigError, match="drop the conditioner plugin"):
        run_tiny(["began", "cgan"], fit=False)


@pytest.mark.parametrize("data", ["ring", "mnist-embedded"])
def test_trains_and_k_moves(run_tiny, data):
    trainer = run_tiny(["began"], data=data, options={"began": {"lambda_k": "0.05", "k0": "0.5"}},
                       train={"steps": 4})
    reg = next(r for r in trainer.d_regs if r.name == "began")
    k = float(reg.state_dict()["k"])
    assert 0 <= k <= 1 and k != 0.5  # four controlled steps moved it
    assert trainer.step == 4

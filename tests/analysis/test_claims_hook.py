"""The ganlab_claims hook: a tiny test plugin declares closed forms; verify checks them."""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from ganlab.analysis import claims as C
from ganlab.analysis.densities import jsd
from ganlab.analysis.probe import LossProbe
from ganlab.analysis.suite import verify


def _double_bce(real_scores, fake_scores):
    """Twice the GAN discriminator loss: same D*, twice the criterion."""
    return 2 * (F.binary_cross_entropy_with_logits(real_scores, real_scores.new_ones(real_scores.shape))
                + F.binary_cross_entropy_with_logits(fake_scores, fake_scores.new_zeros(fake_scores.shape)))


def _g(fake_scores):
    return F.binary_cross_entropy_with_logits(fake_scores, fake_scores.new_ones(fake_scores.shape))


def _claims(factor):
    def ganlab_claims(options):
        return [
            C.OptimalDiscriminator(lambda pd, pg: np.log(pd / pg), "t* = log r", "scaling keeps the argmin"),
            C.Criterion(lambda p, q: factor * (-np.log(4) + 2 * jsd(p, q)), "d", f"{factor}(-log 4 + 2 JSD)",
                        "twice Goodfellow's V", minimum_at_equal=True),
        ]
    return ganlab_claims


def test_declared_claims_are_collected_and_checked(fresh_pm, helpers):
    info = fresh_pm.add_plugin(helpers.plugin(ganlab_d_loss=_double_bce, ganlab_g_loss=_g,
                                              ganlab_claims=_claims(2)), "double-gan", source="test")
    assert "ganlab_claims" in info.hooks
    probe = LossProbe(fresh_pm, ["double-gan"])
    kinds = {type(c) for c in probe.declarations()}
    assert kinds == {C.OptimalDiscriminator, C.Criterion}
    report = verify(fresh_pm, ["double-gan"])
    status = {r.claim: r.status for r in report.results}
    assert status["optimal-d"] == C.PASS and status["criterion"] == C.PASS and status["criterion-min"] == C.PASS
    assert status["saturation"] == C.INFO  # declared nothing about G: measured, shown, not passed


def test_a_wrong_declaration_fails(fresh_pm, helpers):
    fresh_pm.add_plugin(helpers.plugin(ganlab_d_loss=_double_bce, ganlab_g_loss=_g, ganlab_claims=_claims(1)),
                        "mislabelled", source="test")
    status = {r.claim: r.status for r in verify(fresh_pm, ["mislabelled"]).results}
    assert status["criterion"] == C.FAIL  # C(G) is twice what it claims
    assert status["optimal-d"] == C.PASS


def test_every_builtin_loss_declares_its_claims(fresh_pm):
    for name in ("gan", "lsgan", "wgan", "hinge", "wgan-gp"):
        assert LossProbe(fresh_pm, [name]).declarations(), name


def test_a_plugin_declares_the_variants_verify_checks(fresh_pm, helpers):
    from dataclasses import dataclass

    from ganlab.analysis.suite import verify

    @dataclass
    class Opts:
        scale: float = 1.0

    def d_loss(real_scores, fake_scores, options):
        s = options[Opts].scale
        return s * (F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean())

    fresh_pm.add_plugin(helpers.plugin(ganlab_options=lambda: Opts, ganlab_d_loss=d_loss,
                                       ganlab_verify_variants=lambda: [{}, {"scale": "2"}]), "scaled", source="test")
    labels = {r.plugin for r in verify(fresh_pm, ["scaled"]).results}
    assert {"scaled", "scaled[scale=2]"} <= labels
    # -o replaces the declared variants
    labels = {r.plugin for r in verify(fresh_pm, ["scaled"], {"scaled": {"scale": "3"}}).results}
    assert labels == {"scaled[scale=3]"}


def test_malformed_variants_are_a_plugin_error(fresh_pm, helpers):
    import pytest

    from ganlab.analysis.suite import verify
    from ganlab.errors import PluginError

    fresh_pm.add_plugin(helpers.plugin(ganlab_d_loss=lambda real_scores, fake_scores: fake_scores.mean()
                                       - real_scores.mean(), ganlab_verify_variants=lambda: ["scale=2"]),
                        "bad-variants", source="test")
    with pytest.raises(PluginError, match="list of option mappings"):
        verify(fresh_pm, ["bad-variants"])

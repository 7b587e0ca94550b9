"""ganlab-ragan checks itself with ganlab's conformance kit.

Run after installing the package: ``pip install ./examples/ganlab-ragan``,
then ``pytest examples/ganlab-ragan/tests``.
"""

import math

import pytest
import torch

import ganlab_ragan
from ganlab import defaults_for
from ganlab.testing import assert_plugin_conforms, check_plugin


def test_ragan_conforms():
    assert_plugin_conforms(ganlab_ragan, name="ragan")


def test_installed_entry_point_conforms():
    # The name users type (ganlab run --plugin ragan) resolves to this package.
    results = assert_plugin_conforms("ragan")
    assert any(r.check == "d_loss.sign" and r.passed for r in results)


def test_scale_option_is_checked_too():
    results = check_plugin(ganlab_ragan, name="ragan", options={"ragan": {"scale": "0.5"}})
    assert not [r for r in results if r.failed]


def test_d_loss_closed_form():
    # real [1, 3] (mean 2), fake [0, -2] (mean -1). D's logits: real - mean(fake) = (2, 4) with
    # target 1, fake - mean(real) = (-2, -4) with target 0; both BCE terms are
    # mean(log(1 + e^-2), log(1 + e^-4)), so the loss is log(1 + e^-2) + log(1 + e^-4).
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    expected = math.log1p(math.exp(-2)) + math.log1p(math.exp(-4))
    got = ganlab_ragan.ganlab_d_loss(real_scores=real, fake_scores=fake, options=defaults_for(ganlab_ragan.RaGANOptions))
    assert got.item() == pytest.approx(expected, rel=1e-6)  # float32 rounding of a few operations
